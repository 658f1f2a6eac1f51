"""Pure-PyTorch implementations of emokit's ops: the reference the C++/CUDA kernels must match.

Every function here has the signature, results and errors (types and messages) of the op of the
same name in ``torch.ops.emokit`` (csrc/multipath.h); it runs on any device torch supports, and
autograd differentiates it like any PyTorch code. It is written to be obviously right, not fast:
:func:`multipath_linear` computes every (path, slot) pair, even where paths share their input.
"""

from __future__ import annotations

from typing import Any

import torch


def _describe(value: Any) -> str:
    return str(value.dtype) if isinstance(value, torch.Tensor) else type(value).__name__


def check_module_index(idx: torch.Tensor, num_modules: int, op: str) -> None:
    """Validate a path-to-module table ``idx`` [P, K] for ``num_modules`` modules, as the kernels do.

    Raises:
        TypeError: ``idx`` is not an int32/int64 tensor.
        ValueError: ``num_modules`` is not positive, ``idx`` is not 2-D, or an entry lies outside
            ``[-1, num_modules)``.
    """
    if num_modules <= 0:
        raise ValueError(f"emokit.{op}: num_modules must be positive, got {num_modules}")
    if not isinstance(idx, torch.Tensor) or idx.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"emokit.{op}: idx must be an int32 or int64 tensor, got {_describe(idx)}")
    if idx.dim() != 2:
        raise ValueError(f"emokit.{op}: idx must have shape [P, K] (paths, slots), got {list(idx.shape)}")
    if idx.numel() == 0:
        return
    lo, hi = (int(v) for v in torch.aminmax(idx))
    if lo < -1 or hi >= num_modules:
        raise ValueError(
            f"emokit.{op}: idx holds module indices in [{lo}, {hi}] but they must lie in "
            f"[-1, {num_modules}) (-1 = empty slot, num_modules = {num_modules})"
        )


def module_counts(idx: torch.Tensor, num_modules: int) -> torch.Tensor:
    """How many (path, slot) pairs use each module: int64 [num_modules]; -1 entries are skipped."""
    check_module_index(idx, num_modules, "module_counts")
    flat = idx.reshape(-1)
    return torch.bincount(flat[flat >= 0].long(), minlength=num_modules)


def check_multipath_args(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    idx: torch.Tensor,
    op: str = "multipath_linear",
    check_values: bool = True,
) -> None:
    """Every argument check of the multi-path layer, in the kernels' order and with their messages.

    ``check_values=False`` skips reading ``idx`` (for fake tensors, which have shapes but no data).

    Raises:
        TypeError: a wrong dtype (x not float32/float64, weight or bias not of x's dtype, idx not
            int32/int64) or an argument that is not a tensor.
        ValueError: a wrong shape, an argument on another device than ``x``, a non-contiguous
            argument, or an ``idx`` entry outside ``[-1, M)``.
    """
    pre = f"emokit.{op}:"
    if not isinstance(x, torch.Tensor) or x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{pre} x must be a float32 or float64 tensor, got {_describe(x)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if not isinstance(t, torch.Tensor) or t.dtype != x.dtype:
            raise TypeError(f"{pre} {name} must have x's dtype {x.dtype}, got {_describe(t)}")
    if not isinstance(idx, torch.Tensor) or idx.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{pre} idx must be an int32 or int64 tensor, got {_describe(idx)}")
    if x.dim() not in (2, 3):
        raise ValueError(
            f"{pre} x must have shape [P, B, Din] or [B, Din] (shared by every path), got {list(x.shape)}"
        )
    if weight.dim() != 3:
        raise ValueError(f"{pre} weight must have shape [M, Dout, Din], got {list(weight.shape)}")
    if bias.dim() != 2:
        raise ValueError(f"{pre} bias must have shape [M, Dout], got {list(bias.shape)}")
    if idx.dim() != 2:
        raise ValueError(f"{pre} idx must have shape [P, K] (paths, slots), got {list(idx.shape)}")
    din = x.shape[-1]
    m, dout = weight.shape[0], weight.shape[1]
    if weight.shape[2] != din:
        raise ValueError(
            f"{pre} weight has shape {list(weight.shape)} but x's last dimension is Din = {din}; "
            f"weight must be [M, Dout, {din}]"
        )
    if tuple(bias.shape) != (m, dout):
        raise ValueError(
            f"{pre} bias has shape {list(bias.shape)} but weight is {list(weight.shape)}; "
            f"bias must be [{m}, {dout}]"
        )
    if x.dim() == 3 and x.shape[0] != idx.shape[0]:
        raise ValueError(
            f"{pre} x has {x.shape[0]} paths (shape {list(x.shape)}) but idx has {idx.shape[0]} "
            f"(shape {list(idx.shape)}); pass x as [B, Din] to share it"
        )
    if m == 0:
        raise ValueError(f"{pre} weight must hold at least one module, got shape {list(weight.shape)}")
    for name, t in (("weight", weight), ("bias", bias), ("idx", idx)):
        if t.device != x.device:
            raise ValueError(
                f"{pre} {name} is on {t.device} but x is on {x.device}; every argument must be on one device"
            )
    for name, t in (("x", x), ("weight", weight), ("bias", bias), ("idx", idx)):
        if not t.is_contiguous():
            raise ValueError(
                f"{pre} {name} must be contiguous (strides {list(t.stride())} for shape {list(t.shape)}); "
                "call .contiguous() on it first"
            )
    if check_values:
        check_module_index(idx, m, op)


def multipath_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, idx: torch.Tensor
) -> torch.Tensor:
    """One PathNet layer for a population (the contract in csrc/multipath.h), literally as the contract reads.

    ``y[p, b] = sum over k with idx[p, k] >= 0 of relu(x[p, b] @ weight[idx[p, k]].T + bias[idx[p, k]])``

    Args:
        x: float32/float64 [P, B, Din], or [B, Din] shared by every path.
        weight: [M, Dout, Din]; bias: [M, Dout], both of x's dtype.
        idx: int32/int64 [P, K], module of path p in slot k, -1 for an empty slot.

    Returns:
        y [P, B, Dout]; zeros for a path without an active module.

    Raises:
        TypeError, ValueError: see :func:`check_multipath_args`.
    """
    check_multipath_args(x, weight, bias, idx)
    paths, slots = idx.shape
    active = idx >= 0
    chosen = idx.clamp(min=0).long()
    y = x.new_zeros(paths, x.shape[-2], weight.shape[1])
    for k in range(slots):  # one batched matmul per slot over all paths, each path its own module
        # index_select, not weight[...]: its backward (index_add_) sums repeated modules in a fixed
        # order, where advanced indexing's (index_put_ with accumulate) is not deterministic on
        # several CPU threads, and a seed must reproduce a PathNet search on either backend
        w = weight.index_select(0, chosen[:, k])  # [P, Dout, Din]
        b = bias.index_select(0, chosen[:, k])  # [P, Dout]
        out = torch.relu(torch.matmul(x, w.transpose(1, 2)) + b.unsqueeze(1))
        y = y + torch.where(
            active[:, k].view(paths, 1, 1), out, torch.zeros((), dtype=x.dtype, device=x.device)
        )
    return y
