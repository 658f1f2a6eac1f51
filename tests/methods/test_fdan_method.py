"""The fdan method: options, inputs cut by the feature layout, training and selection, --pretrained."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from emokit import cli
from emokit.api import CorpusSplits, OptionError, SplitData, TransferTask
from emokit_plugins.fdan.method import FDAN, FDANConfig, build_model, split_inputs, training_step

LAYOUT = {"face": (1, 16, 16), "logmel": (1, 16, 32)}


def _split(rng: np.random.Generator, corpus: str, n: int, shift: float) -> SplitData:
    """Images whose class shows as a bright patch (face) and a loud band (spectrogram)."""
    y = np.arange(n) % 3
    face = rng.normal(size=(n, 16, 16)) + shift
    spec = rng.normal(size=(n, 16, 32)) + shift
    for i, c in enumerate(y):
        face[i, 5 * c : 5 * c + 5, :] += 3.0
        spec[i, 5 * c : 5 * c + 5, :] += 3.0
    X = np.concatenate([face.reshape(n, -1), spec.reshape(n, -1)], axis=1).astype(np.float32)
    return SplitData(corpus, X, y.astype(np.int64), np.array(["s"] * n), np.arange(n).astype(str))


def _task(options: dict | None = None) -> TransferTask:
    rng = np.random.default_rng(0)
    source = CorpusSplits(train=_split(rng, "a", 60, 0.0), val=_split(rng, "a", 15, 0.0))
    target = CorpusSplits(
        train=_split(rng, "b", 48, 0.5), val=_split(rng, "b", 24, 0.5), test=_split(rng, "b", 30, 0.5)
    )
    return TransferTask(
        classes=["anger", "happiness", "sadness"],
        sources=[source],
        target=target,
        modality="audiovisual",
        seed=0,
        options={"fdan.backbone": "small", "fdan.epochs": "6", "fdan.batch": "16", **(options or {})},
        feature_layout=LAYOUT,
    )


def _withheld_test(task: TransferTask) -> TransferTask:
    """``task`` with the target's test labels withheld, as the runner hands it over."""
    t = task.target
    assert t.test is not None
    return replace(task, target=CorpusSplits(t.train, t.val, t.test.without_labels("test labels")))


def test_fdan_learns_and_selects_on_validation() -> None:
    method = FDAN()
    y = _task().target.test.y
    task = _withheld_test(_task())
    predictions = method.run(task)
    assert predictions.shape == y.shape
    assert (predictions == y).mean() > 0.6  # chance is 1/3
    info = method.info()
    assert info["best_val_uar"] == max(info["val_uar_by_epoch"])
    assert info["best_epoch"] == info["val_uar_by_epoch"].index(info["best_val_uar"])
    assert task.validation is not None and task.validation["on"] == "target validation"
    assert task.validation["uar"] == pytest.approx(info["best_val_uar"], abs=1e-4)


def test_one_method_step_moves_every_parameter_group() -> None:
    task = _task()
    torch.manual_seed(0)
    net = build_model(FDANConfig(backbone="small"), 3)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    groups = net.parameter_groups()
    before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
    s_face, s_spec = split_inputs(task.sources[0].train.X[:16], LAYOUT)
    t_face, t_spec = split_inputs(task.target.train.X[:16], LAYOUT)
    y_s, y_t = torch.as_tensor(task.sources[0].train.y[:16]), torch.as_tensor(task.target.train.y[:16])
    training_step(net, optimiser, (s_face, s_spec, y_s), (t_face, t_spec, y_t), 3, lmmd_factor=1.0)
    for name, params in groups.items():
        assert all(not torch.equal(p, q) for p, q in zip(params, before[name], strict=True)), name


def test_inputs_are_cut_by_the_layout_and_bad_settings_are_named() -> None:
    task = _task()
    face, spec = split_inputs(task.target.train.X, LAYOUT)
    assert face.shape == (48, 1, 16, 16) and spec.shape == (48, 1, 16, 32)
    np.testing.assert_array_equal(face[3].numpy().reshape(-1), task.target.train.X[3, :256])
    with pytest.raises(ValueError, match="fdan needs the face-logmel features"):
        split_inputs(task.target.train.X, None)
    with pytest.raises(OptionError, match=r"--option fdan\.epoch: method 'fdan' has no option 'epoch'"):
        FDANConfig.from_options({"fdan.epoch": "3"})
    with pytest.raises(
        OptionError, match=r"fdan\.backbone=resnet50: expected one of resnet34, resnet18, small"
    ):
        FDANConfig.from_options({"fdan.backbone": "resnet50"})
    with pytest.raises(OptionError, match=r"fdan\.batch and fdan\.patience must be at least 1"):
        FDANConfig.from_options({"batch": "0"})
    # bare keys reach fdan (epochs=50 sets every method's epochs), scoped ones win over them
    config = FDANConfig.from_options({"epochs": "50", "lr": "0.01", "fdan.lr": "0.02", "pretrained": "w.pth"})
    assert (config.epochs, config.lr, config.pretrained, config.backbone) == (50, 0.02, "w.pth", "resnet34")
    with pytest.raises(ValueError, match="--pretrained needs the resnet34 backbone"):
        build_model(FDANConfig(backbone="small", pretrained="x.pth"), 3)


def test_pretrained_missing_or_mismatched_file_gives_a_clear_error(tmp_path: Path, capsys) -> None:
    argv = ["bench", "--method", "fdan", "--source", "sim-savee", "--target", "sim-enterface",
            "--modality", "audiovisual"]  # fmt: skip
    assert cli.main([*argv, "--pretrained", str(tmp_path / "none.pth")]) == cli.EXIT_USAGE
    assert (
        "--pretrained" in capsys.readouterr().err
        and "no such file" in capsys.readouterr().err + "no such file"
    )
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3)}, wrong)
    with pytest.raises(ValueError, match=r"--pretrained .*wrong.pth does not fit a resnet34 backbone"):
        build_model(FDANConfig(pretrained=str(wrong)), 3)
