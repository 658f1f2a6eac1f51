"""Cascade fine-tuning: stages in order, each from the previous stage's weights; the pooled comparison."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from test_baselines import _split

from emokit.bench import CorpusSplits, TransferTask
from emokit.registry import Registry
from emokit_plugins.cascade.method import Cascade, linear_layers, new_model, run_cascade


def _task(options: dict | None = None, sources: int = 2) -> TransferTask:
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
        options={"cascade.epochs": "8", "hidden": "16x8", **(options or {})},
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


def test_cascade_and_pooled_learn_and_report_their_stages() -> None:
    registry = Registry.discover()
    task = _task({"cascade.epochs": "30", "cascade.lr": "1e-2", "lr": "1e-2", "epochs": "30"})
    cascade = registry.method("cascade")
    predictions = cascade.run(task)
    assert predictions.shape == task.target.test.y.shape
    assert (predictions == task.target.test.y).mean() > 0.6  # chance is 1/3
    assert [s["corpus"] for s in cascade.info()["stages"]] == ["a", "b", "t"]
    pooled = registry.method("pooled").run(task)
    assert (pooled == task.target.test.y).mean() > 0.6
    assert cascade.compare_with == ("pooled", "finetune", "target-only")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cascade.epochs": "5,5"}, r"cascade.epochs=5,5: this cascade has 3 stages; give one value or 3"),
        ({"cascade.lr": "fast"}, r"cascade.lr=fast: expected numbers separated by commas"),
        ({"cascade.freeze": "-1"}, r"cascade.freeze=-1: expected a number of layers"),
        ({"cascade.freeze": "3"}, r"cascade.freeze=3: the network has 3 layers"),
        ({"cascade.stages": "2"}, r"--option cascade.stages: unknown cascade option"),
    ],
)
def test_bad_options_are_named(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Cascade().run(_task(options))
