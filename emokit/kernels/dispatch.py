"""Which backend runs each kernel call (the extension or the fallback), and the ops' Python fronts.

:mod:`emokit.kernels` re-exports everything public here; see its docstring for the rules.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import ModuleType
from typing import Any

import torch

from emokit.kernels import extension, fallback
from emokit.kernels._loader import BUILD_HINT, ExtensionState, extension_state

#: warnings point at the first caller outside this package
_PACKAGE = "emokit.kernels"

#: Environment variable that forces the backend.
ENV_VAR = "EMOKIT_BACKEND"
#: Values ``EMOKIT_BACKEND`` and the ``backend`` arguments accept.
BACKENDS = ("auto", "torch", "ext")


class KernelBackendError(RuntimeError):
    """The extension was required (``EMOKIT_BACKEND=ext`` or ``backend="ext"``) but cannot run the op."""


class KernelFallbackWarning(RuntimeWarning):
    """emokit runs an op on the pure-PyTorch fallback although the extension was wanted."""


# Reasons already warned about in this process: each is said once, not at every call.
_warned: set[str] = set()


def requested_backend(backend: str | None = None) -> str:
    """The backend asked for: the ``backend`` argument, else ``EMOKIT_BACKEND``, else ``auto``.

    Raises:
        ValueError: the argument or the variable holds something other than ``auto``, ``torch`` or
            ``ext``.
    """
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r} is not one of {', '.join(BACKENDS)}")
        return backend
    raw = os.environ.get(ENV_VAR, "")
    value = raw.strip().lower() or "auto"
    if value not in BACKENDS:
        raise ValueError(f"{ENV_VAR}={raw!r} is not one of {', '.join(BACKENDS)}")
    return value


def _forced_by(backend: str | None) -> str:
    return f"backend={backend!r}" if backend is not None else f"{ENV_VAR}=ext"


def _first_caller_outside() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside emokit.kernels."""
    frame, level = sys._getframe(1), 1  # level 1: the function that calls warnings.warn
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != _PACKAGE and not module.startswith(f"{_PACKAGE}."):
            break
        frame, level = frame.f_back, level + 1
    return level


def _warn_fallback(reason: str) -> None:
    if reason in _warned:
        return
    _warned.add(reason)
    warnings.warn(
        f"{reason}, so emokit runs on its pure-PyTorch fallback (same results, slower); {BUILD_HINT}. "
        f"Set {ENV_VAR}=torch to choose the fallback without this warning.",
        KernelFallbackWarning,
        stacklevel=_first_caller_outside(),
    )


def backend(requested: str | None = None) -> str:
    """``"ext"`` when emokit's ops run in ``emokit._C``, else ``"torch"`` (the pure-PyTorch fallback).

    Args:
        requested: ``auto``, ``torch`` or ``ext``; ``None`` reads ``EMOKIT_BACKEND``.

    Under ``auto`` a missing or unusable extension gives ``"torch"`` and one
    :class:`KernelFallbackWarning` per process.

    Raises:
        KernelBackendError: ``ext`` was asked for and the extension is not usable; the message says
            why and how to build it.
        ValueError: an unknown backend name.
    """
    wanted = requested_backend(requested)
    if wanted == "torch":
        return "torch"
    state = extension_state()
    if state.loaded:
        return "ext"
    if wanted == "ext":
        raise KernelBackendError(f"{_forced_by(requested)} but {state.error}; {BUILD_HINT}")
    _warn_fallback(state.error or "emokit._C is not usable")
    return "torch"


def _ops_for(device: torch.device, requested: str | None = None) -> ModuleType:
    """The implementation (extension or fallback module) that runs an op on ``device``."""
    if backend(requested) == "torch":
        return fallback
    devices = extension_state().devices
    if device.type in devices:
        return extension
    reason = f"emokit._C has no {device.type} kernels (it was built for {'+'.join(devices)})"
    if requested_backend(requested) == "ext":
        raise KernelBackendError(f"{_forced_by(requested)} but {reason}; {BUILD_HINT}")
    _warn_fallback(reason)
    return fallback


