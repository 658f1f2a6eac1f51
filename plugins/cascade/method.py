"""Cascade fine-tuning (Ng, Nguyen, Vonikakis, Winkler, ICMI 2015) and its single-stage comparison.

``cascade`` fine-tunes one network in stages over an ordered list of corpora ending at the target:
the sources in the order given (``--source A,B``), then the target's training speakers. Each stage
starts from the weights the previous stage selected, trains on its corpus's training rows and keeps
the epoch with the best UAR on that corpus's validation rows (never a test split). Ng et al. went
ImageNet -> auxiliary facial-expression data -> EmotiW; here the stages are the corpora of the task.

``pooled`` is what the paper compared the cascade with: one stage on the pooled data (every source's
training rows and the target's), selected on the target's validation speakers.

Every corpus is z-scored with the statistics of its own training rows (emokit's default, see the
baselines), and the network is the baselines' MLP, so only the training schedule differs.

Options (``--option cascade.KEY=VALUE``):

- ``epochs``: epochs per stage, one number for every stage or a comma list with one per stage
  (default 150, early stopping after 25 epochs without a better validation UAR);
- ``lr``: learning rate per stage, likewise (default ``1e-3`` for the first stage, ``3e-4`` after);
- ``freeze``: freeze the first N layers of the network in every stage after the first (default 0);
- ``hidden`` and ``dropout``: the MLP's hidden widths (``256x128``) and dropout (0.3), shared with the
  baselines' options of the same names.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from emokit.bench import Method, TransferTask
from emokit.bench.task import SplitData
from emokit.training import Standardizer, mlp_from_options, predict, seed_everything, train_classifier

PREFIX = "cascade."
OPTIONS = ("epochs", "lr", "freeze")


@dataclass
class Stage:
    """One stage of a cascade: the corpus, its (z-scored) rows and its schedule."""

    corpus: str
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    epochs: int
    lr: float
    frozen_layers: int


@dataclass
class StageRecord:
    """What a stage started from and selected (state dicts are copies)."""

    corpus: str
    start_state: dict[str, torch.Tensor]
    end_state: dict[str, torch.Tensor]
    best_epoch: int
    best_val_uar: float
    epochs_run: int
    frozen_layers: int
    lr: float

    def summary(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "best_epoch": self.best_epoch,
            "best_val_uar": round(self.best_val_uar, 4),
            "epochs_run": self.epochs_run,
            "frozen_layers": self.frozen_layers,
            "lr": self.lr,
        }


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The network's linear layers, input side first."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def run_cascade(model: nn.Module, stages: list[Stage], num_classes: int, seed: int) -> list[StageRecord]:
    """Train ``model`` through ``stages`` in order, each from the previous stage's selected weights."""
    records = []
    layers = linear_layers(model)
    for k, stage in enumerate(stages):
        if stage.frozen_layers >= len(layers):
            raise ValueError(
                f"option cascade.freeze={stage.frozen_layers}: the network has {len(layers)} layers; "
                "freeze fewer so that something is trained"
            )
        frozen = {id(p) for layer in layers[: stage.frozen_layers] for p in layer.parameters()}
        trainable = [p for p in model.parameters() if id(p) not in frozen]
        start = copy.deepcopy(model.state_dict())
        result = train_classifier(
            model,
            stage.train,
            stage.val,
            num_classes=num_classes,
            seed=seed + k,
            epochs=stage.epochs,
            lr=stage.lr,
            parameters=trainable,
        )
        records.append(
            StageRecord(
                corpus=stage.corpus,
                start_state=start,
                end_state=copy.deepcopy(model.state_dict()),
                best_epoch=result.best_epoch,
                best_val_uar=result.best_val_uar,
                epochs_run=result.epochs_run,
                frozen_layers=stage.frozen_layers,
                lr=stage.lr,
            )
        )
    return records


