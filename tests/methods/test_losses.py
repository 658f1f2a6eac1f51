"""MMD and LMMD against a direct float64 implementation of their formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from emokit.losses import lmmd, mmd, ramp


def _kernel(a: np.ndarray, b: np.ndarray, base: float, mul: float = 2.0, num: int = 5) -> float:
    d = float(((a - b) ** 2).sum())
    return sum(math.exp(-d / (base * mul**k)) for k in range(num))


def _base(rows: np.ndarray, mul: float = 2.0, num: int = 5) -> float:
    n = len(rows)
    total = sum(float(((rows[i] - rows[j]) ** 2).sum()) for i in range(n) for j in range(n) if i != j)
    return total / (n * n - n) / mul ** (num // 2)


def reference_mmd(s: np.ndarray, t: np.ndarray) -> float:
    base = _base(np.concatenate([s, t]))
    k = lambda a, b: np.mean([[_kernel(x, y, base) for y in b] for x in a])  # noqa: E731
    return k(s, s) + k(t, t) - 2 * k(s, t)


def reference_lmmd(s: np.ndarray, t: np.ndarray, labels: np.ndarray, probs: np.ndarray, c: int) -> float:
    base = _base(np.concatenate([s, t]))
    present = [k for k in range(c) if (labels == k).any() and (probs.argmax(1) == k).any()]
    if not present:
        return 0.0
    total = 0.0
    for k in present:  # per class: an MMD between the class's weighted source and target rows
        ws = (labels == k) / (labels == k).sum()
        wt = probs[:, k] / probs[:, k].sum()
        total += sum(ws[i] * ws[j] * _kernel(s[i], s[j], base) for i in range(len(s)) for j in range(len(s)))
        total += sum(wt[i] * wt[j] * _kernel(t[i], t[j], base) for i in range(len(t)) for j in range(len(t)))
        total -= 2 * sum(
            ws[i] * wt[j] * _kernel(s[i], t[j], base) for i in range(len(s)) for j in range(len(t))
        )
    return total / len(present)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mmd_matches_the_formula_in_float64(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(7, 4, generator=g, dtype=torch.float64)
    t = torch.randn(5, 4, generator=g, dtype=torch.float64) + 0.7
    assert float(mmd(s, t)) == pytest.approx(reference_mmd(s.numpy(), t.numpy()), rel=1e-10)
    assert float(mmd(s.float(), t.float())) == pytest.approx(reference_mmd(s.numpy(), t.numpy()), rel=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lmmd_matches_the_formula_in_float64(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    c = 4
    s = torch.randn(9, 3, generator=g, dtype=torch.float64)
    t = torch.randn(6, 3, generator=g, dtype=torch.float64) * 1.5
    labels = torch.randint(0, c - 1, (9,), generator=g)  # class 3 never in the source
    probs = torch.softmax(torch.randn(6, c, generator=g, dtype=torch.float64) * 2, dim=1)
    expected = reference_lmmd(s.numpy(), t.numpy(), labels.numpy(), probs.numpy(), c)
    assert float(lmmd(s, t, labels, probs, c)) == pytest.approx(expected, rel=1e-10)


def test_both_are_zero_for_identical_samples_and_positive_otherwise() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 5, generator=g, dtype=torch.float64)
    labels = torch.arange(8) % 3
    onehot = torch.nn.functional.one_hot(labels, 3).double()
    assert float(mmd(x, x.clone())) == pytest.approx(0.0, abs=1e-12)
    assert float(lmmd(x, x.clone(), labels, onehot, 3)) == pytest.approx(0.0, abs=1e-12)
    assert float(mmd(x, x + 1.0)) > 1e-3
    assert float(lmmd(x, x + 1.0, labels, onehot, 3)) > 1e-3


def test_gradients_flow_to_the_features_not_the_target_probabilities() -> None:
    g = torch.Generator().manual_seed(0)
    s = torch.randn(6, 3, generator=g, requires_grad=True)
    t = torch.randn(6, 3, generator=g, requires_grad=True)
    logits = torch.randn(6, 2, generator=g, requires_grad=True)
    loss = lmmd(s, t, torch.tensor([0, 1, 0, 1, 0, 1]), torch.softmax(logits, 1), 2) + mmd(s, t)
    loss.backward()
    assert s.grad is not None and s.grad.abs().sum() > 0 and t.grad.abs().sum() > 0
    assert logits.grad is None  # the class weights are constants of the batch


def test_no_shared_class_gives_zero_and_bad_shapes_are_named() -> None:
    s, t = torch.randn(4, 2), torch.randn(3, 2)
    probs = torch.tensor([[0.0, 1.0]] * 3)  # every target row predicts class 1
    assert float(lmmd(s, t, torch.zeros(4, dtype=torch.long), probs, 2)) == 0.0
    with pytest.raises(ValueError, match="same feature size"):
        mmd(torch.randn(3, 2), torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"target_probs must have shape \[3, 2\]"):
        lmmd(s, t, torch.zeros(4, dtype=torch.long), torch.ones(3, 5), 2)
    with pytest.raises(ValueError, match=r"source_labels must lie in \[0, 2\)"):
        lmmd(s, t, torch.full((4,), 2), probs, 2)


def test_ramp_goes_from_zero_towards_one() -> None:
    assert ramp(0.0) == 0.0
    assert ramp(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert ramp(0.2) < ramp(0.5) < ramp(1.0) < 1.0