def backend_info(requested: str | None = None) -> dict[str, Any]:
    """JSON-ready facts about the kernels in use, for result files.

    Keys: ``backend`` (``ext`` or ``torch``) and ``requested`` (see :func:`backend`), ``extension_loaded``,
    ``extension_path``, ``extension_error``, ``extension_devices``, ``compiled_with_cuda``,
    ``compiler``, ``openmp`` (OpenMP spec date the extension was compiled with, or ``"none"``),
    ``extension_torch`` (torch it was built against), ``cuda_runtime``, ``cuda_arch``,
    ``torch_version``, ``torch_cuda``, ``cuda_available``, ``torch_threads`` (torch's intra-op
    threads) and ``openmp_threads`` (OpenMP threads the extension's kernels get). Facts the build
    does not have are ``None``.
    """
    chosen = backend(requested)
    requested = requested_backend(requested)
    if requested == "torch":
        state = ExtensionState(loaded=False, error=f"not loaded ({ENV_VAR}=torch)")
    else:
        state = extension_state()
    facts = state.facts
    threads = facts.get("omp_max_threads")
    return {
        "backend": chosen,
        "requested": requested,
        "extension_loaded": state.loaded,
        "extension_path": state.path,
        "extension_error": state.error,
        "extension_devices": list(state.devices),
        "compiled_with_cuda": "cuda" in state.devices,
        "compiler": facts.get("compiler"),
        "openmp": facts.get("openmp"),
        "extension_torch": facts.get("torch"),
        "cuda_runtime": facts.get("cuda_runtime"),
        "cuda_arch": facts.get("cuda_arch"),
        "torch_version": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "torch_threads": torch.get_num_threads(),
        "openmp_threads": int(threads) if threads is not None else None,
    }


def module_counts(idx: torch.Tensor, num_modules: int, *, backend: str | None = None) -> torch.Tensor:
    """How many (path, slot) pairs use each module.

    Args:
        idx: int32/int64 [P, K]: module chosen by path ``p`` in slot ``k``, ``-1`` for an empty slot
            (the ``idx`` of the multi-path layer).
        num_modules: number of modules M in the layer.
        backend: ``auto``, ``torch`` or ``ext``; ``None`` reads ``EMOKIT_BACKEND``.

    Returns:
        int64 [M] on ``idx``'s device.

    Raises:
        TypeError: ``idx`` is not an integer tensor.
        ValueError: ``idx`` is not 2-D, ``num_modules`` is not positive, or an entry is outside [-1, M).
    """
    if not isinstance(idx, torch.Tensor):
        got = type(idx).__name__
        raise TypeError(f"emokit.module_counts: idx must be an int32 or int64 tensor, got {got}")
    return _ops_for(idx.device, backend).module_counts(idx, num_modules)


def multipath_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    idx: torch.Tensor,
    *,
    backend: str | None = None,
) -> torch.Tensor:
    """One PathNet layer for a whole population of paths (the contract in csrc/multipath.h), differentiable.

    ``y[p, b] = sum over k with idx[p, k] >= 0 of relu(x[p, b] @ weight[idx[p, k]].T + bias[idx[p, k]])``

    Args:
        x: float32/float64 [P, B, Din], or [B, Din]: one input shared by every path (a first layer).
        weight: [M, Dout, Din], the layer's M modules; bias: [M, Dout]; both of x's dtype.
        idx: int32/int64 [P, K]: module of path p in slot k, ``-1`` for an empty slot.
        backend: ``auto``, ``torch`` or ``ext``; ``None`` reads ``EMOKIT_BACKEND``.

    Returns:
        y [P, B, Dout]. A path without an active module gives zeros; a module in two slots of a path
        counts twice. Backward gives grad_x, grad_weight (summed over every path using a module) and
        grad_bias, so a whole population trains in one step.

    Raises:
        TypeError: a wrong dtype. ValueError: a wrong shape, mixed devices, a non-contiguous argument,
        or a module index outside ``[-1, M)``. Every backend raises the same errors, word for word.
        KernelBackendError: ``ext`` was asked for and the extension cannot run on x's device.
    """
    if not all(isinstance(t, torch.Tensor) for t in (x, weight, bias, idx)):
        fallback.check_multipath_args(x, weight, bias, idx)  # raises, naming the argument
    return _ops_for(x.device, backend).multipath_linear(x, weight, bias, idx)


# Last: population.py calls back into multipath_linear above.
