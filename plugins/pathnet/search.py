"""The genetic search of one task: a population of paths trained and scored together.

One generation (Fernando et al.'s binary tournament, every tournament of the population at once):

1. every path of the population is trained for T minibatches. All P paths see the same minibatch at
   each step and the population is trained in one batched call per step: the loss is the sum of the
   paths' losses, so each module gets the sum of the gradients of the paths that use it, the same
   update as computing each path's gradient one at a time and accumulating them (the ``serial``
   engine, which the tests compare against);
2. every path's fitness is measured on held-out training rows (the *fitness* rows, never the
   validation or test speakers): UAR, ties broken by the lower mean loss;
3. the fittest path (the champion) is scored on the validation split; the model is snapshotted
   whenever that score improves, and the best snapshot is what the search returns (model selection
   on validation, as every emokit method does);
4. the population is paired at random; each pair's winner overwrites the loser with a mutated copy
   of its genotype (:func:`~emokit_plugins.pathnet.genetics.tournaments`).

The search stops after ``generations``, when the champion's fitness reaches ``threshold``, when
``budget_s`` seconds have gone, or after ``patience`` generations without a better validation score,
whichever comes first. Frozen modules (earlier tasks' best paths) get no gradient and stay bitwise
unchanged. All randomness comes from one seeded CPU ``torch.Generator``.

Devices: the search runs on the model's device (:attr:`PathNet.device`; the :class:`StageData`
tensors must be there too). The genetics (genotypes, pairings, mutations) and every random draw stay
on the host and their results are moved to the device, so the draws do not depend on it; on a CUDA
model the batched engine runs on :mod:`emokit.kernels`' CUDA kernels (or its fallback on CUDA).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from emokit.api import kernels
from emokit_plugins.pathnet.genetics import random_genotypes, tournaments
from emokit_plugins.pathnet.model import PathNet

ENGINES = ("batched", "serial")


@dataclass(frozen=True)
class SearchConfig:
    """Settings of the genetic search (defaults sized for small emotion corpora on a laptop CPU).

    Attributes:
        population: P, paths in the population (even; the paper used 64, its author 20 in practice).
        steps: T, minibatches each path trains for per generation (the paper: 50 of 16).
        batch_size: rows per minibatch.
        generations: the most generations to run.
        threshold: stop once the champion's fitness (UAR on the fitness rows) reaches this.
        budget_s: stop once this many seconds have gone (checked after each generation).
        patience: stop after this many generations without a better validation UAR (None: never).
        lr: Adam's learning rate (no weight decay: frozen modules must not move).
        fitness_fraction: share of the training rows held out, per class, to measure fitness on.
        engine: ``batched`` (the population in one call per step) or ``serial`` (one path at a
            time with plain ``torch`` ops, as public PathNet code does; same numbers, slower).
        backend: kernel backend of the batched engine (``auto``, ``torch``, ``ext``; None reads
            ``EMOKIT_BACKEND``).
    """

    population: int = 32
    steps: int = 10
    batch_size: int = 32
    generations: int = 100
    threshold: float | None = None
    budget_s: float | None = None
    patience: int | None = 20
    lr: float = 1e-3
    fitness_fraction: float = 0.2
    engine: str = "batched"
    backend: str | None = None

    def __post_init__(self) -> None:
        if self.population < 2:
            raise ValueError(
                f"population must be at least 2 (a tournament needs two paths), got {self.population}"
            )
        for name in ("steps", "batch_size", "generations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be at least 1 (or None), got {self.patience}")
        if self.budget_s is not None and self.budget_s <= 0:
            raise ValueError(f"budget_s must be positive (or None), got {self.budget_s}")
        if not 0.0 < self.fitness_fraction < 1.0:
            raise ValueError(f"fitness_fraction must be in (0, 1), got {self.fitness_fraction}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StageData:
    """The (already z-scored) rows one task's search uses, on the model's device.

    Attributes:
        X_train, y_train: rows the paths train on.
        X_fitness, y_fitness: held-out training rows the fitness is measured on.
        X_val, y_val: the validation split (model selection).
        num_classes: C.
        class_weights: ``[C]`` weights of the training loss (inverse class frequency).
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_fitness: torch.Tensor
    y_fitness: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int
    class_weights: torch.Tensor


@dataclass(frozen=True)
class GenerationStats:
    """One generation, as the live view and the result file see it."""

    generation: int
    best_fitness: float
    mean_fitness: float
    champion_val_uar: float
    distinct_paths: int
    seconds: float
    paths_per_s: float


