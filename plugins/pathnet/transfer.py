"""PathNet transfer: evolve on each source in turn, freezing its best path, then on the target.

For every task in the sequence (sources in the order given, then the target):

1. the modules that no earlier task froze are re-initialised and the task gets a fresh head;
2. a new population is evolved on the task (:func:`~emokit_plugins.pathnet.search.evolve`);
3. the best path is fixed and its modules frozen: later tasks may choose them, never update them.

The target's best path then says which source knowledge it reuses (:meth:`PathNet.reused_modules`).
A transfer can also start from a saved model (``start_from``): its tasks' modules stay frozen and
only the remaining tasks are evolved.

``transfer(..., device=...)`` runs every stage on that device (a saved model is moved there); the
random draws stay on one CPU generator, so a seed draws the same whatever the device.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from emokit.api import Standardizer, class_weights, torch_device
from emokit_plugins.pathnet.model import Architecture, PathNet, TaskRecord
from emokit_plugins.pathnet.search import GenerationStats, SearchConfig, SearchResult, StageData, evolve


@dataclass
class TaskData:
    """One task's raw features: training rows and validation rows (from other speakers when the
    corpus allows it). ``y`` are indices into ``classes``."""

    name: str
    classes: list[str]
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


#: called with (task name, position in the sequence, tasks in the sequence, generation stats, max generations)
StageProgressFn = Callable[[str, int, int, GenerationStats, int], None]


def fitness_rows(y: np.ndarray, fraction: float, generator: torch.Generator) -> np.ndarray:
    """A per-class random ``fraction`` of the rows (at least one per class with two or more rows)."""
    chosen = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        take = round(fraction * len(rows))
        take = min(max(take, 1 if len(rows) > 1 else 0), len(rows) - 1)
        order = torch.randperm(len(rows), generator=generator).numpy()
        chosen.append(rows[order[:take]])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def stage_data(
    task: TaskData,
    fitness_fraction: float,
    generator: torch.Generator,
    device: str | torch.device = "cpu",
) -> tuple[StageData, Standardizer]:
    """Z-score the task with its training rows' statistics and hold out the fitness rows (drawn on
    the CPU ``generator``); the rows are put on ``device``."""
    if len(task.y_train) < 2:
        raise ValueError(
            f"task {task.name!r} has {len(task.y_train)} training rows; PathNet needs at least 2"
        )
    if len(task.y_val) == 0:
        raise ValueError(f"task {task.name!r} has no validation rows: model selection needs them")
    scaler = Standardizer().fit(task.X_train)
    X = torch.as_tensor(scaler.transform(task.X_train))
    y = torch.as_tensor(np.asarray(task.y_train, dtype=np.int64))
    held = fitness_rows(task.y_train, fitness_fraction, generator)
    keep = np.setdiff1d(np.arange(len(y)), held)
    num_classes = len(task.classes)
    device = torch.device(device)
    data = StageData(
        X_train=X[keep].to(device),
        y_train=y[keep].to(device),
        X_fitness=X[held].to(device),
        y_fitness=y[held].to(device),
        X_val=torch.as_tensor(scaler.transform(task.X_val)).to(device),
        y_val=torch.as_tensor(np.asarray(task.y_val, dtype=np.int64)).to(device),
        num_classes=num_classes,
        class_weights=class_weights(task.y_train[keep], num_classes).to(device),
    )
    return data, scaler


def learn_task(
    model: PathNet,
    task: TaskData,
    config: SearchConfig,
    generator: torch.Generator,
    progress: Callable[[GenerationStats, int], None] | None = None,
) -> SearchResult:
    """Re-initialise the unfrozen modules, evolve on ``task`` (on the model's device), record it and
    freeze its best path."""
    data, scaler = stage_data(task, config.fitness_fraction, generator, model.device)
    model.reinitialise_unfrozen(generator)
    result = evolve(model, data, config, generator, progress=progress)
    assert scaler.mean is not None and scaler.scale is not None
    model.add_task(
        TaskRecord(
            name=task.name,
            classes=list(task.classes),
            head_weight=result.head[0].detach().clone(),
            head_bias=result.head[1].detach().clone(),
            path=result.best_path,
            input_mean=torch.as_tensor(scaler.mean, dtype=torch.float32).to(model.device),
            input_scale=torch.as_tensor(scaler.scale, dtype=torch.float32).to(model.device),
            facts=result.summary(),
        )
    )
    return result


@dataclass
class TransferReport:
    """A finished transfer: the model (every task frozen) and what each stage found."""

    model: PathNet
    stages: dict[str, SearchResult]
    target: str

    def reused(self) -> list[dict[str, Any]]:
        """The frozen modules of earlier tasks that the target's best path uses."""
        record = self.model.task(self.target)
        return self.model.reused_modules(record.path, by=self.target)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: per stage the search's facts, and the reuse of frozen modules."""
        path = self.model.task(self.target).path
        reused = self.reused()
        return {
            "architecture": vars(self.model.arch).copy(),
            "stages": {name: result.summary() for name, result in self.stages.items()},
            "tasks": [t.name for t in self.model.tasks],
            "target_path": path.tolist(),
            "reused_modules": reused,
            "reused_count": len(reused),
            "target_modules": int(sum(len(set(row)) for row in path.tolist())),
        }


class SourceStageCache:
    """Remembers a transfer's state after its source stages, so that cells with the same sources,
    architecture, search settings, seed and device (every target fold and budget of one repeat)
    evolve the sources once (a source stage evolved on one device is never reused on another). A hit
    restores the model and the random generator exactly, so the target stage, and the result, are
    bitwise those of a transfer run from scratch.
    """

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[PathNet, torch.Tensor, dict[str, SearchResult]]] = OrderedDict()
        self.hits = 0

    @staticmethod
    def key(
        sources: Sequence[TaskData],
        arch: Architecture,
        config: SearchConfig,
        seed: int,
        device: str | torch.device = "cpu",
    ) -> str:
        digest = hashlib.sha256()
        digest.update(repr((asdict(arch), config.to_dict(), seed, str(torch_device(device)))).encode())
        for task in sources:
            digest.update(repr((task.name, task.classes)).encode())
            for array in (task.X_train, task.y_train, task.X_val, task.y_val):
                array = np.ascontiguousarray(array)
                digest.update(repr((array.dtype.str, array.shape)).encode())
                digest.update(array.tobytes())
        return digest.hexdigest()

    def get(self, key: str) -> tuple[PathNet, torch.Tensor, dict[str, SearchResult]] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        model, state, stages = entry
        return copy.deepcopy(model), state.clone(), dict(stages)

    def put(self, key: str, model: PathNet, state: torch.Tensor, stages: dict[str, SearchResult]) -> None:
        self._entries[key] = (copy.deepcopy(model), state.clone(), dict(stages))
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)


