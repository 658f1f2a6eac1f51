"""Synthetic tasks for method tests: :func:`make_task`, and :func:`as_runner_gives` (the runner's view)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from math import prod
from typing import Any

import numpy as np

from emokit.api import (
    COMMON_LABELS,
    CorpusSplits,
    Method,
    SplitData,
    TransferTask,
    normalise_task,
)


# -- tasks --------------------------------------------------------------------------------------------
def _rows(
    rng: np.random.Generator,
    corpus: str,
    part: str,
    n: int,
    classes: int,
    dim: int,
    layout: Mapping[str, tuple[int, ...]] | None,
    shift: float,
    speakers: Sequence[str],
) -> SplitData:
    """``n`` class-balanced rows whose class shows as a raised block of each part of the vector."""
    y = np.arange(n) % classes
    X = rng.normal(size=(n, dim))
    parts = [prod(shape) for shape in layout.values()] if layout else [dim]
    start = 0
    for size in parts:
        block = max(size // classes, 1)
        for c in range(classes):
            X[y == c, start + c * block : start + min((c + 1) * block, size)] += 3.0
        start += size
    X = X * (1.0 + shift / 2) + shift  # the target's features live on another scale and offset
    who = np.array([speakers[i % len(speakers)] for i in range(n)])
    ids = np.array([f"{corpus}-{part}-{i:03d}" for i in range(n)])
    return SplitData(corpus, X.astype(np.float32), y.astype(np.int64), who, ids, part=part)


def make_task(
    *,
    classes: Sequence[str] = ("anger", "happiness", "sadness"),
    sources: int = 1,
    dim: int = 8,
    layout: Mapping[str, tuple[int, ...]] | None = None,
    modality: str = "audio",
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
    source_rows: tuple[int, int] = (60, 24),
    target_rows: tuple[int, int, int] = (48, 24, 36),
    shift: float = 2.0,
) -> TransferTask:
    """A small synthetic :class:`TransferTask` with every label readable (hand it to a method
    through :func:`as_runner_gives`, which withholds what the runner withholds).

    Each corpus has its own speakers, disjoint between train, validation and test, as the
    runner's splits have. The classes are separable; the target's features are shifted and
    rescaled (``shift``) so that a method that ignores normalisation sees a domain gap.

    Args:
        classes: common labels, in canonical order.
        sources: how many source corpora (``src1``, ``src2``, ...); the target is ``tgt``.
        dim: feature length (ignored when ``layout`` is given: the sum of its parts' sizes).
        layout: parts of the vector and their shapes, as an extractor's ``layout()`` gives them
            (e.g. ``{"face": (1, 16, 16), "logmel": (1, 16, 32)}``) for methods that need one.
        options: the method options (``--option`` keys and values).
        source_rows: rows of each source's train and validation splits.
        target_rows: rows of the target's train, validation and test splits.
    """
    if list(classes) != [c for c in COMMON_LABELS if c in classes]:
        raise ValueError(f"make_task: classes {list(classes)} must be common labels in canonical order")
    if layout is not None:
        dim = sum(prod(shape) for shape in layout.values())
    rng = np.random.default_rng(seed)
    k = len(classes)

    def corpus(name: str, rows: Sequence[int], parts: Sequence[str], gap: float) -> list[SplitData]:
        return [
            _rows(rng, name, part, n, k, dim, layout, gap, [f"{name}-{part}-s{j}" for j in range(2)])
            for part, n in zip(parts, rows, strict=True)
        ]

    splits = [corpus(f"src{i + 1}", source_rows, ("train", "val"), 0.0) for i in range(sources)]
    target = corpus("tgt", target_rows, ("train", "val", "test"), shift)
    return TransferTask(
        classes=list(classes),
        sources=[CorpusSplits(train, val) for train, val in splits],
        target=CorpusSplits(*target),
        modality=modality,
        seed=seed,
        options=dict(options or {}),
        feature_layout=dict(layout) if layout is not None else None,
    )


def as_runner_gives(
    task: TransferTask, method: Method, *, norm: str = "corpus", unlabelled_share: float = 0.25
) -> TransferTask:
    """``task`` as ``emokit bench`` hands it to ``method``.

    The features are normalised by ``norm`` (as extracted for a method with ``raw_features``); a
    share of each class's target training rows is moved to :attr:`TransferTask.unlabelled_target`
    (a target budget below 100%); the target's test labels are withheld; and for a method that
    declares ``uses_target_labels = False`` every target label is withheld.
    """
    t = task.target
    if t.test is None:
        raise ValueError("as_runner_gives: the task's target has no test split")
    y = t.train.y
    outside = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        outside[rows[len(rows) - int(len(rows) * unlabelled_share) :]] = True

    def rows_of(split: SplitData, mask: np.ndarray) -> SplitData:
        return SplitData(
            split.corpus, split.X[mask], split.y[mask], split.speakers[mask], split.ids[mask], part=split.part
        )

    train = rows_of(t.train, ~outside)
    unlabelled = (
        rows_of(t.train, outside).without_labels("outside the target budget") if outside.any() else None
    )
    staged = replace(task, target=CorpusSplits(train, t.val, t.test), unlabelled_target=unlabelled)
    staged = normalise_task(staged, "none" if method.raw_features else norm)
    s = staged.target
    assert s.test is not None
    test = s.test.without_labels("the runner scores the test split")
    if method.uses_target_labels:
        target = CorpusSplits(s.train, s.val, test)
    else:
        why = f"{method.name} declares that it uses no target labels"
        target = CorpusSplits(s.train.without_labels(why), s.val.without_labels(why), test)
        staged = replace(staged, unlabelled_target=None)
    return replace(staged, target=target, options=dict(task.options))
