"""The baselines every transfer method is compared against.

- ``source-only``: an MLP trained on the source corpora, selected on their validation speakers,
  applied to the target (no target labels).
- ``target-only``: the same MLP trained on the target's training speakers only.
- ``finetune``: the MLP trained on the sources, then every layer fine-tuned on the target's
  training speakers with a lower learning rate (selection on the target's validation speakers).
- ``svm``: an RBF support-vector machine (scikit-learn) trained on the sources, its C chosen on the
  sources' validation speakers: the classic cross-corpus baseline of the SER literature.

The features arrive normalised by the runner (``--norm``, see :mod:`emokit.bench.normalisation`;
per corpus by default, which removes channel and speaker-pool offsets), so the methods use them as
they are: every method of a run sees the same inputs.

Options (``--option KEY=VALUE`` for every method that takes it, ``--option METHOD.KEY=VALUE`` for
one), declared in :attr:`Method.options`: the MLP methods take ``epochs`` (150), ``lr`` (1e-3),
``hidden`` (``256x128``) and ``dropout`` (0.3), ``finetune`` also ``finetune_lr`` (3e-4); ``svm``
takes ``svm_c`` (the grid of C, ``0.1,1,10``).

The MLP methods train and predict on ``TransferTask.device`` (``emokit bench --device``); ``svm``
is scikit-learn's and always runs on the CPU. Each method's ``info()`` records the device it ran on.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from sklearn.svm import SVC
from torch import nn

from emokit.api import (
    MLP_OPTIONS,
    Method,
    MethodOption,
    TrainResult,
    TransferTask,
    mlp_from_options,
    model_device,
    positive_numbers,
    predict,
    seed_everything,
    source_views,
    torch_device,
    train_classifier,
    uar,
)

FINETUNE_LR = MethodOption("finetune_lr", float, 3e-4, "learning rate of the fine-tuning stage on the target")
SVM_C = MethodOption(
    "svm_c",
    positive_numbers,
    (0.1, 1.0, 10.0),
    "the values of C tried; the best on the sources' validation speakers is kept",
    expects="positive numbers separated by commas, e.g. 0.1,1,10",
)


class SourceModels:
    """The MLPs trained on the sources, remembered by what determines them (the sources' rows, the
    options, the seed, the device they were trained on), so that ``source-only`` and ``finetune``
    train each one once per repeat rather than once per target fold and budget. Training is seeded,
    so a remembered model is bitwise the one a fresh training would give (a model trained on one
    device is never handed to a cell on another)."""

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self._models: OrderedDict[str, tuple[dict[str, Any], TrainResult]] = OrderedDict()
        self.hits = 0

    @staticmethod
    def key(arrays: tuple[np.ndarray, ...], settings: tuple) -> str:
        digest = hashlib.sha256(repr(settings).encode())
        for array in arrays:
            array = np.ascontiguousarray(array)
            digest.update(repr((array.dtype.str, array.shape)).encode())
            digest.update(array.tobytes())
        return digest.hexdigest()

    def get(self, key: str) -> tuple[dict[str, Any], TrainResult] | None:
        entry = self._models.get(key)
        if entry is not None:
            self._models.move_to_end(key)
            self.hits += 1
            return copy.deepcopy(entry[0]), entry[1]
        return None

    def put(self, key: str, state: dict[str, Any], result: TrainResult) -> None:
        self._models[key] = (copy.deepcopy(state), result)
        while len(self._models) > self.capacity:
            self._models.popitem(last=False)


#: shared by the MLP baselines of one process
SOURCE_MODELS = SourceModels()


class _MLPMethod(Method):
    """Shared plumbing: build the MLP on the task's device and train it with the shared loop."""

    options = MLP_OPTIONS

    def __init__(self) -> None:
        self._info: dict[str, Any] = {}

    def info(self) -> dict[str, Any]:
        return dict(self._info)

    def _ran(self, model: nn.Module) -> None:
        """Record the facts of the run that trained ``model``."""
        self._info = {"device": str(model_device(model))}

    def _train(
        self,
        task: TransferTask,
        values: dict[str, Any],
        train: tuple[np.ndarray, np.ndarray],
        val: tuple[np.ndarray, np.ndarray],
        *,
        lr: float,
        model: nn.Module | None = None,
        seed_offset: int = 0,
        source_stage: bool = False,
    ) -> tuple[nn.Module, TrainResult]:
        """Train ``model`` (default: a fresh MLP on ``task.device``) on ``train``, selecting on ``val``."""
        device = torch_device(task.device)
        if model is None and source_stage:
            key = SOURCE_MODELS.key(
                (*train, *val),
                (
                    str(device),
                    task.seed + seed_offset,
                    task.num_classes,
                    lr,
                    values["epochs"],
                    values["hidden"],
                    values["dropout"],
                ),
            )
            remembered = SOURCE_MODELS.get(key)
            if remembered is not None:
                model = mlp_from_options(train[0].shape[1], task.num_classes, values).to(device)
                model.load_state_dict(remembered[0])
                model.eval()
                return model, remembered[1]
            model, result = self._train(task, values, train, val, lr=lr, seed_offset=seed_offset)
            SOURCE_MODELS.put(key, model.state_dict(), result)
            return model, result
        if model is None:
            seed_everything(task.seed + seed_offset)  # the initial weights are part of the seeded run
            # initialised on the CPU (the same draws whatever the device), then moved
            model = mlp_from_options(train[0].shape[1], task.num_classes, values).to(device)
        result = train_classifier(
            model,
            train,
            val,
            num_classes=task.num_classes,
            seed=task.seed + seed_offset,
            epochs=values["epochs"],
            lr=lr,
        )
        return model, result

    @staticmethod
    def _curve(task: TransferTask, name: str, result: TrainResult) -> None:
        """Record the validation UAR and training loss by epoch of one training (``emokit plot``)."""
        task.report_curve(
            name,
            x="epoch",
            val_uar=[r.val_uar for r in result.history],
            train_loss=[r.train_loss for r in result.history],
        )

    def _train_on_target(
        self,
        task: TransferTask,
        values: dict[str, Any],
        *,
        lr: float,
        model: nn.Module | None = None,
        seed_offset: int = 0,
    ) -> np.ndarray:
        """Train (or go on training ``model``) on the target's training speakers, selecting on its
        validation speakers; return predictions for its test speakers."""
        t = task.target
        model, result = self._train(
            task,
            values,
            (t.train.X, t.train.y),
            (t.val.X, t.val.y),
            lr=lr,
            model=model,
            seed_offset=seed_offset,
        )
        task.report_validation(result.best_val_uar, on="target validation")
        self._curve(task, "target", result)
        self._ran(model)
        return predict(model, t.test.X)


