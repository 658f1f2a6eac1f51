"""A finished (or interrupted) run, read back from its result file: :class:`RunResults`.

Every format this emokit has written loads into the current shape, so reports, comparisons and
plots need one code path:

- format 1 (before speaker folds): no budgets, folds or repeats, no statistics. Each cell becomes
  the 100 % budget, fold 0 of 1, the repeat of its seed; per-class recall comes from its confusion
  matrix; the summary is computed from the cells.
- format 2 (folds, budgets, predictions sidecar, run identity): cells have no ``curves``;
  PathNet's fitness by generation is taken from its ``method_info``.
- format 3: training curves per cell (``curves``) and the run's config as a config file holds it
  (``run_config``).
"""

from __future__ import annotations

import copy
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emokit.bench.metrics import METRIC_NAMES
from emokit.bench.results import RESULT_FORMAT, cell_key, load_predictions, load_results, predictions_path
from emokit.bench.summary import MAJORITY, in_run_order, summarise_run

if TYPE_CHECKING:  # pandas is imported when a frame is asked for
    import pandas as pd

FULL_BUDGET = {"label": "100%", "fraction": 1.0, "shots": None}


def load(path: str | Path) -> RunResults:
    """Read the result file ``path`` (any format up to this emokit's) as :class:`RunResults`.

    Raises:
        ResultFileError: not an emokit result file, truncated, or of a newer format; the message
            names the file.
    """
    path = Path(path)
    data = load_results(path)
    return RunResults(path, data)


class RunResults:
    """One run's result file, in the current format whatever format it was written in.

    Attributes:
        path: the result file.
        format: the format the file was written in (1, 2 or 3).
        data: the file's content, upgraded to the current format (a copy: the file is untouched).
    """

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = Path(path)
        self.format: int = int(data.get("format", 1))
        self.data = upgrade(data)

    def __repr__(self) -> str:
        return f"RunResults({str(self.path)!r}, format {self.format}, {len(self.cells)} cells, {self.status})"

    # -- what the file records -----------------------------------------------------------------
    @property
    def status(self) -> str:
        """``complete``, ``interrupted``, ``failed`` or ``running`` (``unknown`` for format 1)."""
        return str(self.data.get("status", "unknown"))

    @property
    def config(self) -> dict[str, Any]:
        """The run's config as the runner recorded it (methods, experiments, seeds, folds...)."""
        return self.data.get("config", {})

    @property
    def identity(self) -> dict[str, Any] | None:
        """What makes the run's numbers what they are (typed options, corpora fingerprints...)."""
        return self.data.get("identity")

    @property
    def cells(self) -> list[dict[str, Any]]:
        """Every recorded cell, failed ones included (``status == "failed"``)."""
        return self.data["cells"]

    @property
    def ok_cells(self) -> list[dict[str, Any]]:
        """The cells that finished."""
        return [c for c in self.cells if c.get("status", "ok") == "ok"]

    @property
    def methods(self) -> list[str]:
        """The run's methods, in the config's order (then any other method its cells hold)."""
        named = list(self.config.get("methods") or [])
        return list(dict.fromkeys([*named, *(c["method"] for c in self.cells)]))

    @property
    def reference(self) -> str | None:
        """The method the summary compares every other with, if any."""
        if "reference" in self.config:
            return self.config["reference"]
        return "target-only" if "target-only" in self.methods else None

    @property
    def run_config(self) -> dict[str, Any]:
        """The run as a config file holds it (``emokit config`` prints it, ``--rerun`` runs it):
        the file's own ``run_config`` (format 3), else made from its config and identity."""
        recorded = self.data.get("run_config")
        if recorded:
            return recorded
        from emokit.results.config import run_config_of

        return run_config_of(self.config, self.identity)

    @cached_property
    def predictions(self) -> dict[tuple, dict[str, Any]]:
        """The predictions sidecar by :func:`cell_key` (empty when the run stored none)."""
        return load_predictions(self.path)

    @property
    def has_predictions(self) -> bool:
        """Whether the run stored per-utterance predictions (format 2 and later, sidecar present)."""
        return predictions_path(self.path).is_file()

    @cached_property
    def summary(self) -> list[dict[str, Any]]:
        """One row per (experiment, budget, method): the file's own summary when the run finished
        and wrote one, else computed from the cells (an interrupted run, format 1)."""
        stored = self.data.get("summary")
        if stored and self.format >= 2 and self.status == "complete":
            return stored
        return summarise_run(self.cells_in_run_order(), self.predictions, reference=self.reference)

    def cells_in_run_order(self) -> list[dict[str, Any]]:
        """The cells in the config's order (experiment, budget, method, fold, repeat), whatever
        order they finished in."""
        budgets = [b.get("label") for b in self.config.get("budgets", [])]
        return in_run_order(self.cells, self.config.get("experiments", []), budgets, self.methods)

    @property
    def failed_cells(self) -> list[dict[str, Any]]:
        return [c for c in self.cells if c.get("status") == "failed"]

    def cell(self, key: tuple) -> dict[str, Any] | None:
        """The cell with this :func:`emokit.bench.results.cell_key`, if recorded."""
        return next((c for c in self.cells if cell_key(c) == key), None)

    # -- tables ---------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The run as a pandas DataFrame, one row per cell (failed cells with ``status`` "failed"
        and no scores). Columns: the cell's identity (experiment, sources, target, modality,
        features, budget, budget_fraction, budget_shots, method, fold, folds, repeat, seed),
        status, uar, wa, macro_f1, n_test, val_uar, val_on, time_s, within_corpus and
        ``recall_<class>`` per class."""
        import pandas as pd

        return pd.DataFrame([cell_row(c) for c in self.cells], columns=frame_columns(self.cells))


#: the leading columns of :meth:`RunResults.to_frame`, before one ``recall_<class>`` per class
FRAME_COLUMNS = (
    "experiment",
    "sources",
    "target",
    "modality",
    "features",
    "budget",
    "budget_fraction",
    "budget_shots",
    "method",
    "fold",
    "folds",
    "repeat",
    "seed",
    "status",
    *METRIC_NAMES,
    "n_test",
    "val_uar",
    "val_on",
    "time_s",
    "within_corpus",
)


def frame_columns(cells: list[dict[str, Any]]) -> list[str]:
    classes = dict.fromkeys(c for cell in cells for c in cell.get("classes", []))
    return [*FRAME_COLUMNS, *(f"recall_{c}" for c in classes)]


def cell_row(cell: dict[str, Any]) -> dict[str, Any]:
    """One cell as a flat row (see :meth:`RunResults.to_frame`)."""
    budget = cell.get("budget") or FULL_BUDGET
    scores = cell.get("scores") or {}
    validation = cell.get("validation") or {}
    row: dict[str, Any] = {
        "experiment": cell.get("experiment"),
        "sources": "+".join(cell["sources"]),
        "target": cell["target"],
        "modality": cell.get("modality"),
        "features": cell.get("features"),
        "budget": budget.get("label"),
        "budget_fraction": budget.get("fraction"),
        "budget_shots": budget.get("shots"),
        "method": cell["method"],
        "fold": cell.get("fold"),
        "folds": cell.get("folds"),
        "repeat": cell.get("repeat"),
        "seed": cell.get("seed"),
        "status": cell.get("status", "ok"),
        **{metric: scores.get(metric) for metric in METRIC_NAMES},
        "n_test": scores.get("n"),
        "val_uar": validation.get("uar"),
        "val_on": validation.get("on"),
        "time_s": cell.get("time_s"),
        "within_corpus": cell.get("within_corpus"),
    }
    for name, value in (cell.get("per_class_recall") or {}).items():
        row[f"recall_{name}"] = value
    return row


# -- older formats ------------------------------------------------------------------------------
def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a result file's content in the current format (see the module docstring)."""
    data = copy.deepcopy(data)
    version = int(data.get("format", 1))
    if version < 2:
        _upgrade_from_1(data)
    for cell in data["cells"]:
        if "curves" not in cell:
            cell["curves"] = curves_from_method_info(cell.get("method_info") or {})
    data.setdefault("run_config", None)
    data["format"] = RESULT_FORMAT
    return data


