"""The baseline methods on synthetic tasks: they learn, they respect what they may see."""

from __future__ import annotations

import numpy as np
import pytest
from support.tasks import runner_view
from support.tasks import shifted_task as _task

from emokit.api import LabelsWithheldError, OptionError
from emokit.methods.normalisation import normalise_task
from emokit.registry import Registry


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
