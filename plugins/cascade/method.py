"""Cascade fine-tuning (Ng, Nguyen, Vonikakis, Winkler, ICMI 2015) and its single-stage comparison.

``cascade`` fine-tunes one network in stages over an ordered list of corpora ending at the target:
the sources in the order given (``--source A,B``), then the target's training speakers. Each stage
starts from the weights the previous stage selected, trains on its corpus's training rows and keeps
the epoch with the best UAR on that corpus's validation rows (never a test split). Ng et al. went
ImageNet -> auxiliary facial-expression data -> EmotiW; here the stages are the corpora of the task.

``pooled`` is what the paper compared the cascade with: one stage on the pooled data (every source's
training rows and the target's), selected on the target's validation speakers.

The features arrive normalised by the runner (``--norm``; per corpus by default) and the network
is the baselines' MLP, so only the training schedule differs.

Options (``--option cascade.KEY=VALUE``, or ``KEY=VALUE`` for every method that takes it):

- ``epochs``: epochs per stage, one number for every stage or a comma list with one per stage
  (default 150, early stopping after 25 epochs without a better validation UAR);
- ``lr``: learning rate per stage, likewise (default ``1e-3`` for the first stage, ``3e-4`` after);
- ``freeze``: freeze the first N layers of the network in every stage after the first (default 0);
- ``hidden`` and ``dropout``: the MLP's hidden widths (``256x128``) and dropout (0.3), shared with the
  baselines' options of the same names.

``pooled`` takes ``epochs``, ``lr``, ``hidden`` and ``dropout`` as the baselines do.

Both train and predict on ``TransferTask.device`` (``emokit bench --device``) and record it in
``info()``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from emokit.api import (
    DROPOUT,
    EPOCHS,
    HIDDEN,
    MLP_OPTIONS,
    EpochRecord,
    Method,
    MethodOption,
    OptionError,
    TransferTask,
    mlp_from_options,
    model_device,
    positive_numbers,
    predict,
    seed_everything,
    torch_device,
    train_classifier,
)

PREFIX = "cascade."
#: the learning rates of the stages when ``lr`` is not given: the first stage, then every later one
DEFAULT_LRS = (1e-3, 3e-4)


_PER_STAGE = "positive numbers separated by commas (one for every stage, or one per stage)"
CASCADE_OPTIONS = (
    MethodOption(
        "epochs",
        positive_numbers,
        (float(EPOCHS.default),),
        "epochs per stage at most: one number for every stage, or one per stage "
        "(early stopping after 25 without a better validation UAR)",
        expects=_PER_STAGE,
    ),
    MethodOption(
        "lr",
        positive_numbers,
        None,
        f"learning rate per stage: one for every stage, or one per stage "
        f"(not set: {DEFAULT_LRS[0]:g} for the first stage, {DEFAULT_LRS[1]:g} after)",
        expects=_PER_STAGE,
    ),
    MethodOption("freeze", int, 0, "freeze the first N layers of the network in every stage after the first"),
    HIDDEN,
    DROPOUT,
)


@dataclass
class Stage:
    """One stage of a cascade: the corpus, its rows and its schedule."""

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
    history: list[EpochRecord] = field(default_factory=list)

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
                history=result.history,
            )
        )
    return records


def _as_given(task: TransferTask, name: str, value: Any) -> tuple[str, str]:
    """The key and value of option ``name`` as the user wrote them (for messages)."""
    key = next((k for k in (PREFIX + name, name) if k in task.options), PREFIX + name)
    raw = task.options.get(key, value)
    if not isinstance(raw, str):
        raw = ",".join(f"{v:g}" for v in raw) if isinstance(raw, (tuple, list)) else str(raw)
    return key, raw


def per_stage(
    task: TransferTask, name: str, values: tuple[float, ...] | None, stages: int, default: list[float]
) -> list[float]:
    """Option ``name`` (``epochs`` or ``lr``) for each of ``stages`` stages: one value for every
    stage, or one per stage (checked against the stage count); ``default`` when not set."""
    if values is None:
        return default
    if len(values) == 1:
        return list(values) * stages
    if len(values) != stages:
        key, raw = _as_given(task, name, values)
        raise OptionError(
            f"--option {key}={raw}: this cascade has {stages} stages; give one value or {stages}"
        )
    return list(values)


def new_model(task: TransferTask, values: Mapping[str, Any] | None = None) -> nn.Module:
    """The baselines' MLP for ``task``, seeded by the task, sized by the ``hidden`` and ``dropout`` of
    ``values`` (a method's option values; default: the cascade's for ``task``), on ``task.device``
    (initialised on the CPU, so the weights do not depend on the device, then moved)."""
    if values is None:
        values = Cascade().option_values(task)
    seed_everything(task.seed)  # the initial weights are part of the seeded run
    dim = task.target.train.X.shape[1]
    return mlp_from_options(dim, task.num_classes, values).to(torch_device(task.device))


class Cascade(Method):
    name = "cascade"
    description = "MLP fine-tuned in stages: each source in order, then the target (Ng et al. 2015)"
    compare_with = ("pooled", "finetune", "target-only")
    options = CASCADE_OPTIONS

    def __init__(self) -> None:
        self._info: dict[str, Any] = {}

    def stages(self, task: TransferTask, values: Mapping[str, Any] | None = None) -> list[Stage]:
        """The cascade's stages for ``task``: the sources in order, then the target."""
        if values is None:
            values = self.option_values(task)
        corpora = [s for s in task.sources if s.train.corpus != task.target.train.corpus]
        splits = [*corpora, task.target]
        count = len(splits)
        epochs = per_stage(task, "epochs", values["epochs"], count, [float(EPOCHS.default)] * count)
        lrs = per_stage(task, "lr", values["lr"], count, [DEFAULT_LRS[0]] + [DEFAULT_LRS[1]] * (count - 1))
        freeze = values["freeze"]
        if freeze < 0:
            key, raw = _as_given(task, "freeze", freeze)
            raise OptionError(f"--option {key}={raw}: expected a number of layers, 0 or more")
        return [
            Stage(
                split.train.corpus,
                (split.train.X, split.train.y),
                (split.val.X, split.val.y),
                int(epochs[k]),
                lrs[k],
                freeze if k > 0 else 0,
            )
            for k, split in enumerate(splits)
        ]

    def run(self, task: TransferTask) -> np.ndarray:
        self._info = {}
        values = self.option_values(task)
        stages = self.stages(task, values)
        model = new_model(task, values)
        records = run_cascade(model, stages, task.num_classes, task.seed)
        self._info = {"device": str(model_device(model)), "stages": [r.summary() for r in records]}
        for k, record in enumerate(records):  # a corpus can come twice: the stage's number keeps them apart
            task.report_curve(
                f"stage {k + 1}: {record.corpus}",
                x="epoch",
                val_uar=[r.val_uar for r in record.history],
                train_loss=[r.train_loss for r in record.history],
            )
        # the model predicts with the last stage's selection, made on the target's validation rows
        task.report_validation(records[-1].best_val_uar, on="target validation")
        return predict(model, task.target.test.X)

    def info(self) -> dict[str, Any]:
        return dict(self._info)


class Pooled(Method):
    name = "pooled"
    description = "MLP trained once on the sources and the target's training speakers pooled"
    options = MLP_OPTIONS

    def __init__(self) -> None:
        self._info: dict[str, Any] = {}

    def run(self, task: TransferTask) -> np.ndarray:
        self._info = {}
        values = self.option_values(task)
        target = task.target
        parts = [target.train] + [s.train for s in task.sources if s.train.corpus != target.train.corpus]
        model = new_model(task, values)
        result = train_classifier(
            model,
            (np.concatenate([p.X for p in parts]), np.concatenate([p.y for p in parts])),
            (target.val.X, target.val.y),
            num_classes=task.num_classes,
            seed=task.seed,
            epochs=values["epochs"],
            lr=values["lr"],
        )
        task.report_validation(result.best_val_uar, on="target validation")
        self._info = {"device": str(model_device(model))}
        return predict(model, target.test.X)

    def info(self) -> dict[str, Any]:
        return dict(self._info)