def _upgrade_from_1(data: dict[str, Any]) -> None:
    config = data.setdefault("config", {})
    seeds = list(config.get("seeds") or sorted({c.get("seed", 0) for c in data["cells"]}))
    config.setdefault("budgets", [FULL_BUDGET])
    config.setdefault("folds", "1")
    config.setdefault("fold_seed", None)
    config.setdefault("reference", "target-only" if "target-only" in config.get("methods", []) else None)
    data.setdefault("status", "complete")
    data.setdefault("identity", None)
    data.setdefault("corpora", {})
    for cell in data["cells"]:
        seed = cell.get("seed", 0)
        cell.setdefault("experiment", f"{'+'.join(cell['sources'])} -> {cell['target']}")
        cell.setdefault("budget", dict(FULL_BUDGET))
        cell.setdefault("fold", 0)
        cell.setdefault("folds", 1)
        cell.setdefault("repeat", seeds.index(seed) if seed in seeds else 0)
        cell.setdefault("status", "ok")
        cell.setdefault("within_corpus", list(cell["sources"]) == [cell["target"]])
        cell.setdefault("validation", None)
        scores = cell.get("scores") or {}
        if "per_class_recall" not in cell and "confusion" in scores:
            confusion = np.asarray(scores["confusion"], dtype=float)
            totals = confusion.sum(axis=1)
            cell["per_class_recall"] = {
                name: (float(confusion[i, i] / totals[i]) if totals[i] else None)
                for i, name in enumerate(cell.get("classes", []))
            }
    data["summary"] = []  # computed from the cells by RunResults.summary


def curves_from_method_info(info: dict[str, Any]) -> list[dict[str, Any]]:
    """PathNet's fitness by generation, as format 2 recorded it in ``method_info["stages"]``."""
    stages = info.get("stages")
    if not isinstance(stages, dict):
        return []
    curves = []
    for name, stage in stages.items():
        if not isinstance(stage, dict) or "best_fitness_by_generation" not in stage:
            continue
        series = {
            "best_fitness": stage["best_fitness_by_generation"],
            "mean_fitness": stage.get("mean_fitness_by_generation") or [],
        }
        curves.append({"name": name, "x": "generation", "series": {k: v for k, v in series.items() if v}})
    return curves


__all__ = [
    "FRAME_COLUMNS",
    "MAJORITY",
    "RunResults",
    "cell_row",
    "curves_from_method_info",
    "load",
    "upgrade",
]
