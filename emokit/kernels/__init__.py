"""Python front of emokit's C++/CUDA kernels, with the pure-PyTorch fallback and the backend choice.

Each op here runs either in the compiled extension ``emokit._C`` (ops in ``torch.ops.emokit``) or in
:mod:`emokit.kernels.fallback`, which is the reference: same results, same errors, any device.

The choice is made per call, from the op's ``backend`` argument, else the environment variable
``EMOKIT_BACKEND``:

``auto`` (default)
    the extension when it is built and has kernels for the tensors' device, else the fallback,
    with one warning per process (:class:`KernelFallbackWarning`) saying so and how to build it.
``ext``
    the extension or an error (:class:`KernelBackendError`): for profiling, and for CI that must
    test the kernels.
``torch``
    the pure-PyTorch fallback; the extension is not even loaded.

:func:`backend_info` gives the facts a result file records (backend, library path, CUDA and OpenMP
build facts, torch version, threads).

Adding an op: implement it in fallback.py, register the C++ op in csrc/bindings.cpp, wrap it in
extension.py, and dispatch in dispatch.py with ``_ops_for(tensor.device, backend)`` as
:func:`module_counts` does.
"""

from __future__ import annotations

from emokit.kernels._loader import ExtensionState, extension_state
from emokit.kernels.dispatch import (
    BACKENDS,
    ENV_VAR,
    KernelBackendError,
    KernelFallbackWarning,
    backend,
    backend_info,
    module_counts,
    multipath_linear,
    requested_backend,
)
from emokit.kernels.population import PopulationOutput, population_flops, population_forward

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "ExtensionState",
    "KernelBackendError",
    "KernelFallbackWarning",
    "PopulationOutput",
    "backend",
    "backend_info",
    "extension_state",
    "module_counts",
    "multipath_linear",
    "population_flops",
    "population_forward",
    "requested_backend",
]
