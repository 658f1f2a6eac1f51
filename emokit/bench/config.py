"""What a bench run is: its experiments and settings (:class:`BenchConfig`), and what it tells the
user while it runs (:class:`Reporter`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emokit.data.folds import FULL_BUDGET, Budget, FoldScheme
from emokit.suites import Experiment

__all__ = ["BenchConfig", "Experiment", "Reporter"]


@dataclass
class BenchConfig:
    """Everything that determines a bench run (recorded in its result file).

    ``data_options`` are the datasets' options (``--data-option``), ``options`` the methods'
    (``--option``); ``suite`` names the suite the experiments come from, if any. ``seeds`` are the
    repeats' initialisation seeds; ``folds`` and ``fold_seed`` choose the test
    speakers of each cell, and ``split_by`` whether its test sentences too (``speaker+sentence``);
    ``budgets`` the labelled share of the target's training rows. ``label_maps`` are the files
    that replace a corpus's own label map (``--label-map NAME=FILE``).
    """

    methods: list[str]
    experiments: list[Experiment]
    seeds: list[int]
    data_root: Path | None = None
    cache_dir: Path | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    folds: FoldScheme = field(default_factory=lambda: FoldScheme("auto"))
    fold_seed: int = 0
    budgets: list[Budget] = field(default_factory=lambda: [FULL_BUDGET])
    norm: str = "corpus"
    reference: str | None = None
    suite: str | None = None
    split_by: str = "speaker"
    label_maps: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "methods": self.methods,
            "experiments": [e.to_dict() for e in self.experiments],
            "seeds": self.seeds,
            "folds": str(self.folds),
            "fold_seed": self.fold_seed,
            "budgets": [b.to_dict() for b in self.budgets],
            "norm": self.norm,
            "reference": self.reference,
            "data_root": str(self.data_root) if self.data_root else None,
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
            "data_options": self.data_options,
            "options": self.options,
            "suite": self.suite,
            "split_by": self.split_by,
            "label_maps": {name: str(path) for name, path in self.label_maps.items()},
        }


class Reporter:
    """What the runner tells the user. The CLI's rich reporter overrides these; tests use this one."""

    def info(self, message: str) -> None:
        """A line of information (shared classes, corpus sizes)."""

    def warn(self, message: str) -> None:
        """A problem the user should see (skipped files)."""

    def progress(self, description: str, done: int, total: int) -> None:
        """Progress of a long step (generation, feature extraction)."""

    def planned(self, total: int, done: int) -> None:
        """The run holds ``total`` cells, ``done`` of them finished already (a resumed run)."""

    def cell_started(self, experiment: Experiment, seed: int, method: str, *, slot: int = 0) -> None:
        """A cell is about to run (``seed``: its repeat's initialisation seed) in ``slot`` (0, 1, ...:
        which of the cells running at once it is)."""

    def method_progress(
        self, method: str, stage: str, done: int, total: int | None, figures: dict[str, Any], *, slot: int = 0
    ) -> None:
        """A running method's progress (see :meth:`TransferTask.report_progress`)."""

    def cell_finished(self, cell: dict[str, Any], *, slot: int = 0) -> None:
        """A cell finished (or failed: ``cell["status"] == "failed"``); ``cell`` is what the result
        file records."""
