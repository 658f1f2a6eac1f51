"""Scores of one prediction and their aggregation over seeds (scikit-learn does the arithmetic).

UAR (unweighted average recall, scikit-learn's balanced accuracy) comes first: emotion corpora are
imbalanced, and WA (plain accuracy) rewards predicting the majority class.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

METRIC_NAMES = ("uar", "wa", "macro_f1")


@dataclass(frozen=True)
class Scores:
    """Scores of one prediction on one test split."""

    uar: float
    wa: float
    macro_f1: float
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def score(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> Scores:
    """UAR, WA, macro-F1 and the confusion matrix over classes ``0 .. num_classes-1``.

    Classes absent from ``y_true`` are left out of UAR (as balanced accuracy defines it) but keep
    their row and column in the confusion matrix, so matrices of different seeds add up.
    """
    # imported here: reading a result file (emokit report, compare) needs no scikit-learn
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must be 1-D of one length, got {y_true.shape} and {y_pred.shape}"
        )
    if len(y_true) == 0:
        raise ValueError("cannot score an empty test split")
    labels = list(range(num_classes))
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.min() < 0 or y.max() >= num_classes:
            raise ValueError(f"{name} has class indices outside [0, {num_classes})")
    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true" is expected with a small test split
        warnings.simplefilter("ignore", UserWarning)
        uar = balanced_accuracy_score(y_true, y_pred)
    return Scores(
        uar=float(uar),
        wa=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(
            f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro", zero_division=0)
        ),
        confusion=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        n=len(y_true),
    )


@dataclass(frozen=True)
class Summary:
    """Mean and (sample) standard deviation of a metric over seeds."""

    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{100 * self.mean:.1f} ± {100 * self.std:.1f}"


def summarise(values: list[float]) -> Summary:
    """Mean ± sample std (ddof=1; 0 for a single value) of per-seed scores."""
    if not values:
        raise ValueError("no values to summarise")
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return Summary(mean=float(arr.mean()), std=std, n=len(arr))
