"""Python side of the compiled ops in ``torch.ops.emokit``: signatures, autograd and fake kernels.

Only used once :func:`emokit.kernels._loader.extension_state` has loaded the library, which then
calls :func:`register` (once): as in pytorch/extension-cpp, the ops are defined and implemented in
C++ (csrc/bindings.cpp) and their autograd formulas and fake (shape-only) kernels are registered
here, so that ``torch.library.opcheck``, ``torch.compile`` and ``torch.autograd`` all see one op.
"""

from __future__ import annotations

from typing import Any

import torch

from emokit.kernels.fallback import check_multipath_args


def module_counts(idx: torch.Tensor, num_modules: int) -> torch.Tensor:
    """How many (path, slot) pairs use each module: int64 [num_modules]; -1 entries are skipped."""
    return torch.ops.emokit.module_counts(idx, num_modules)


def multipath_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, idx: torch.Tensor
) -> torch.Tensor:
    """The multi-path layer in the extension; see :func:`emokit.kernels.fallback.multipath_linear`.

    When autograd will need it, the variant that keeps the ReLU activations runs, so the backward
    does not recompute the forward's GEMMs.
    """
    if torch.is_grad_enabled() and any(
        isinstance(t, torch.Tensor) and t.requires_grad for t in (x, weight, bias)
    ):
        return torch.ops.emokit.multipath_linear_train(x, weight, bias, idx)[0]
    return torch.ops.emokit.multipath_linear(x, weight, bias, idx)


# --- fake kernels: output shapes from input shapes, for torch.compile and opcheck ---------------------


def _fake_multipath_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, idx: torch.Tensor
) -> torch.Tensor:
    check_multipath_args(x, weight, bias, idx, "multipath_linear", check_values=False)
    return x.new_empty(idx.shape[0], x.shape[-2], weight.shape[1])


def _activation_rows(x: torch.Tensor, weight: torch.Tensor, idx: torch.Tensor) -> int:
    # multipath.h: one row per module for a shared input, one per (path, slot) otherwise.
    return weight.shape[0] if x.dim() == 2 else idx.shape[0] * idx.shape[1]


def _fake_multipath_linear_train(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, idx: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    check_multipath_args(x, weight, bias, idx, "multipath_linear_train", check_values=False)
    y = x.new_empty(idx.shape[0], x.shape[-2], weight.shape[1])
    return y, x.new_empty(_activation_rows(x, weight, idx), x.shape[-2], weight.shape[1])


def _fake_multipath_linear_backward(
    grad_y: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    idx: torch.Tensor,
    act: torch.Tensor | None,
    output_mask: list[bool],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    outputs = []
    for like, wanted in zip((x, weight, bias), output_mask, strict=True):
        outputs.append(torch.empty_like(like) if wanted else x.new_empty(0))
    return tuple(outputs)  # type: ignore[return-value]


# --- autograd -------------------------------------------------------------------------------------------


def _setup_plain(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    x, weight, bias, idx = inputs
    ctx.save_for_backward(x, weight, bias, idx)


def _backward_plain(ctx: Any, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    x, weight, bias, idx = ctx.saved_tensors
    return _grads(ctx, grad_y, x, weight, bias, idx, None)


def _setup_train(ctx: Any, inputs: tuple[Any, ...], output: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, weight, bias, idx = inputs
    ctx.mark_non_differentiable(output[1])
    ctx.save_for_backward(x, weight, bias, idx, output[1])


def _backward_train(
    ctx: Any, grad_y: torch.Tensor, _grad_act: torch.Tensor | None
) -> tuple[torch.Tensor | None, ...]:
    x, weight, bias, idx, act = ctx.saved_tensors
    return _grads(ctx, grad_y, x, weight, bias, idx, act)


def _grads(
    ctx: Any,
    grad_y: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    idx: torch.Tensor,
    act: torch.Tensor | None,
) -> tuple[torch.Tensor | None, ...]:
    mask = [bool(n) for n in ctx.needs_input_grad[:3]]
    grad_x, grad_w, grad_b = torch.ops.emokit.multipath_linear_backward(
        grad_y.contiguous(), x, weight, bias, idx, act, mask
    )
    return (grad_x if mask[0] else None, grad_w if mask[1] else None, grad_b if mask[2] else None, None)


_registered = False


def register() -> None:
    """Register the fake kernels and autograd formulas of the ops (idempotent)."""
    global _registered
    if _registered:
        return
    _registered = True
    torch.library.register_fake("emokit::multipath_linear")(_fake_multipath_linear)
    torch.library.register_fake("emokit::multipath_linear_train")(_fake_multipath_linear_train)
    torch.library.register_fake("emokit::multipath_linear_backward")(_fake_multipath_linear_backward)
    torch.library.register_autograd("emokit::multipath_linear", _backward_plain, setup_context=_setup_plain)
    torch.library.register_autograd(
        "emokit::multipath_linear_train", _backward_train, setup_context=_setup_train
    )
