"""The grid the kernel tests run over (devices x backends x dtypes), and a float64 reference.

As in pytorch_scatter's testing.py: a test names what it needs from the grid and runs on every
combination this machine has: the fallback everywhere, the extension where it is built for the
device, CUDA where a GPU is visible.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

BUILT = importlib.util.find_spec("emokit._C") is not None


def devices() -> list[str]:
    """Device types to test on: the CPU, and CUDA when a GPU is visible."""
    return ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def ext_available(device: str) -> bool:
    """Whether emokit._C is built with kernels for ``device`` ("cpu" or "cuda")."""
    return device in extension_devices()


def extension_devices() -> tuple[str, ...]:
    """Device types emokit._C has kernels for here; empty when it is not built or does not load."""
    if not BUILT:
        return ()
    from emokit.kernels import extension_state

    state = extension_state()
    return state.devices if state.loaded else ()


def backend_params() -> list:
    """pytest params (device, backend): the fallback on every device, the extension where built."""
    params = []
    for device in devices():
        params.append(pytest.param(device, "torch", id=f"{device}-torch"))
        params.append(
            pytest.param(
                device,
                "ext",
                id=f"{device}-ext",
                marks=pytest.mark.extension(device=device),
            )
        )
    return params
