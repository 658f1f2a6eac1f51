"""emokit.training's loop: selection on validation, the extra loss term, the unlabelled stream, history."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emokit.api import TrainStep, make_mlp, train_classifier


def _blobs(seed: int, n: int = 60, d: int = 5, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, d)).astype(np.float32) + y[:, None] * 1.5 + shift
    return X.astype(np.float32), y


def _train(**kwargs):
    torch.manual_seed(0)
    model = make_mlp(5, 3, hidden=(8,), dropout=0.0)
    result = train_classifier(
        model, _blobs(0), _blobs(1), num_classes=3, seed=3, epochs=6, batch_size=16, **kwargs
    )
    return model, result


def test_history_has_one_record_per_epoch_and_the_selected_epoch_is_the_best_validation() -> None:
    _, result = _train()
    assert [r.epoch for r in result.history] == list(range(result.epochs_run))
    best = max(result.history, key=lambda r: r.val_uar)
    assert result.best_val_uar == pytest.approx(best.val_uar)
    assert result.history[result.best_epoch].val_uar == pytest.approx(result.best_val_uar)
    assert all(np.isfinite(r.train_loss) and r.train_loss > 0 for r in result.history)


def test_extra_loss_sees_every_step_with_logits_and_an_unlabelled_batch_of_the_same_size() -> None:
    seen: list[TrainStep] = []
    target = _blobs(2, n=23, shift=3.0)[0]

    def extra(step: TrainStep) -> torch.Tensor:
        seen.append(step)
        assert step.unlabelled is not None and step.unlabelled.shape == step.inputs.shape
        assert step.logits.shape == (len(step.inputs), 3) and step.logits.requires_grad
        return step.logits.new_zeros(())

    _, result = _train(extra_loss=extra, unlabelled=target)
    steps_per_epoch = int(np.ceil(60 / 16))
    assert len(seen) == result.epochs_run * steps_per_epoch
    assert [s.step for s in seen] == list(range(len(seen)))
    rows = {tuple(np.round(r, 5)) for s in seen[:2] for r in s.unlabelled.numpy()}
    assert rows <= {tuple(np.round(r, 5)) for r in target}  # drawn from the stream's rows only
    assert len(rows) == 23  # the first 32 drawn go through all 23 before any repeats


def test_a_zero_extra_loss_and_an_unlabelled_stream_leave_the_labelled_training_unchanged() -> None:
    plain, _ = _train()
    extra, _ = _train(extra_loss=lambda s: s.logits.sum() * 0.0, unlabelled=_blobs(4)[0])
    for a, b in zip(plain.state_dict().values(), extra.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_the_extra_loss_changes_what_is_learnt() -> None:
    plain, _ = _train()
    pulled, _ = _train(extra_loss=lambda s: (s.logits**2).mean() * 10.0)
    assert not all(
        torch.equal(a, b)
        for a, b in zip(plain.state_dict().values(), pulled.state_dict().values(), strict=True)
    )


def test_bad_extra_loss_and_unlabelled_rows_are_refused_clearly() -> None:
    with pytest.raises(TypeError, match=r"extra_loss returned Tensor\(3,\); expected a scalar tensor"):
        _train(extra_loss=lambda s: torch.zeros(3))
    with pytest.raises(ValueError, match="unlabelled rows are only used by an extra_loss"):
        _train(unlabelled=_blobs(4)[0])
    with pytest.raises(ValueError, match=r"unlabelled rows have shape \(10, 4\); expected \[m, 5\]"):
        _train(extra_loss=lambda s: s.logits.sum() * 0, unlabelled=np.zeros((10, 4), np.float32))
