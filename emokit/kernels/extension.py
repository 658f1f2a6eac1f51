"""Thin Python signatures over the compiled ops in ``torch.ops.emokit``.

Only called once :func:`emokit.kernels.backend` has loaded the library; each function mirrors the one
of the same name in :mod:`emokit.kernels.fallback`.
"""

from __future__ import annotations

import torch


def module_counts(idx: torch.Tensor, num_modules: int) -> torch.Tensor:
    """How many (path, slot) pairs use each module: int64 [num_modules]; -1 entries are skipped."""
    return torch.ops.emokit.module_counts(idx, num_modules)
