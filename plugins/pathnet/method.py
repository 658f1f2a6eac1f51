"""The ``pathnet`` method: PathNet meta-transfer (:mod:`emokit.pathnet`) as an ``emokit bench`` method.

The sources are learnt in the order given, each freezing its best path, then the target; the
target's best path predicts the target's test speakers. Each task is z-scored with its own training
rows' statistics (the baselines' default). Within-corpus (source = target) evolves on the target
alone.

Options (``--option pathnet.KEY=VALUE``; the defaults are :class:`~emokit.pathnet.Architecture`'s
and :class:`~emokit.pathnet.SearchConfig`'s):

- architecture: ``layers`` (L), ``modules`` (M), ``active`` (N), ``width``;
- search: ``population``, ``steps`` (T), ``batch``, ``generations``, ``threshold``, ``budget``
  (seconds per task), ``patience``, ``lr``, ``fitness`` (share of training rows held out),
  ``engine`` (``batched`` or ``serial``), ``backend`` (``auto``, ``torch``, ``ext``);
- files: ``save`` (a folder: every cell's evolved model is written there) and ``load`` (a model
  file written by ``save`` or :meth:`PathNet.save`: its tasks stay frozen and only the target,
  and any source it has not learnt, are evolved).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from emokit import kernels
from emokit.bench import Method, TransferTask
from emokit.bench.task import SplitData
from emokit.pathnet import Architecture, GenerationStats, PathNet, SearchConfig, TaskData, transfer

PREFIX = "pathnet."
ARCH_OPTIONS = {"layers": "layers", "modules": "modules", "active": "active", "width": "width"}
SEARCH_OPTIONS = {
    "population": "population",
    "steps": "steps",
    "batch": "batch_size",
    "generations": "generations",
    "threshold": "threshold",
    "budget": "budget_s",
    "patience": "patience",
    "lr": "lr",
    "fitness": "fitness_fraction",
    "engine": "engine",
    "backend": "backend",
}
FILE_OPTIONS = ("save", "load")
_FLOATS = {"threshold", "budget_s", "lr", "fitness_fraction"}
_STRINGS = {"engine", "backend"}


def pathnet_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Split ``--option pathnet.KEY=VALUE`` pairs into architecture, search and file settings.

    Raises:
        ValueError: an unknown ``pathnet.`` key or a value of the wrong kind, naming the option.
    """
    arch: dict[str, Any] = {}
    search: dict[str, Any] = {}
    files: dict[str, str] = {}
    valid = sorted([*ARCH_OPTIONS, *SEARCH_OPTIONS, *FILE_OPTIONS])
    for key, raw in options.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX) :]
        if name in FILE_OPTIONS:
            files[name] = str(raw)
            continue
        field = ARCH_OPTIONS.get(name) or SEARCH_OPTIONS.get(name)
        if field is None:
            raise ValueError(
                f"--option {key}: unknown PathNet option; expected one of "
                + ", ".join(PREFIX + v for v in valid)
            )
        value = str(raw)
        try:
            if field in _STRINGS:
                parsed: Any = value
            elif value.lower() in ("none", "off"):
                parsed = None
            elif field in _FLOATS:
                parsed = float(value)
            else:
                parsed = int(value)
        except ValueError:
            kind = "a number" if field in _FLOATS else "a whole number"
            raise ValueError(f"--option {key}={value}: expected {kind}") from None
        (arch if name in ARCH_OPTIONS else search)[field] = parsed
    return arch, search, files


def _task_data(name: str, classes: list[str], train: SplitData, val: SplitData) -> TaskData:
    return TaskData(name, classes, train.X, train.y, val.X, val.y)


def model_file_name(task: TransferTask) -> str:
    """``sim-savee+sim-emodb-to-sim-enterface-audio-seed0.pt`` for a cell."""
    sources = "+".join(s.train.corpus for s in task.sources)
    name = f"{sources}-to-{task.target.train.corpus}-{task.modality}-seed{task.seed}.pt"
    return re.sub(r"[^A-Za-z0-9+._-]", "_", name)


class PathNetMethod(Method):
    name = "pathnet"
    description = (
        "PathNet meta-transfer: a genetic search over paths through L x M modules, each source's best "
        "path frozen before the next task (batched population on emokit's kernels)"
    )
    compare_with = ("source-only", "target-only", "finetune")

    def __init__(self) -> None:
        self._info: dict[str, Any] = {}

    def run(self, task: TransferTask) -> np.ndarray:
        self._info = {}  # never report a previous cell's facts
        arch_options, search_options, files = pathnet_options(task.options)
        config = SearchConfig(**search_options)
        target_name = task.target.train.corpus
        sources = [
            _task_data(s.train.corpus, task.classes, s.train, s.val)
            for s in task.sources
            if s.train.corpus != target_name  # within-corpus: the target alone
        ]
        target = _task_data(target_name, task.classes, task.target.train, task.target.val)
        start_from = PathNet.load(Path(files["load"]).expanduser()) if "load" in files else None
        arch = Architecture(input_dim=int(task.target.train.X.shape[1]), **arch_options)

        def progress(name: str, position: int, count: int, stats: GenerationStats, total: int) -> None:
            task.report_progress(
                f"evolve {name} ({position + 1}/{count})",
                stats.generation + 1,
                total,
                best=stats.best_fitness,
                mean=stats.mean_fitness,
                val=stats.champion_val_uar,
                paths_per_s=stats.paths_per_s,
            )

        report = transfer(sources, target, arch, config, task.seed, start_from=start_from, progress=progress)
        predictions = report.model.predict(target_name, task.target.test.X, backend=config.backend)
        summary = report.summary()
        self._info = {
            "kernel_backend": kernels.backend(config.backend) if config.engine == "batched" else "serial",
            "search": config.to_dict(),
            "loaded_from": files.get("load"),
            **summary,
            "note": _reuse_note(summary, [t.name for t in report.model.tasks if t.name != target_name]),
        }
        if "save" in files:
            folder = Path(files["save"]).expanduser().resolve()
            self._info["saved_to"] = str(report.model.save(folder / model_file_name(task)))
        return predictions

    def info(self) -> dict[str, Any]:
        return dict(self._info)


def _reuse_note(summary: dict[str, Any], earlier: list[str]) -> str:
    reused = summary["reused_modules"]
    stages = ", ".join(
        f"{name} {s['generations']} gen, fitness {s['best_fitness']:.2f}, {s['paths_per_s']:.0f} paths/s"
        for name, s in summary["stages"].items()
    )
    if not earlier:
        return f"pathnet: {stages}"
    where = " ".join(f"L{r['layer']}M{r['module']}({r['from']})" for r in reused) or "none"
    return (
        f"pathnet: {stages}; target path reuses {len(reused)} of its {summary['target_modules']} "
        f"modules frozen by earlier tasks: {where}"
    )
