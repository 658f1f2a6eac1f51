"""The baseline methods on synthetic tasks: they learn, they respect what they may see."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from emokit.bench import CorpusSplits, LabelsWithheldError, OptionError, SplitData, TransferTask
from emokit.bench.normalisation import normalise_task
from emokit.registry import Registry


def _split(rng: np.random.Generator, corpus: str, n: int, offset: float, scale: float) -> SplitData:
    y = np.arange(n) % 3
    centres = np.eye(3, 8) * 3.0
    X = (centres[y] + rng.normal(size=(n, 8))) * scale + offset
    return SplitData(
        corpus, X.astype(np.float32), y.astype(np.int64), np.array(["s"] * n), np.arange(n).astype(str)
    )


def _task(method_options: dict | None = None, seed: int = 0) -> TransferTask:
    """A labelled task as built by hand (raw features, every label readable)."""
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


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


@pytest.mark.parametrize("name", ["source-only", "target-only", "finetune", "svm"])
def test_baselines_learn_a_separable_problem(registry: Registry, name: str) -> None:
    method = registry.method(name)
    task = runner_view(_task(), target_labels=method.uses_target_labels)
    y = _task().target.test.y
    predictions = method.run(task)
    assert predictions.shape == y.shape
    assert (predictions == y).mean() > 0.8
    assert task.validation is not None and task.validation["uar"] > 0.8
    expected = "target validation" if method.uses_target_labels else "source validation"
    assert task.validation["on"] == expected


@pytest.mark.parametrize("name", ["source-only", "svm"])
def test_source_methods_never_read_target_labels(registry: Registry, name: str) -> None:
    method = registry.method(name)
    assert not method.uses_target_labels
    labelled = normalise_task(_task(), "corpus")
    withheld = runner_view(_task(), target_labels=False)
    assert not any(s.labelled for s in (withheld.target.train, withheld.target.val, withheld.target.test))
    # it runs without them, and predicts what it predicts when they are there
    assert np.array_equal(method.run(withheld), method.run(labelled))
    # a method that does read them is stopped
    with pytest.raises(LabelsWithheldError, match="the labels of b are withheld from the method"):
        registry.method("target-only").run(withheld)


def test_runner_normalisation_removes_a_channel_offset(registry: Registry) -> None:
    corpus = registry.method("svm").run(runner_view(_task(), norm="corpus", target_labels=False))
    strict = registry.method("svm").run(runner_view(_task(), norm="source", target_labels=False))
    y = _task().target.test.y
    assert (corpus == y).mean() > 0.8
    assert (strict == y).mean() < (corpus == y).mean()


def test_options_are_declared_once_and_bad_ones_named(registry: Registry) -> None:
    finetune = registry.method("finetune")
    values = finetune.option_values(_task({"finetune.lr": "0.01", "hidden": "32x16", "finetune_lr": "1e-4"}))
    assert values == {"epochs": 30, "lr": 0.01, "hidden": (32, 16), "dropout": 0.3, "finetune_lr": 1e-4}
    assert registry.method("svm").option_values(_task({"svm_c": "1,100"})) == {"svm_c": (1.0, 100.0)}
    with pytest.raises(OptionError, match=r"--option hidden=big: expected widths joined by 'x'"):
        registry.method("target-only").run(_task({"hidden": "big"}))
    with pytest.raises(OptionError, match=r"--option svm.svm_c=0,1: expected positive numbers"):
        registry.method("svm").run(_task({"svm.svm_c": "0,1"}))
    with pytest.raises(OptionError, match=r"--option source-only\.norm: method 'source-only' has no option"):
        registry.method("source-only").run(_task({"source-only.norm": "corpus"}))
