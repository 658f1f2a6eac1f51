"""Pure-PyTorch implementations of emokit's ops: the reference the C++/CUDA kernels must match.

Every function here has the signature, results and errors (types and messages) of the op of the
same name in ``torch.ops.emokit`` (csrc/multipath.h); it runs on any device torch supports.
"""

from __future__ import annotations

import torch


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
        got = idx.dtype if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise TypeError(f"emokit.{op}: idx must be an int32 or int64 tensor, got {got}")
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
