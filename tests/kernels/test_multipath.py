"""The multi-path layer: every backend against a float64 reference, gradients, opcheck, bad input."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from support.kernel_grid import BUILT, backend_params

import emokit.kernels as kernels
from emokit.kernels import fallback
from emokit.kernels.reference import SHAPES, multipath_inputs, reference_multipath

# float32 sums of K ReLU'd dot products of length Din against float64: a few ulps per term.
F32 = {"rtol": 1e-4, "atol": 1e-4}


make_inputs = multipath_inputs


def run(backend: str) -> Callable[..., torch.Tensor]:
    return lambda x, w, b, idx: kernels.multipath_linear(x, w, b, idx, backend=backend)


@pytest.mark.parametrize(("device", "backend"), backend_params())
@pytest.mark.parametrize("shared", [False, True], ids=["per-path-x", "shared-x"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_forward_and_gradients_match_float64_reference(
    device: str, backend: str, shared: bool, shape: tuple[int, ...]
) -> None:
    seed = hash((shape, shared)) % 2**31
    x, w, b, idx = make_inputs(shape, shared, device, torch.float32, seed)
    args = [t.clone().requires_grad_() for t in (x, w, b)]
    y = run(backend)(*args, idx)
    ref_args = [t.double().detach().requires_grad_() for t in (x, w, b)]
    ref = reference_multipath(*ref_args, idx)
    assert y.shape == ref.shape and y.dtype == torch.float32 and y.device.type == device
    torch.testing.assert_close(y.double(), ref, **F32)
    if y.numel() == 0 or not ref.requires_grad:  # nothing to differentiate (no slot, or no sample)
        return
    grad = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed + 1)).to(device)
    y.backward(grad)
    ref.backward(grad.double())
    for name, got, want in zip(("x", "weight", "bias"), args, ref_args, strict=True):
        torch.testing.assert_close(
            got.grad.double(), want.grad, **F32, msg=lambda m, n=name: f"grad of {n}: {m}"
        )


@pytest.mark.parametrize(("device", "backend"), backend_params())
@pytest.mark.parametrize("idx_dtype", [torch.int32, torch.int64])
def test_int32_and_int64_indices_agree(device: str, backend: str, idx_dtype: torch.dtype) -> None:
    x, w, b, idx = make_inputs((5, 7, 9, 11, 4, 3), False, device, torch.float64, 7)
    got = run(backend)(x, w, b, idx.to(idx_dtype))
    torch.testing.assert_close(got, reference_multipath(x, w, b, idx))


@pytest.mark.parametrize(("device", "backend"), backend_params())
def test_paths_without_active_modules_give_zeros(device: str, backend: str) -> None:
    x, w, b, _ = make_inputs((3, 4, 5, 6, 2, 2), False, device, torch.float32, 3)
    idx = torch.full((3, 2), -1, device=device)
    assert torch.equal(run(backend)(x, w, b, idx), torch.zeros(3, 4, 6, device=device))


@pytest.mark.parametrize(("device", "backend"), backend_params())
@pytest.mark.parametrize("shared", [False, True], ids=["per-path-x", "shared-x"])
def test_gradcheck_float64(device: str, backend: str, shared: bool) -> None:
    x, w, b, idx = make_inputs((4, 3, 5, 4, 3, 3), shared, device, torch.float64, 11)
    # Keep pre-activations away from ReLU's kink, where finite differences are not a derivative.
    b = b + torch.where(b >= 0, 0.3, -0.3)
    args = tuple(t.clone().requires_grad_() for t in (x, w, b))
    assert torch.autograd.gradcheck(lambda *a: run(backend)(*a, idx), args)


@pytest.mark.extension
@pytest.mark.parametrize("shared", [False, True], ids=["per-path-x", "shared-x"])
def test_backward_without_saved_activations_recomputes_them(shared: bool) -> None:
    # The raw op (no activations kept) and the train op give the same gradients.
    kernels.backend("ext")
    x, w, b, idx = make_inputs((5, 6, 7, 8, 4, 3), shared, "cpu", torch.float64, 5)
    grads = []
    for op in (torch.ops.emokit.multipath_linear, lambda *a: torch.ops.emokit.multipath_linear_train(*a)[0]):
        args = [t.clone().requires_grad_() for t in (x, w, b)]
        op(*args, idx).sum().backward()
        grads.append([a.grad for a in args])
    for plain, kept in zip(*grads, strict=True):
        torch.testing.assert_close(plain, kept)


@pytest.mark.extension
@pytest.mark.parametrize("op_name", ["multipath_linear", "multipath_linear_train"])
@pytest.mark.parametrize("shared", [False, True], ids=["per-path-x", "shared-x"])
@pytest.mark.parametrize("requires_grad", [False, True], ids=["no-grad", "grad"])
def test_opcheck(op_name: str, shared: bool, requires_grad: bool) -> None:
    kernels.backend("ext")  # loads the library and registers its autograd and fake kernels
    x, w, b, idx = make_inputs((5, 4, 6, 3, 4, 3), shared, "cpu", torch.float32, 2)
    args = (*(t.requires_grad_(requires_grad) for t in (x, w, b)), idx)
    op = getattr(torch.ops.emokit, op_name).default
    results = torch.library.opcheck(op, args)
    assert set(results.values()) == {"SUCCESS"}, results


def _bad_calls() -> list:
    """(x, weight, bias, idx) that break the contract, the error type and a phrase of its message."""
    x, w, b, idx = make_inputs((3, 4, 5, 6, 2, 2), False, "cpu", torch.float32, 0)
    out_of_range = torch.tensor([[0, 2]] * 3)
    cases = [
        ((x.long(), w, b, idx), TypeError, "x must be a float32 or float64 tensor, got torch.int64"),
        ((x, w.double(), b, idx), TypeError, "weight must have x's dtype torch.float32, got torch.float64"),
        ((x, w, b.half(), idx), TypeError, "bias must have x's dtype torch.float32, got torch.float16"),
        ((x, w, b, idx.float()), TypeError, "idx must be an int32 or int64 tensor, got torch.float32"),
        ((x[0, 0], w, b, idx), ValueError, "x must have shape [P, B, Din] or [B, Din]"),
        ((x, w[0], b, idx), ValueError, "weight must have shape [M, Dout, Din], got [6, 5]"),
        ((x, w, b[0], idx), ValueError, "bias must have shape [M, Dout], got [6]"),
        ((x, w, b, idx[0]), ValueError, "idx must have shape [P, K] (paths, slots), got [2]"),
        ((x, w[:, :, :4].contiguous(), b, idx), ValueError, "x's last dimension is Din = 5"),
        ((x, w, b[:, :5].contiguous(), idx), ValueError, "bias must be [2, 6]"),
        ((x, w, b, idx[:2]), ValueError, "x has 3 paths (shape [3, 4, 5]) but idx has 2"),
        ((x, w[:0], b[:0], idx), ValueError, "weight must hold at least one module"),
        ((x, w.to("meta"), b, idx), ValueError, "weight is on meta but x is on cpu"),
        ((x.transpose(1, 2).contiguous().transpose(1, 2), w, b, idx), ValueError, "x must be contiguous"),
        (
            (x, w.transpose(1, 2).contiguous().transpose(1, 2), b, idx),
            ValueError,
            "weight must be contiguous",
        ),
        ((x, w, b, idx.t().contiguous().t()), ValueError, "idx must be contiguous"),
        (
            (x, w, b, out_of_range),
            ValueError,
            "idx holds module indices in [0, 2] but they must lie in [-1, 2)",
        ),
        ((x, w, b, torch.tensor([[0, -2]] * 3)), ValueError, "in [-2, 0]"),
    ]
    return [pytest.param(*case, id=case[2].split(" ")[0] + f"-{i}") for i, case in enumerate(cases)]


@pytest.mark.parametrize(("args", "error", "text"), _bad_calls())
def test_bad_input_gives_the_same_clear_error_from_every_backend(
    args: tuple[torch.Tensor, ...], error: type, text: str
) -> None:
    with pytest.raises(error) as from_fallback:
        kernels.multipath_linear(*args, backend="torch")
    message = str(from_fallback.value)
    assert message.startswith("emokit.multipath_linear: ") and text in message, message
    if BUILT:
        with pytest.raises(error) as from_kernel:
            kernels.multipath_linear(*args, backend="ext")
        assert str(from_kernel.value).splitlines()[0] == message


def test_non_tensor_arguments_are_named() -> None:
    _, w, b, idx = make_inputs((3, 4, 5, 6, 2, 2), False, "cpu", torch.float32, 0)
    with pytest.raises(TypeError, match="x must be a float32 or float64 tensor, got list"):
        kernels.multipath_linear([[1.0]], w, b, idx)
    with pytest.raises(TypeError, match="idx must be an int32 or int64 tensor, got list"):
        fallback.multipath_linear(torch.zeros(4, 5), w, b, [[0]])


def test_unknown_backend_argument_is_named() -> None:
    x, w, b, idx = make_inputs((3, 4, 5, 6, 2, 2), False, "cpu", torch.float32, 0)
    with pytest.raises(ValueError, match=r"backend='gpu' is not one of auto, torch, ext"):
        kernels.multipath_linear(x, w, b, idx, backend="gpu")


@pytest.mark.extension
def test_backward_op_checks_its_own_arguments() -> None:
    kernels.backend("ext")
    x, w, b, idx = make_inputs((3, 4, 5, 6, 2, 2), False, "cpu", torch.float32, 0)
    backward = torch.ops.emokit.multipath_linear_backward
    with pytest.raises(
        ValueError, match=r"grad_y must be a contiguous \[3, 4, 6\] tensor, got shape \[3, 4, 5\]"
    ):
        backward(torch.zeros(3, 4, 5), x, w, b, idx, None, [True, True, True])
    with pytest.raises(TypeError, match=r"grad_y must have x's dtype torch.float32, got torch.float64"):
        backward(torch.zeros(3, 4, 6, dtype=torch.float64), x, w, b, idx, None, [True, True, True])
    with pytest.raises(ValueError, match=r"act must be the contiguous \[6, 4, 6\] activations"):
        backward(torch.zeros(3, 4, 6), x, w, b, idx, torch.zeros(2, 4, 6), [True, True, True])
    # Outputs not asked for are empty, and never the same tensor.
    none = backward(torch.zeros(3, 4, 6), x, w, b, idx, None, [False, False, False])
    assert all(t.numel() == 0 for t in none) and len({id(t) for t in none}) == 3
    _, grad_w, grad_b = backward(torch.ones(3, 4, 6), x, w, b, idx, None, [False, True, True])
    assert grad_w.shape == w.shape and grad_b.shape == b.shape


@pytest.mark.parametrize(("device", "backend"), backend_params())
def test_gradients_are_bitwise_repeatable_on_several_threads(device: str, backend: str) -> None:
    """A seed must reproduce a PathNet search on either backend: the sums over paths that share a
    module may not depend on thread timing."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(2, threads))
    try:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(64, 300, generator=g).to(device)
        weight = torch.randn(6, 128, 300, generator=g).to(device).requires_grad_()
        bias = torch.randn(6, 128, generator=g).to(device).requires_grad_()
        idx = torch.randint(0, 6, (48, 3), generator=g).to(device)  # every module used many times
        grad_y = torch.randn(48, 64, 128, generator=g).to(device)

        def grads() -> tuple[torch.Tensor, torch.Tensor]:
            weight.grad = bias.grad = None
            kernels.multipath_linear(x, weight, bias, idx, backend=backend).backward(grad_y)
            return weight.grad.clone(), bias.grad.clone()

        first = grads()
        for _ in range(10):
            assert all(torch.equal(a, b) for a, b in zip(first, grads(), strict=True))
    finally:
        torch.set_num_threads(threads)