def per_stage(options: dict[str, Any], key: str, stages: int, default: list[float]) -> list[float]:
    """``--option cascade.KEY=a,b,...``: one value for every stage, or one per stage."""
    raw = options.get(PREFIX + key)
    if raw is None:
        return default
    try:
        values = [float(v) for v in str(raw).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--option {PREFIX}{key}={raw}: expected numbers separated by commas") from None
    if len(values) == 1:
        return values * stages
    if len(values) != stages:
        raise ValueError(
            f"--option {PREFIX}{key}={raw}: this cascade has {stages} stages; give one value or {stages}"
        )
    return values


def _check_options(options: dict[str, Any]) -> None:
    for key in options:
        if key.startswith(PREFIX) and key[len(PREFIX) :] not in OPTIONS:
            raise ValueError(
                f"--option {key}: unknown cascade option; expected one of "
                + ", ".join(PREFIX + o for o in OPTIONS)
            )


def _freeze(options: dict[str, Any]) -> int:
    raw = options.get(PREFIX + "freeze", 0)
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"--option {PREFIX}freeze={raw}: expected a number of layers, 0 or more")
    return value


def _scaled(train: SplitData, *others: SplitData) -> list[tuple[np.ndarray, np.ndarray]]:
    """``train`` and ``others`` z-scored with ``train``'s statistics, as (X, y) pairs."""
    scaler = Standardizer().fit(train.X)
    return [(scaler.transform(part.X), part.y) for part in (train, *others)]


def new_model(task: TransferTask) -> nn.Module:
    """The baselines' MLP for ``task``, seeded by the task (``hidden`` and ``dropout`` options)."""
    seed_everything(task.seed)  # the initial weights are part of the seeded run
    dim = task.target.train.X.shape[1]
    return mlp_from_options(dim, task.num_classes, task.options)


class Cascade(Method):
    name = "cascade"
    description = "MLP fine-tuned in stages: each source in order, then the target (Ng et al. 2015)"
    compare_with = ("pooled", "finetune", "target-only")

    def __init__(self) -> None:
        self._info: dict[str, Any] = {}

    def stages(self, task: TransferTask) -> list[Stage]:
        """The cascade's stages for ``task``: the sources in order, then the target."""
        _check_options(task.options)
        corpora = [s for s in task.sources if s.train.corpus != task.target.train.corpus]
        splits = [*corpora, task.target]
        count = len(splits)
        epochs = per_stage(task.options, "epochs", count, [150.0] * count)
        lrs = per_stage(task.options, "lr", count, [1e-3] + [3e-4] * (count - 1))
        freeze = _freeze(task.options)
        stages = []
        for k, split in enumerate(splits):
            train, val = _scaled(split.train, split.val)
            stages.append(
                Stage(split.train.corpus, train, val, int(epochs[k]), lrs[k], freeze if k > 0 else 0)
            )
        return stages

    def run(self, task: TransferTask) -> np.ndarray:
        self._info = {}
        stages = self.stages(task)
        model = new_model(task)
        records = run_cascade(model, stages, task.num_classes, task.seed)
        self._info = {"stages": [r.summary() for r in records]}
        scaler = Standardizer().fit(task.target.train.X)
        return predict(model, scaler.transform(task.target.test.X))

    def info(self) -> dict[str, Any]:
        return dict(self._info)


class Pooled(Method):
    name = "pooled"
    description = "MLP trained once on the sources and the target's training speakers pooled"

    def run(self, task: TransferTask) -> np.ndarray:
        target = task.target
        (X_t, y_t), (X_val, y_val), (X_test, _) = _scaled(target.train, target.val, target.test)
        parts = [(X_t, y_t)]
        for source in task.sources:
            if source.train.corpus != target.train.corpus:
                parts += _scaled(source.train)
        model = new_model(task)
        train_classifier(
            model,
            (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])),
            (X_val, y_val),
            num_classes=task.num_classes,
            seed=task.seed,
            epochs=int(task.options.get("epochs", 150)),
            lr=float(task.options.get("lr", 1e-3)),
        )
        return predict(model, X_test)
