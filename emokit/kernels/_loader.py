"""Loading of the compiled extension ``emokit._C`` and what it reports about itself.

Kept apart from the backend choice so that importing :mod:`emokit.kernels` costs nothing: the
shared library is loaded on the first call that needs it, once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch

#: How to get the extension, quoted in every warning and error about it missing.
BUILD_HINT = (
    "to build it, run `pip install --no-build-isolation -e .` in the emokit source tree, with torch, "
    "setuptools, wheel and ninja installed first (a C++ compiler is needed; CUDA kernels are added when "
    "torch is a CUDA build and nvcc is found)"
)


@dataclass(frozen=True)
class ExtensionState:
    """Whether ``emokit._C`` is usable in this process, and its build facts.

    Attributes:
        loaded: the library loaded and matches the running torch; its ops are in ``torch.ops.emokit``.
        path: file of the library, when it could be found.
        devices: device types with kernels compiled in, e.g. ``("cpu", "cuda")``; empty if not loaded.
        facts: ``key -> value`` reported by ``torch.ops.emokit.backend_info()`` (compiler, openmp,
            torch it was built against, omp_max_threads, cuda_runtime, cuda_arch, ...).
        error: why the extension is not usable, ``None`` when it is.
    """

    loaded: bool
    path: str | None = None
    devices: tuple[str, ...] = ()
    facts: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def parse_backend_info(text: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """Split the op's ``"cpu+cuda;key=value;..."`` answer into device types and facts."""
    head, *pairs = text.split(";")
    facts = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    return tuple(head.split("+")), facts


@functools.cache
def extension_state() -> ExtensionState:
    """Load ``emokit._C`` once and say whether it can be used (never raises for a missing build)."""
    try:
        # torch is imported above: the library links against libtorch/libc10, which that loads.
        import emokit._C as ext
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name == "emokit._C":
            reason = "emokit._C is not built"
        else:  # built, but it does not load: typically built against another torch
            reason = f"emokit._C failed to load ({exc})"
        return ExtensionState(loaded=False, error=reason)
    path = getattr(ext, "__file__", None)
    devices, facts = parse_backend_info(torch.ops.emokit.backend_info())
    built_for, running = facts.get("torch", "?"), torch.__version__.split("+")[0]
    if built_for != running:
        # The C++ ABI of torch changes between releases: a library that happened to load may still
        # misbehave, so it is not used.
        return ExtensionState(
            loaded=False,
            path=path,
            facts=facts,
            error=f"emokit._C ({path}) was built against torch {built_for} but torch {running} is running",
        )
    from emokit.kernels import extension

    extension.register()  # autograd and fake kernels of the ops, defined in Python
    return ExtensionState(loaded=True, path=path, devices=devices, facts=facts)
