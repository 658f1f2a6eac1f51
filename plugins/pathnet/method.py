"""The ``pathnet`` method: PathNet meta-transfer (:mod:`emokit_plugins.pathnet`) in ``emokit bench``.

The sources are learnt in the order given, each freezing its best path, then the target; the
target's best path predicts the target's test speakers. The features arrive normalised by the runner
(``--norm``); PathNet also z-scores each task's inputs with its own training rows' statistics,
which the model keeps (a saved model applies them itself). Within-corpus (source = target) evolves
on the target alone. The validation UAR reported is that of the target stage's selected champion.

Options (``--option pathnet.KEY=VALUE``, or ``KEY=VALUE`` for every method that takes it; the
defaults are :class:`~.model.Architecture`'s and :class:`~.search.SearchConfig`'s):

- architecture: ``layers`` (L), ``modules`` (M), ``active`` (N), ``width``;
- search: ``population``, ``steps`` (T), ``batch``, ``generations``, ``threshold``, ``budget``
  (seconds per task), ``patience`` (``none``: never stop early), ``lr``, ``fitness`` (share of
  training rows held out), ``engine`` (``batched`` or ``serial``), ``backend`` (``auto``,
  ``torch``, ``ext``; not set: ``EMOKIT_BACKEND``);
- files: ``save`` (a folder: every cell's evolved model is written there) and ``load`` (a model
  file written by ``save`` or :meth:`PathNet.save`: its tasks stay frozen and only the target,
  and any source it has not learnt, are evolved).

The population and the model live on ``TransferTask.device`` (``emokit bench --device``): on a CUDA
device the batched engine runs on emokit's CUDA kernels, or on the pure-PyTorch fallback on CUDA
when the extension has none. ``info()`` records the device and the kernel backend actually used.
Saved models hold CPU tensors and load anywhere.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emokit.api import (
    Method,
    MethodOption,
    SplitData,
    TransferTask,
    kernels,
    method_option_values,
    torch_device,
)
from emokit_plugins.pathnet.model import Architecture, PathNet
from emokit_plugins.pathnet.search import ENGINES, GenerationStats, SearchConfig
from emokit_plugins.pathnet.transfer import SourceStageCache, TaskData, transfer


def _default(config: type, name: str) -> Any:
    """The default of field ``name`` of the dataclass ``config`` (so the options cannot drift)."""
    return {f.name: f.default for f in dataclasses.fields(config)}[name]


def _arch(name: str, text: str) -> MethodOption:
    return MethodOption(name, int, _default(Architecture, name), text)


def _search(name: str, field: str, kind: Any, text: str, **more: Any) -> MethodOption:
    return MethodOption(name, kind, _default(SearchConfig, field), text, **more)


#: option name -> Architecture field
ARCH_OPTIONS = {"layers": "layers", "modules": "modules", "active": "active", "width": "width"}
#: option name -> SearchConfig field
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

PATHNET_OPTIONS = (
    _arch("layers", "L, layers of modules"),
    _arch("modules", "M, modules per layer"),
    _arch("active", "N, modules a path uses per layer"),
    _arch("width", "units of every module"),
    _search("population", "population", int, "P, paths in the population (even)"),
    _search("steps", "steps", int, "T, minibatches each path trains for per generation"),
    _search("batch", "batch_size", int, "rows per minibatch"),
    _search("generations", "generations", int, "generations per task at most"),
    _search(
        "threshold", "threshold", float, "stop a task once the champion's fitness reaches this", nullable=True
    ),
    _search("budget", "budget_s", float, "stop a task after this many seconds", nullable=True),
    _search(
        "patience",
        "patience",
        int,
        "stop a task after this many generations without a better validation UAR (none: never)",
        nullable=True,
    ),
    _search("lr", "lr", float, "Adam's learning rate"),
    _search("fitness", "fitness_fraction", float, "share of the training rows held out to measure fitness"),
    _search(
        "engine", "engine", str, "batched (the population in one call per step) or serial", choices=ENGINES
    ),
    _search(
        "backend",
        "backend",
        str,
        "kernel backend of the batched engine (not set: EMOKIT_BACKEND, else auto)",
        choices=kernels.BACKENDS,
    ),
    MethodOption("save", str, None, "a folder: every cell's evolved model is written there"),
    MethodOption("load", str, None, "a saved PathNet to start from: its tasks stay frozen"),
)


def pathnet_settings(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, str | None]]:
    """The method's option values (:meth:`Method.option_values`) as :class:`Architecture` keyword
    arguments (less ``input_dim``), :class:`SearchConfig` keyword arguments and the file options."""
    arch = {field: values[name] for name, field in ARCH_OPTIONS.items()}
    search = {field: values[name] for name, field in SEARCH_OPTIONS.items()}
    files = {name: values[name] for name in FILE_OPTIONS}
    return arch, search, files


def pathnet_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, str | None]]:
    """:func:`pathnet_settings` of raw ``--option`` pairs (``pathnet.KEY`` wins over ``KEY``).

    Raises:
        OptionError: an unknown ``pathnet.`` key or a value of the wrong kind, naming the option.
    """
    return pathnet_settings(method_option_values(PathNetMethod, options))


def _task_data(name: str, classes: list[str], train: SplitData, val: SplitData) -> TaskData:
    return TaskData(name, classes, train.X, train.y, val.X, val.y)


def model_file_name(task: TransferTask) -> str:
    """``sim-savee+sim-emodb-to-sim-enterface-audio-seed0-fold0.pt`` for a cell (with ``-10pct`` or
    ``-5-shot`` under a target budget): every cell of a run writes its own file."""
    sources = "+".join(s.train.corpus for s in task.sources)
    name = f"{sources}-to-{task.target.train.corpus}-{task.modality}-seed{task.seed}-fold{task.fold}"
    if task.budget != "100%":
        name += "-" + task.budget.replace("%", "pct")
    return re.sub(r"[^A-Za-z0-9+._-]", "_", name + ".pt")


def kernel_backend(config: SearchConfig, device: torch.device) -> str:
    """The kernels the search ran on ``device``: ``serial`` (plain torch ops, no kernels), ``ext``
    (the extension has kernels for that device) or ``torch`` (the pure-PyTorch fallback), as
    :mod:`emokit.kernels` chooses them for tensors on ``device``."""
    if config.engine != "batched":
        return "serial"
    chosen = kernels.backend(config.backend)
    if chosen == "ext" and device.type not in kernels.extension_state().devices:
        return "torch"  # built without kernels for this device: the fallback ran (or "ext" refused)
    return chosen


class PathNetMethod(Method):
    name = "pathnet"
    description = (
        "PathNet meta-transfer: a genetic search over paths through L x M modules, each source's best "
        "path frozen before the next task (batched population on emokit's kernels)"
    )
    compare_with = ("source-only", "target-only", "finetune")
    options = PATHNET_OPTIONS

    def __init__(self) -> None:
        self._info: dict[str, Any] = {}
        # the source stages of one repeat are the same for every target fold and budget: evolve once
        self.sources_cache = SourceStageCache()

    def run(self, task: TransferTask) -> np.ndarray:
        self._info = {}  # never report a previous cell's facts
        device = torch_device(task.device)
        arch_options, search_options, files = pathnet_settings(self.option_values(task))
        config = SearchConfig(**search_options)
        target_name = task.target.train.corpus
        sources = [
            _task_data(s.train.corpus, task.classes, s.train, s.val)
            for s in task.sources
            if s.train.corpus != target_name  # within-corpus: the target alone
        ]
        target = _task_data(target_name, task.classes, task.target.train, task.target.val)
        start_from = PathNet.load(Path(files["load"]).expanduser()) if files["load"] else None
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

        report = transfer(
            sources,
            target,
            arch,
            config,
            task.seed,
            start_from=start_from,
            progress=progress,
            cache=self.sources_cache,
            device=device,
        )
        predictions = report.model.predict(target_name, task.target.test.X, backend=config.backend)
        # the target stage's champion was selected on the target's validation rows
        task.report_validation(report.stages[target_name].val_uar, on="target validation")
        summary = report.summary()
        for name, stage in report.stages.items():  # the search of each task, generation by generation
            task.report_curve(
                name,
                x="generation",
                best_fitness=[g.best_fitness for g in stage.history],
                mean_fitness=[g.mean_fitness for g in stage.history],
                val_uar=[g.champion_val_uar for g in stage.history],
            )
        self._info = {
            "device": str(report.model.device),
            "kernel_backend": kernel_backend(config, report.model.device),
            "search": config.to_dict(),
            "loaded_from": files.get("load"),
            **summary,
            "note": _reuse_note(summary, [t.name for t in report.model.tasks if t.name != target_name]),
        }
        if files["save"]:
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