class SourceOnly(_MLPMethod):
    name = "source-only"
    description = "MLP trained on the source corpora only (no target labels), applied to the target"
    uses_target_labels = False

    def run(self, task: TransferTask) -> np.ndarray:
        self._info = {}
        values = self.option_values(task)
        Xtr, ytr, Xva, yva = source_views(task)
        model, result = self._train(task, values, (Xtr, ytr), (Xva, yva), lr=values["lr"], source_stage=True)
        task.report_validation(result.best_val_uar, on="source validation")
        self._curve(task, "source", result)
        self._ran(model)
        return predict(model, task.target.test.X)


class TargetOnly(_MLPMethod):
    name = "target-only"
    description = "MLP trained on the target's training speakers only (no transfer)"

    def run(self, task: TransferTask) -> np.ndarray:
        self._info = {}
        values = self.option_values(task)
        return self._train_on_target(task, values, lr=values["lr"])


class FineTune(_MLPMethod):
    name = "finetune"
    description = "MLP trained on the sources, then fine-tuned on the target's training speakers"
    options = (*MLP_OPTIONS, FINETUNE_LR)

    def run(self, task: TransferTask) -> np.ndarray:
        self._info = {}
        values = self.option_values(task)
        Xs, ys, Xsv, ysv = source_views(task)
        model, source = self._train(task, values, (Xs, ys), (Xsv, ysv), lr=values["lr"], source_stage=True)
        self._curve(task, "source", source)
        # the prediction comes from the fine-tuned model, so its target selection is what is reported
        return self._train_on_target(task, values, lr=values["finetune_lr"], model=model, seed_offset=1)


class SourceSVM(Method):
    """scikit-learn's SVC: it runs on the CPU whatever ``task.device`` is, and its ``info()`` says so."""

    name = "svm"
    description = "RBF SVM (scikit-learn) trained on the sources, C chosen on their validation speakers"
    uses_target_labels = False
    options = (SVM_C,)

    def __init__(self) -> None:
        self._info: dict[str, Any] = {}

    def info(self) -> dict[str, Any]:
        return dict(self._info)

    def run(self, task: TransferTask) -> np.ndarray:
        self._info = {}
        values = self.option_values(task)
        Xtr, ytr, Xva, yva = source_views(task)
        best, best_uar = None, -1.0
        for c in values["svm_c"]:
            model = SVC(C=c, kernel="rbf", gamma="scale", class_weight="balanced", random_state=task.seed)
            model.fit(Xtr, ytr)
            score = uar(yva, model.predict(Xva))
            if score > best_uar:
                best, best_uar = model, score
        assert best is not None
        task.report_validation(best_uar, on="source validation", C=best.C)
        self._info = {"device": "cpu"}
        if torch.device(task.device).type != "cpu":
            self._info["note"] = f"svm: scikit-learn runs on the CPU (not on {task.device})"
        return best.predict(task.target.test.X).astype(np.int64)
