"""Small-network training utilities shared by the method plugins.

Every method trains with the same loop so that differences in results come from the transfer
method, not from one method getting a better optimiser. Model selection keeps the epoch with the
best validation UAR (never a test score), with early stopping on the same quantity.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score
from torch import nn

from emokit.methods.options import MethodOption


def torch_device(name: str | torch.device | None = None) -> torch.device:
    """``name`` (``TransferTask.device``: ``"cpu"``, ``"cuda"``, ``"cuda:1"``) as a ``torch.device``,
    with a bare ``cuda`` resolved to the current CUDA device (``cuda:0`` unless set otherwise), so
    that it names the device a method actually runs on (for ``info()`` and cache keys)."""
    device = torch.device("cpu" if name is None else name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s parameters (or buffers); CPU for a model that has neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (every device); return a CPU torch generator seeded the same way.

    Methods draw their permutations from that CPU generator whatever device they train on, and move
    the result there: the draws, and so the CPU results, do not depend on the device."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class Standardizer:
    """Per-feature z-scoring fitted on training rows only (never on test rows)."""

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> Standardizer:
        X = np.asarray(X, dtype=np.float64)
        self.mean = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale = np.where(std > 1e-8, std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.mean is None or self.scale is None:
            raise RuntimeError("Standardizer.transform called before fit")
        return ((np.asarray(X, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)


def mlp_widths(value: str | int | Sequence[int]) -> tuple[int, ...]:
    """Hidden-layer widths: ``"256x128"`` as typed on the command line, or already a sequence.

    Raises:
        ValueError: not whole positive numbers joined by ``x``.
    """
    if isinstance(value, str):
        widths = tuple(int(w) for w in value.strip().split("x") if w.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        widths = (value,)
    else:
        widths = tuple(int(w) for w in value)
    if any(w < 1 for w in widths):
        raise ValueError(f"widths must be positive, got {value!r}")
    return widths


# The options of every method that trains emokit's MLP (the baselines, ``cascade``, ``pooled``):
# declared once so that ``epochs=50`` means the same to each of them.
EPOCHS = MethodOption(
    "epochs", int, 150, "training epochs at most (early stopping after 25 without a better validation UAR)"
)
LR = MethodOption("lr", float, 1e-3, "Adam's learning rate")
HIDDEN = MethodOption(
    "hidden",
    mlp_widths,
    (256, 128),
    "hidden-layer widths of the MLP",
    expects="widths joined by 'x', e.g. 256x128",
    default_text="256x128",
)
DROPOUT = MethodOption("dropout", float, 0.3, "dropout after each hidden layer of the MLP")
MLP_OPTIONS = (EPOCHS, LR, HIDDEN, DROPOUT)


def make_mlp(
    in_features: int,
    num_classes: int,
    hidden: Sequence[int] = HIDDEN.default,
    dropout: float = DROPOUT.default,
) -> nn.Sequential:
    """An MLP classifier: ``hidden`` ReLU layers with dropout, then a linear head (last module)."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def mlp_from_options(in_features: int, num_classes: int, options: Mapping[str, Any]) -> nn.Sequential:
    """:func:`make_mlp` sized by the options :data:`HIDDEN` and :data:`DROPOUT`.

    ``options`` is a method's option values (typed, as :meth:`Method.option_values` gives them) or
    raw strings; a missing key takes the declared default, a bad value raises
    :class:`~emokit.options.OptionError` naming the option.
    """
    hidden = HIDDEN.parse(options.get(HIDDEN.name, HIDDEN.default))
    dropout = DROPOUT.parse(options.get(DROPOUT.name, DROPOUT.default))
    return make_mlp(in_features, num_classes, hidden, dropout)


@dataclass
class EpochRecord:
    """One epoch of :func:`train_classifier`: the mean training loss (the extra term included) and
    the validation UAR it was selected on."""

    epoch: int
    train_loss: float
    val_uar: float


@dataclass
class TrainResult:
    """What :func:`train_classifier` selected, and the epochs it ran (``history``)."""

    best_epoch: int
    best_val_uar: float
    epochs_run: int
    history: list[EpochRecord] = field(default_factory=list)


@dataclass
class TrainStep:
    """What an ``extra_loss`` of :func:`train_classifier` sees at one optimisation step.

    Attributes:
        model: the model being trained (in training mode).
        inputs, labels: the labelled batch, on the model's device.
        logits: ``model(inputs)``, already computed (reuse it rather than running the model again).
        unlabelled: a batch of the unlabelled stream (``None`` without one), as many rows as
            ``inputs``, on the model's device. The stream is cycled: each epoch goes through the
            labelled rows once and through as many unlabelled rows, reshuffled each time round.
        epoch, step: the epoch (from 0) and the step within the whole run (from 0), e.g. to ramp a
            weight up as DANN-style methods do.
    """

    model: nn.Module
    inputs: torch.Tensor
    labels: torch.Tensor
    logits: torch.Tensor
    unlabelled: torch.Tensor | None
    epoch: int
    step: int


class _Cycle:
    """Batches of ``rows`` drawn without replacement, reshuffled whenever they run out."""

    def __init__(self, rows: torch.Tensor, generator: torch.Generator) -> None:
        self.rows = rows
        self.generator = generator
        self.order = torch.zeros(0, dtype=torch.long)
        self.position = 0

    def take(self, n: int) -> torch.Tensor:
        picks = []
        while n > 0:
            if self.position >= len(self.order):
                self.order = torch.randperm(len(self.rows), generator=self.generator)
                self.position = 0
            chunk = self.order[self.position : self.position + n]
            self.position += len(chunk)
            n -= len(chunk)
            picks.append(chunk)
        return self.rows[torch.cat(picks).to(self.rows.device)]


