"""Cascade fine-tuning: stages in order, each from the previous stage's weights; the pooled comparison."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from support.tasks import runner_view
from support.tasks import shifted_split as _split

from emokit.api import CorpusSplits, OptionError, TransferTask
from emokit.registry import Registry
from emokit_plugins.cascade.method import Cascade, linear_layers, new_model, run_cascade


def _task(options: dict | None = None, sources: int = 2, scoped_epochs: bool = True) -> TransferTask:
    rng = np.random.default_rng(0)
    corpora = [
        CorpusSplits(train=_split(rng, name, 60, 1.0 * i, 1.0), val=_split(rng, name, 30, 1.0 * i, 1.0))
        for i, name in enumerate("ab"[:sources])
    ]
    target = CorpusSplits(
        train=_split(rng, "t", 60, 5.0, 2.0),
        val=_split(rng, "t", 30, 5.0, 2.0),
        test=_split(rng, "t", 60, 5.0, 2.0),
    )
    return TransferTask(
        classes=["anger", "happiness", "sadness"],
        sources=corpora,
        target=target,
        modality="audio",
        seed=0,
        options={**({"cascade.epochs": "8"} if scoped_epochs else {}), "hidden": "16x8", **(options or {})},
    )


def test_stage_k_starts_from_stage_k_minus_1_weights() -> None:
    task = _task({"cascade.lr": "1e-2,5e-3,1e-3"})
    method = Cascade()
    stages = method.stages(task)
    assert [s.corpus for s in stages] == ["a", "b", "t"]
    assert [s.lr for s in stages] == [1e-2, 5e-3, 1e-3]
    model = new_model(task)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    records = run_cascade(model, stages, task.num_classes, task.seed)
    assert all(torch.equal(fresh[k], records[0].start_state[k]) for k in fresh)
    for previous, current in itertools.pairwise(records):
        for key in previous.end_state:
            assert torch.equal(current.start_state[key], previous.end_state[key])
        # and every stage trained: its selected weights are not where it started
        assert any(not torch.equal(current.end_state[k], current.start_state[k]) for k in current.end_state)
    assert all(torch.equal(records[-1].end_state[k], v) for k, v in model.state_dict().items())


def test_freeze_keeps_the_first_layers_of_later_stages_fixed() -> None:
    task = _task({"cascade.freeze": "1"})
    method = Cascade()
    stages = method.stages(task)
    assert [s.frozen_layers for s in stages] == [0, 1, 1]  # the first stage trains everything
    model = new_model(task)
    first = linear_layers(model)[0]
    records = run_cascade(model, stages, task.num_classes, task.seed)
    weight_key = next(k for k in records[0].end_state if k.endswith("weight"))  # the first linear layer's
    assert torch.equal(records[0].end_state[weight_key], first.weight.detach())
    assert not torch.equal(records[0].start_state[weight_key], records[0].end_state[weight_key])


def test_per_stage_options_default_and_spread_over_the_stages() -> None:
    stages = Cascade().stages(_task(scoped_epochs=False))
    assert [s.epochs for s in stages] == [150, 150, 150]
    assert [s.lr for s in stages] == [1e-3, 3e-4, 3e-4]  # not set: a lower rate after the first stage
    stages = Cascade().stages(_task({"cascade.epochs": "4,5,6", "lr": "0.01"}))
    assert [s.epochs for s in stages] == [4, 5, 6] and [s.lr for s in stages] == [0.01] * 3
    # the bare keys reach the cascade too, and the scoped ones win over them
    assert [s.epochs for s in Cascade().stages(_task({"epochs": "7"}, scoped_epochs=False))] == [7, 7, 7]


def test_cascade_and_pooled_learn_and_report_their_stages() -> None:
    registry = Registry.discover()
    options = {"cascade.epochs": "30", "cascade.lr": "1e-2", "lr": "1e-2", "epochs": "30"}
    y = _task().target.test.y
    cascade = registry.method("cascade")
    task = runner_view(_task(options))  # per-corpus z-scoring by the runner, test labels withheld
    predictions = cascade.run(task)
    assert predictions.shape == y.shape
    assert (predictions == y).mean() > 0.6  # chance is 1/3
    stages = cascade.info()["stages"]
    assert [s["corpus"] for s in stages] == ["a", "b", "t"]
    # the model predicts with the last stage's selection: that is the validation score reported
    assert task.validation is not None and task.validation["on"] == "target validation"
    assert task.validation["uar"] == pytest.approx(stages[-1]["best_val_uar"], abs=1e-4)
    task = runner_view(_task(options))
    pooled = registry.method("pooled").run(task)
    assert (pooled == y).mean() > 0.6
    assert task.validation is not None and task.validation["on"] == "target validation"
    assert cascade.compare_with == ("pooled", "finetune", "target-only")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cascade.epochs": "5,5"}, r"cascade.epochs=5,5: this cascade has 3 stages; give one value or 3"),
        ({"lr": "1e-3,1e-4"}, r"--option lr=1e-3,1e-4: this cascade has 3 stages"),
        ({"lr": (1e-3, 1e-4)}, r"--option lr=0.001,0.0001: this cascade has 3 stages"),  # already typed
        ({"cascade.lr": "fast"}, r"cascade.lr=fast: expected positive numbers separated by commas"),
        ({"cascade.lr": "0"}, r"cascade.lr=0: expected positive numbers separated by commas"),
        ({"cascade.freeze": "-1"}, r"cascade.freeze=-1: expected a number of layers"),
        ({"cascade.freeze": "3"}, r"cascade.freeze=3: the network has 3 layers"),
        ({"cascade.stages": "2"}, r"--option cascade.stages: method 'cascade' has no option 'stages'"),
    ],
)
def test_bad_options_are_named(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Cascade().run(_task(options))


def test_option_errors_are_option_errors() -> None:
    with pytest.raises(OptionError, match=r"cascade\.epochs=many: expected positive numbers"):
        Cascade().run(_task({"cascade.epochs": "many"}))
