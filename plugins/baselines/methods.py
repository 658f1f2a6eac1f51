"""The baselines every transfer method is compared against.

- ``source-only``: an MLP trained on the source corpora, selected on their validation speakers,
  applied to the target (no target labels).
- ``target-only``: the same MLP trained on the target's training speakers only.
- ``finetune``: the MLP trained on the sources, then every layer fine-tuned on the target's
  training speakers with a lower learning rate (selection on the target's validation speakers).
- ``svm``: an RBF support-vector machine (scikit-learn) trained on the sources, its C chosen on the
  sources' validation speakers: the classic cross-corpus baseline of the SER literature.

Feature normalisation (``--option norm=...``):

- ``corpus`` (default): each corpus is z-scored with the statistics of its own training
  speakers' features (no labels), the standard strategy of cross-corpus speech emotion
  recognition (Schuller et al., 2010): it removes channel and speaker-pool offsets. The target's
  test speakers are never used, not even unlabelled.
- ``source``: one scaler fitted on the source training rows is applied to the target as is (the
  strict variant that sees no target data at all).

Other options: ``epochs``, ``lr``, ``hidden`` (e.g. ``256x128``), ``dropout``, ``finetune_lr``,
``svm_c`` (comma-separated grid).
"""

from __future__ import annotations

import numpy as np
from sklearn.svm import SVC

from emokit.bench import Method, TransferTask
from emokit.bench.task import SplitData
from emokit.training import (
    Standardizer,
    mlp_from_options,
    predict,
    seed_everything,
    train_classifier,
    uar,
)


def _stack(parts: list[SplitData]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p.X for p in parts]), np.concatenate([p.y for p in parts])


NORMALISATIONS = ("corpus", "source")


def _norm(task: TransferTask) -> str:
    value = str(task.options.get("norm", "corpus"))
    if value not in NORMALISATIONS:
        raise ValueError(f"option norm={value!r}: expected one of {', '.join(NORMALISATIONS)}")
    return value


def source_views(task: TransferTask) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Standardizer]:
    """Source train X, y and validation X, y, normalised per ``norm``, and the target's scaler."""
    if _norm(task) == "source":
        Xtr, ytr = _stack([s.train for s in task.sources])
        Xva, yva = _stack([s.val for s in task.sources])
        scaler = Standardizer().fit(Xtr)
        return scaler.transform(Xtr), ytr, scaler.transform(Xva), yva, scaler
    train_parts, val_parts = [], []
    for source in task.sources:
        scaler = Standardizer().fit(source.train.X)
        train_parts.append((scaler.transform(source.train.X), source.train.y))
        val_parts.append((scaler.transform(source.val.X), source.val.y))
    Xtr = np.concatenate([x for x, _ in train_parts])
    Xva = np.concatenate([x for x, _ in val_parts])
    ytr = np.concatenate([y for _, y in train_parts])
    yva = np.concatenate([y for _, y in val_parts])
    return Xtr, ytr, Xva, yva, Standardizer().fit(task.target.train.X)


class _MLPMethod(Method):
    """Shared plumbing: standardise on the training rows, build and train the MLP."""

    def _train(
        self,
        task: TransferTask,
        train: tuple[np.ndarray, np.ndarray],
        val: tuple[np.ndarray, np.ndarray],
        *,
        lr: float,
        model=None,
        seed_offset: int = 0,
    ):
        if model is None:
            seed_everything(task.seed + seed_offset)  # the initial weights are part of the seeded run
            model = mlp_from_options(train[0].shape[1], task.num_classes, task.options)
        train_classifier(
            model,
            train,
            val,
            num_classes=task.num_classes,
            seed=task.seed + seed_offset,
            epochs=int(task.options.get("epochs", 150)),
            lr=lr,
        )
        return model

    def _train_on_target(
        self, task: TransferTask, *, lr: float, model=None, seed_offset: int = 0
    ) -> np.ndarray:
        """Train (or go on training ``model``) on the target's training speakers, selecting on its
        validation speakers; return predictions for its test speakers.

        The target is z-scored with its own training statistics, so a network trained on the
        sources sees inputs on the scale it learned, whatever the target's channel did to them.
        """
        t = task.target
        scaler = Standardizer().fit(t.train.X)
        model = self._train(
            task,
            (scaler.transform(t.train.X), t.train.y),
            (scaler.transform(t.val.X), t.val.y),
            lr=lr,
            model=model,
            seed_offset=seed_offset,
        )
        return predict(model, scaler.transform(t.test.X))


class SourceOnly(_MLPMethod):
    name = "source-only"
    description = "MLP trained on the source corpora only (no target labels), applied to the target"
    uses_target_labels = False

    def run(self, task: TransferTask) -> np.ndarray:
        Xtr, ytr, Xva, yva, target_scaler = source_views(task)
        model = self._train(task, (Xtr, ytr), (Xva, yva), lr=float(task.options.get("lr", 1e-3)))
        return predict(model, target_scaler.transform(task.target.test.X))


class TargetOnly(_MLPMethod):
    name = "target-only"
    description = "MLP trained on the target's training speakers only (no transfer)"

    def run(self, task: TransferTask) -> np.ndarray:
        return self._train_on_target(task, lr=float(task.options.get("lr", 1e-3)))


class FineTune(_MLPMethod):
    name = "finetune"
    description = "MLP trained on the sources, then fine-tuned on the target's training speakers"

    def run(self, task: TransferTask) -> np.ndarray:
        Xs, ys, Xsv, ysv, _ = source_views(task)
        model = self._train(task, (Xs, ys), (Xsv, ysv), lr=float(task.options.get("lr", 1e-3)))
        return self._train_on_target(
            task, lr=float(task.options.get("finetune_lr", 3e-4)), model=model, seed_offset=1
        )


class SourceSVM(Method):
    name = "svm"
    description = "RBF SVM (scikit-learn) trained on the sources, C chosen on their validation speakers"
    uses_target_labels = False

    def run(self, task: TransferTask) -> np.ndarray:
        Xtr, ytr, Xva, yva, target_scaler = source_views(task)
        grid = [float(c) for c in str(task.options.get("svm_c", "0.1,1,10")).split(",")]
        best, best_uar = None, -1.0
        for c in grid:
            model = SVC(C=c, kernel="rbf", gamma="scale", class_weight="balanced", random_state=task.seed)
            model.fit(Xtr, ytr)
            score = uar(yva, model.predict(Xva))
            if score > best_uar:
                best, best_uar = model, score
        assert best is not None
        return best.predict(target_scaler.transform(task.target.test.X)).astype(np.int64)