def class_weights(y: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency class weights (classes absent from ``y`` get weight 0)."""
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
    return torch.as_tensor(weights, dtype=torch.float32)


@torch.no_grad()
def predict(model: nn.Module, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class indices predicted by ``model`` (on its own device) for rows of ``X``, as a NumPy array."""
    model.eval()
    device = model_device(model)
    out = []
    for start in range(0, len(X), batch_size):
        xb = torch.as_tensor(X[start : start + batch_size], dtype=torch.float32).to(device)
        out.append(model(xb).argmax(dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted average recall (balanced accuracy)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y_true, y_pred))


def train_classifier(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    *,
    num_classes: int,
    seed: int,
    epochs: int = EPOCHS.default,
    lr: float = LR.default,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    patience: int = 25,
    parameters: Sequence[nn.Parameter] | None = None,
    extra_loss: Callable[[TrainStep], torch.Tensor] | None = None,
    unlabelled: np.ndarray | None = None,
) -> TrainResult:
    """Train ``model`` with Adam and class-balanced cross-entropy; keep the best-validation-UAR epoch.

    Args:
        model: maps ``[n, d]`` float32 to ``[n, num_classes]`` logits; trained in place, on the
            device it is on (the batches go there), and left holding the weights of the selected epoch.
        train, val: ``(X, y)`` pairs; ``y`` are class indices.
        parameters: what to optimise (default: every parameter of ``model``), e.g. to freeze layers.
        patience: stop after this many epochs without a better validation UAR.
        extra_loss: a term added to the cross-entropy at every step, given the :class:`TrainStep`
            (e.g. a CORAL or MMD distance between the labelled batch's and the unlabelled batch's
            features); it must return a scalar tensor that gradients flow through.
        unlabelled: rows ``[m, d]`` without labels (e.g. the target's training rows, for domain
            adaptation), fed to ``extra_loss`` batch by batch as :attr:`TrainStep.unlabelled`.
            Their order comes from a generator of its own, so giving them does not change the
            order of the labelled batches.

    The labelled batches, and so a run without ``extra_loss`` and ``unlabelled``, are the same
    for the same ``seed``.
    """
    Xtr, ytr = train
    Xva, yva = val
    if len(ytr) == 0:
        raise ValueError("no training rows")
    if len(yva) == 0:
        raise ValueError("no validation rows: model selection needs a validation split")
    if unlabelled is not None and extra_loss is None:
        raise ValueError("train_classifier: unlabelled rows are only used by an extra_loss; give one")
    if unlabelled is not None and len(unlabelled) == 0:
        raise ValueError("train_classifier: unlabelled holds no rows")
    generator = seed_everything(seed)
    device = model_device(model)
    X = torch.as_tensor(Xtr, dtype=torch.float32).to(device)
    y = torch.as_tensor(ytr, dtype=torch.long).to(device)
    stream = None
    if unlabelled is not None:
        rows = torch.as_tensor(np.asarray(unlabelled), dtype=torch.float32).to(device)
        if rows.ndim != 2 or rows.shape[1] != X.shape[1]:
            raise ValueError(
                f"train_classifier: unlabelled rows have shape {tuple(rows.shape)}; expected "
                f"[m, {X.shape[1]}] like the training rows"
            )
        stream = _Cycle(rows, torch.Generator().manual_seed(seed + 1))
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(ytr, num_classes).to(device))
    params = list(parameters) if parameters is not None else list(model.parameters())
    optimiser = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    best_state = copy.deepcopy(model.state_dict())
    best_uar, best_epoch, since_best = -1.0, -1, 0
    history: list[EpochRecord] = []
    epoch, step = 0, 0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=generator).to(device)  # drawn on the CPU generator
        total, batches = torch.zeros((), device=device), 0  # summed on the device: no sync per step
        for start in range(0, len(y), batch_size):
            batch = order[start : start + batch_size]
            if len(batch) < 2 and len(y) >= 2:
                continue  # a batch of one breaks nothing, but adds only noise
            optimiser.zero_grad()
            inputs, labels = X[batch], y[batch]
            logits = model(inputs)
            loss = loss_fn(logits, labels)
            if extra_loss is not None:
                other = stream.take(len(batch)) if stream is not None else None
                extra = extra_loss(TrainStep(model, inputs, labels, logits, other, epoch, step))
                if not isinstance(extra, torch.Tensor) or extra.numel() != 1:
                    raise TypeError(
                        f"train_classifier: extra_loss returned {type(extra).__name__}"
                        f"{tuple(extra.shape) if isinstance(extra, torch.Tensor) else ''}; expected a "
                        "scalar tensor"
                    )
                loss = loss + extra.reshape(())
            loss.backward()
            optimiser.step()
            total += loss.detach()
            batches += 1
            step += 1
        val_uar = uar(yva, predict(model, Xva))
        history.append(EpochRecord(epoch, float(total) / max(batches, 1), val_uar))
        if val_uar > best_uar:
            best_uar, best_epoch, since_best = val_uar, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
            if since_best >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(best_epoch=best_epoch, best_val_uar=best_uar, epochs_run=epoch + 1, history=history)