def transfer(
    sources: Sequence[TaskData],
    target: TaskData,
    arch: Architecture,
    config: SearchConfig,
    seed: int,
    *,
    start_from: PathNet | None = None,
    progress: StageProgressFn | None = None,
    cache: SourceStageCache | None = None,
    device: str | torch.device = "cpu",
) -> TransferReport:
    """Evolve on each source in order (freezing each best path), then on the target.

    Args:
        sources: the source tasks, in sequence (may be empty: the target alone).
        target: the target task (its name must differ from the sources').
        arch: the architecture of a new model (ignored with ``start_from``, whose own is used).
        config: the search settings of every stage.
        seed: seeds the one generator every stage draws from.
        start_from: a saved model whose tasks are already learnt and frozen; its input size must
            match the features.
        progress: called after each generation of each stage.
        cache: reuse the source stages of an earlier identical transfer (see
            :class:`SourceStageCache`; not used with ``start_from``).
        device: where the model and the rows live and every stage runs (``start_from`` is moved
            there); the generator stays on the CPU.
    """
    device = torch_device(device)
    generator = torch.Generator().manual_seed(seed)
    if start_from is not None:
        model = start_from.to(device)
        if model.arch.input_dim != target.X_train.shape[1]:
            raise ValueError(
                f"the saved PathNet takes {model.arch.input_dim} features per sample, but the "
                f"target {target.name!r} has {target.X_train.shape[1]}: use the features it was trained on"
            )
    else:
        model = PathNet(arch, generator, device=device)
    sequence = [*sources, target]
    names = [t.name for t in sequence]
    learnt = {t.name for t in model.tasks}
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be distinct, got {names}")
    if target.name in learnt:
        raise ValueError(
            f"the model has already learnt {target.name!r} (its tasks: {', '.join(sorted(learnt))}); "
            "transfer it to a task it has not learnt"
        )
    stages: dict[str, SearchResult] = {}
    key = (
        SourceStageCache.key(sources, arch, config, seed, device)
        if cache is not None and start_from is None
        else None
    )
    hit = cache.get(key) if cache is not None and key is not None and sources else None
    if hit is not None:
        model, state, stages = hit
        generator.set_state(state)
        learnt = {t.name for t in model.tasks}
    for position, task in enumerate(sequence):
        if task.name in learnt:
            continue  # a source the saved model (or the cache) has already learnt
        if task is target and cache is not None and key is not None and sources and hit is None:
            cache.put(key, model, generator.get_state(), stages)
        report = None
        if progress is not None:

            def report(stats: GenerationStats, total: int, _name=task.name, _pos=position) -> None:
                progress(_name, _pos, len(sequence), stats, total)

        stages[task.name] = learn_task(model, task, config, generator, report)
    return TransferReport(model=model, stages=stages, target=target.name)
