"""The baseline methods on synthetic tasks: they learn, they respect what they may see."""

from __future__ import annotations

import numpy as np
import pytest

from emokit.bench import CorpusSplits, SplitData, TransferTask
from emokit.registry import Registry


def _split(rng: np.random.Generator, corpus: str, n: int, offset: float, scale: float) -> SplitData:
    y = np.arange(n) % 3
    centres = np.eye(3, 8) * 3.0
    X = (centres[y] + rng.normal(size=(n, 8))) * scale + offset
    return SplitData(
        corpus, X.astype(np.float32), y.astype(np.int64), np.array(["s"] * n), np.arange(n).astype(str)
    )


def _task(method_options: dict | None = None, seed: int = 0) -> TransferTask:
    rng = np.random.default_rng(seed)
    # the target is the source's problem seen through another "channel": shifted and rescaled
    source = CorpusSplits(train=_split(rng, "a", 90, 0.0, 1.0), val=_split(rng, "a", 30, 0.0, 1.0))
    target = CorpusSplits(
        train=_split(rng, "b", 60, 5.0, 2.0),
        val=_split(rng, "b", 30, 5.0, 2.0),
        test=_split(rng, "b", 60, 5.0, 2.0),
    )
    return TransferTask(
        classes=["anger", "happiness", "sadness"],
        sources=[source],
        target=target,
        modality="audio",
        seed=seed,
        options={"epochs": "30", **(method_options or {})},
    )


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


@pytest.mark.parametrize("name", ["source-only", "target-only", "finetune", "svm"])
def test_baselines_learn_a_separable_problem(registry: Registry, name: str) -> None:
    task = _task()
    predictions = registry.method(name).run(task)
    assert predictions.shape == task.target.test.y.shape
    assert (predictions == task.target.test.y).mean() > 0.8


@pytest.mark.parametrize("name", ["source-only", "svm"])
def test_source_methods_never_read_target_labels(registry: Registry, name: str) -> None:
    task = _task()
    expected = registry.method(name).run(task)
    shuffled = _task()
    for part in (shuffled.target.train, shuffled.target.val, shuffled.target.test):
        part.y = np.random.default_rng(1).permutation(part.y)
    assert np.array_equal(registry.method(name).run(shuffled), expected)


def test_per_corpus_normalisation_removes_a_channel_offset(registry: Registry) -> None:
    corpus = registry.method("svm").run(_task({"norm": "corpus"}))
    strict = registry.method("svm").run(_task({"norm": "source"}))
    y = _task().target.test.y
    assert (corpus == y).mean() > 0.8
    assert (strict == y).mean() < (corpus == y).mean()


def test_bad_options_are_named(registry: Registry) -> None:
    with pytest.raises(ValueError, match=r"option norm='speaker': expected one of corpus, source"):
        registry.method("source-only").run(_task({"norm": "speaker"}))
    with pytest.raises(ValueError, match="option hidden='big'"):
        registry.method("target-only").run(_task({"hidden": "big"}))
