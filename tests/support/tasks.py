"""Hand-built tasks with a known domain shift, for the method tests that depend on it.

The target is the source's problem seen through another "channel" (shifted and rescaled), so a
method that normalises per corpus sees it and one that does not is lost; ``runner_view`` hands a
task over as the runner does. Contract tests use emokit.testing's make_task instead.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from emokit.api import CorpusSplits, SplitData, TransferTask
from emokit.methods.normalisation import normalise_task


def shifted_split(rng: np.random.Generator, corpus: str, n: int, offset: float, scale: float) -> SplitData:
    y = np.arange(n) % 3
    centres = np.eye(3, 8) * 3.0
    X = (centres[y] + rng.normal(size=(n, 8))) * scale + offset
    return SplitData(
        corpus, X.astype(np.float32), y.astype(np.int64), np.array(["s"] * n), np.arange(n).astype(str)
    )


def shifted_task(method_options: dict | None = None, seed: int = 0) -> TransferTask:
    """A labelled task as built by hand (raw features, every label readable)."""
    rng = np.random.default_rng(seed)
    # the target is the source's problem seen through another "channel": shifted and rescaled
    source = CorpusSplits(
        train=shifted_split(rng, "a", 90, 0.0, 1.0), val=shifted_split(rng, "a", 30, 0.0, 1.0)
    )
    target = CorpusSplits(
        train=shifted_split(rng, "b", 60, 5.0, 2.0),
        val=shifted_split(rng, "b", 30, 5.0, 2.0),
        test=shifted_split(rng, "b", 60, 5.0, 2.0),
    )
    return TransferTask(
        classes=["anger", "happiness", "sadness"],
        sources=[source],
        target=target,
        modality="audio",
        seed=seed,
        options={"epochs": "30", **(method_options or {})},
    )


def runner_view(task: TransferTask, *, norm: str = "corpus", target_labels: bool = True) -> TransferTask:
    """``task`` as the runner hands it to a method: normalised by ``norm``, the target's test labels
    withheld, and with ``target_labels=False`` (a source-only method) every target label withheld."""
    task = normalise_task(task, norm)
    t = task.target
    assert t.test is not None
    if target_labels:
        target = CorpusSplits(t.train, t.val, t.test.without_labels("test labels"))
    else:
        target = CorpusSplits(*(s.without_labels("source-only method") for s in (t.train, t.val, t.test)))
    return replace(task, target=target)