@dataclass
class SearchResult:
    """What :func:`evolve` found (the model holds the selected snapshot's parameters).

    Attributes:
        best_path: int64 ``[L, N]``, the champion of the selected generation.
        head: the task head ``(weight, bias)`` of that generation.
        best_generation: the generation selected on validation (0-based).
        best_fitness, val_uar: the selected champion's fitness and validation UAR.
        stopped_because: ``generations``, ``threshold``, ``budget`` or ``patience``.
        history: one :class:`GenerationStats` per generation run.
        paths_evaluated: paths trained and scored in all (P per generation).
        seconds: wall time of the search.
        genotypes: the population at each generation, before its tournaments (for tests and plots).
    """

    best_path: torch.Tensor
    head: tuple[torch.Tensor, torch.Tensor]
    best_generation: int
    best_fitness: float
    val_uar: float
    stopped_because: str
    history: list[GenerationStats]
    paths_evaluated: int
    seconds: float
    genotypes: list[torch.Tensor] = field(default_factory=list, repr=False)

    @property
    def paths_per_s(self) -> float:
        return self.paths_evaluated / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts (the result file's ``method_info``)."""
        return {
            "best_path": self.best_path.tolist(),
            "best_generation": self.best_generation,
            "generations": len(self.history),
            "best_fitness": round(self.best_fitness, 4),
            "val_uar": round(self.val_uar, 4),
            "stopped_because": self.stopped_because,
            "paths_evaluated": self.paths_evaluated,
            "seconds": round(self.seconds, 3),
            "paths_per_s": round(self.paths_per_s, 1),
            "best_fitness_by_generation": [round(g.best_fitness, 4) for g in self.history],
            "mean_fitness_by_generation": [round(g.mean_fitness, 4) for g in self.history],
        }


#: called after each generation with (generation stats, generations at most)
ProgressFn = Callable[[GenerationStats, int], None]


def per_path_uar(logits: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """UAR (mean recall over the classes present in ``targets``) of each path: ``[P, n, C]`` -> ``[P]``."""
    predicted = logits.argmax(-1)  # [P, n]
    correct = (predicted == targets).to(logits.dtype)
    present = torch.bincount(targets, minlength=num_classes).to(logits.dtype)
    hits = logits.new_zeros(logits.shape[0], num_classes).index_add_(1, targets, correct)
    has = present > 0
    return (hits[:, has] / present[has]).mean(1)


def per_path_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Class-weighted mean cross-entropy of each path: ``[P, n, C]`` -> ``[P]``."""
    paths, rows, classes = logits.shape
    losses = F.cross_entropy(
        logits.reshape(paths * rows, classes), targets.repeat(paths), reduction="none"
    ).view(paths, rows)
    w = weights[targets]
    return (losses * w).sum(1) / w.sum()


class _Minibatches:
    """Shuffled passes over the training rows, reshuffled when a pass is used up (drawn on the CPU
    generator, handed out on ``device``)."""

    def __init__(
        self, rows: int, batch_size: int, generator: torch.Generator, device: torch.device | None = None
    ):
        self.rows, self.batch_size, self.generator = rows, min(batch_size, rows), generator
        self.device = device or torch.device("cpu")
        self.order = torch.randperm(rows, generator=generator).to(self.device)
        self.at = 0

    def next(self) -> torch.Tensor:
        if self.at + self.batch_size > self.rows:
            self.order = torch.randperm(self.rows, generator=self.generator).to(self.device)
            self.at = 0
        batch = self.order[self.at : self.at + self.batch_size]
        self.at += self.batch_size
        return batch


class _Engine:
    """Trains and scores a population; the two engines share every decision, not the arithmetic."""

    def __init__(self, model: PathNet, head: tuple[torch.Tensor, torch.Tensor], config: SearchConfig):
        self.model, self.head, self.config = model, head, config

    def logits(self, x: torch.Tensor, genotypes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def population_loss(self, x: torch.Tensor, y: torch.Tensor, genotypes: torch.Tensor, weights) -> None:
        """Backpropagate the sum over paths of each path's loss on ``(x, y)``."""
        per_path_loss(self.logits(x, genotypes), y, weights).sum().backward()


class _BatchedEngine(_Engine):
    def logits(self, x: torch.Tensor, genotypes: torch.Tensor) -> torch.Tensor:
        out = kernels.population_forward(
            x, self.model.layers(), genotypes, *self.head, backend=self.config.backend
        )
        return out.logits


class _SerialEngine(_Engine):
    """One path at a time with ``F.linear``: what PathNet re-implementations do."""

    def path_logits(self, x: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
        hidden = x
        for (weight, bias), modules in zip(self.model.layers(), path.tolist(), strict=True):
            hidden = sum(F.relu(F.linear(hidden, weight[m], bias[m])) for m in modules)
        return F.linear(hidden, *self.head)

    def logits(self, x: torch.Tensor, genotypes: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.path_logits(x, path) for path in genotypes])

    def population_loss(self, x: torch.Tensor, y: torch.Tensor, genotypes: torch.Tensor, weights) -> None:
        for path in genotypes:  # gradients accumulate path by path
            per_path_loss(self.path_logits(x, path)[None], y, weights).sum().backward()


def evolve(
    model: PathNet,
    data: StageData,
    config: SearchConfig,
    generator: torch.Generator,
    *,
    head: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: ProgressFn | None = None,
) -> SearchResult:
    """Evolve a population of paths on one task; leave ``model`` holding the selected snapshot.

    Args:
        model: the PathNet; its unfrozen modules are trained in place, on its device; frozen ones
            never change.
        data: the task's rows (see :class:`StageData`), on the model's device.
        config: :class:`SearchConfig`.
        generator: a CPU generator; every random draw (population, minibatches, pairings,
            mutations) comes from it.
        head: the task's head (default: a fresh one from ``model.new_head``).
        progress: called after each generation.

    Returns:
        :class:`SearchResult`.
    """
    arch = model.arch
    if head is None:
        head = model.new_head(data.num_classes, generator)
    if len(data.y_train) == 0 or len(data.y_fitness) == 0 or len(data.y_val) == 0:
        raise ValueError(
            f"the search needs training, fitness and validation rows, got {len(data.y_train)}, "
            f"{len(data.y_fitness)} and {len(data.y_val)}"
        )
    engine = (_BatchedEngine if config.engine == "batched" else _SerialEngine)(model, head, config)
    trainable = [*model.weights, *model.biases, *head]
    optimiser = torch.optim.Adam(trainable, lr=config.lr, fused=True)
    device = model.device
    # the frozen masks of the layers that have frozen modules, on the device (None: nothing frozen)
    frozen = [mask.to(device) if mask.any() else None for mask in model.frozen]
    # the genotypes stay on the host (the genetics and their draws); ``population`` is their copy
    # on the device, which the engines run
    genotypes = random_genotypes(config.population, arch.layers, arch.active, arch.modules, generator)
    batches = _Minibatches(len(data.y_train), config.batch_size, generator, device)

    history: list[GenerationStats] = []
    seen: list[torch.Tensor] = []
    best: dict[str, Any] = {"val": -1.0}
    since_best, stopped = 0, "generations"
    started = time.perf_counter()
    for generation in range(config.generations):
        tick = time.perf_counter()
        population = genotypes.to(device)
        for _ in range(config.steps):
            batch = batches.next()
            optimiser.zero_grad(set_to_none=False)
            engine.population_loss(data.X_train[batch], data.y_train[batch], population, data.class_weights)
            _drop_frozen_grads(model, frozen)
            optimiser.step()
        with torch.no_grad():
            logits = engine.logits(data.X_fitness, population)
            fitness = per_path_uar(logits, data.y_fitness, data.num_classes)
            loss = per_path_loss(logits, data.y_fitness, data.class_weights)
            champion = int(_argbest(fitness, loss))
            val_logits = engine.logits(data.X_val, population[champion : champion + 1])
            fitness, loss = fitness.cpu(), loss.cpu()  # the tournaments run on the host
            val_uar = float(per_path_uar(val_logits, data.y_val, data.num_classes)[0])
        seen.append(genotypes.clone())
        seconds = time.perf_counter() - tick
        stats = GenerationStats(
            generation=generation,
            best_fitness=float(fitness[champion]),
            mean_fitness=float(fitness.mean()),
            champion_val_uar=val_uar,
            distinct_paths=int(torch.unique(genotypes.sort(-1).values.flatten(1), dim=0).shape[0]),
            seconds=seconds,
            paths_per_s=config.population / seconds if seconds > 0 else 0.0,
        )
        history.append(stats)
        if progress is not None:
            progress(stats, config.generations)
        if val_uar > best["val"]:
            best = {
                "val": val_uar,
                "generation": generation,
                "fitness": float(fitness[champion]),
                "path": genotypes[champion].clone(),
                "state": model.state(),
                "head": tuple(t.detach().clone() for t in head),
            }
            since_best = 0
        else:
            since_best += 1
        if config.threshold is not None and stats.best_fitness >= config.threshold:
            stopped = "threshold"
            break
        if config.budget_s is not None and time.perf_counter() - started >= config.budget_s:
            stopped = "budget"
            break
        if config.patience is not None and since_best >= config.patience:
            stopped = "patience"
            break
        if generation + 1 < config.generations:
            genotypes = tournaments(genotypes, fitness, arch.modules, generator, tie_break=loss).genotypes
    seconds = time.perf_counter() - started
    model.load_state(best["state"])
    with torch.no_grad():
        for tensor, saved in zip(head, best["head"], strict=True):
            tensor.copy_(saved)
    return SearchResult(
        best_path=best["path"],
        head=head,
        best_generation=best["generation"],
        best_fitness=best["fitness"],
        val_uar=best["val"],
        stopped_because=stopped,
        history=history,
        paths_evaluated=config.population * len(history),
        seconds=seconds,
        genotypes=seen,
    )


def _argbest(fitness: torch.Tensor, loss: torch.Tensor) -> int:
    """The path with the highest fitness; among equals, the lowest loss; then the first."""
    top = fitness == fitness.max()
    candidates = torch.nonzero(top).flatten()
    return int(candidates[loss[candidates].argmin()])


def _drop_frozen_grads(model: PathNet, frozen: list[torch.Tensor | None]) -> None:
    """Zero the gradients of frozen modules: with Adam's state starting at zero, they never move.

    ``frozen`` holds each layer's frozen mask on the model's device, ``None`` where none is frozen.
    """
    for (weight, bias), mask in zip(model.layers(), frozen, strict=True):
        if mask is not None:
            weight.grad[mask] = 0.0
            bias.grad[mask] = 0.0
