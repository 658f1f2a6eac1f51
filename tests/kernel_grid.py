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
    return device in _ext_devices()


def _ext_devices() -> tuple[str, ...]:
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
        reason = f"emokit._C has no {device} kernels here"
        params.append(
            pytest.param(
                device,
                "ext",
                id=f"{device}-ext",
                marks=pytest.mark.skipif(device not in _ext_devices(), reason=reason),
            )
        )
    return params


def reference_multipath(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, idx: torch.Tensor
) -> torch.Tensor:
    """The kernels' contract (csrc/multipath.h) as a float64 loop over paths and slots (differentiable)."""
    x, weight, bias = x.double(), weight.double(), bias.double()
    paths, slots = idx.shape
    rows = []
    for p in range(paths):
        x_p = x if x.dim() == 2 else x[p]
        out = torch.zeros(x_p.shape[0], weight.shape[1], dtype=torch.float64, device=x.device)
        for k in range(slots):
            m = int(idx[p, k])
            if m >= 0:
                out = out + torch.relu(x_p @ weight[m].T + bias[m])
        rows.append(out)
    return torch.stack(rows) if rows else x.new_zeros(0, x.shape[-2], weight.shape[1])


def reference_population(
    x: torch.Tensor,
    layers: list[tuple[torch.Tensor, torch.Tensor]],
    paths: torch.Tensor,
    head_weight: torch.Tensor,
    head_bias: torch.Tensor,
) -> torch.Tensor:
    """Logits [P, B, C] of every path, one path at a time, in float64."""
    logits = []
    for p in range(paths.shape[0]):
        hidden = x.double()
        for (weight, bias), idx in zip(layers, paths[p], strict=True):
            hidden = reference_multipath(hidden, weight, bias, idx.view(1, -1))[0]
        hw = head_weight[p] if head_weight.dim() == 3 else head_weight
        hb = head_bias[p] if head_bias.dim() == 2 else head_bias
        logits.append(hidden @ hw.double().T + hb.double())
    return torch.stack(logits)
