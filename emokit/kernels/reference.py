"""An independent float64 reference of the kernels' contract (``csrc/multipath.h``), and the inputs
the kernel tests and ``benchmarks/gpu_check.py`` check every backend on.

The reference is a plain loop over paths and slots, written from the contract alone: no grouping by
module, no shared prefixes, nothing the kernels or the fallback do to be fast.
"""

from __future__ import annotations

import itertools

import torch

#: (P, B, Din, Dout, M, K): odd sizes, a single path, a single sample, one module, one input feature,
#: more slots than modules (so modules repeat), no slot at all, a size that spans several CPU tiles
SHAPES: list[tuple[int, int, int, int, int, int]] = [
    (5, 7, 9, 11, 4, 3),
    (1, 13, 6, 5, 3, 2),
    (6, 1, 4, 7, 5, 3),
    (3, 5, 1, 3, 1, 2),
    (4, 3, 5, 2, 2, 5),
    (4, 3, 5, 2, 3, 0),
    (17, 129, 33, 31, 7, 3),
]


def reference_multipath(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, idx: torch.Tensor
) -> torch.Tensor:
    """One PathNet layer for P paths, ``y[p] = sum_k relu(x[p] @ weight[idx[p,k]].T + bias[idx[p,k]])``
    (``-1``: an empty slot), in float64, one path and one slot at a time (differentiable)."""
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
    """Logits ``[P, B, C]`` of every path, one path at a time, in float64."""
    logits = []
    for p in range(paths.shape[0]):
        hidden = x.double()
        for (weight, bias), idx in zip(layers, paths[p], strict=True):
            hidden = reference_multipath(hidden, weight, bias, idx.view(1, -1))[0]
        hw = head_weight[p] if head_weight.dim() == 3 else head_weight
        hb = head_bias[p] if head_bias.dim() == 2 else head_bias
        logits.append(hidden @ hw.double().T + hb.double())
    return torch.stack(logits)


def multipath_inputs(
    shape: tuple[int, ...], shared: bool, device: str | torch.device, dtype: torch.dtype, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random x, weight, bias, idx of ``shape`` (drawn on the CPU, then moved); idx has empty slots,
    a path with no active module and one module in two slots of a path."""
    paths, batch, din, dout, modules, slots = shape
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, din) if shared else (paths, batch, din), generator=gen, dtype=dtype)
    weight = torch.randn(modules, dout, din, generator=gen, dtype=dtype) / din**0.5
    bias = torch.randn(modules, dout, generator=gen, dtype=dtype) * 0.5
    idx = torch.randint(-1, modules, (paths, slots), generator=gen)
    if slots >= 2 and paths >= 2:
        idx[0, :2] = modules - 1  # one module in two slots of one path
        idx[-1] = -1  # a path with no active module
    return x.to(device), weight.to(device), bias.to(device), idx.to(device)


def population_model(
    widths: tuple[int, ...],
    modules: int,
    classes: int,
    dtype: torch.dtype,
    device: str | torch.device,
    seed: int,
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor, torch.Tensor]:
    """Random layers (``modules`` per layer, widths in order) and a task head."""
    gen = torch.Generator().manual_seed(seed)
    layers = []
    for din, dout in itertools.pairwise(widths):
        weight = torch.randn(modules, dout, din, generator=gen, dtype=dtype) / din**0.5
        bias = torch.randn(modules, dout, generator=gen, dtype=dtype) * 0.1
        layers.append((weight.to(device), bias.to(device)))
    head_w = (torch.randn(classes, widths[-1], generator=gen, dtype=dtype) / widths[-1] ** 0.5).to(device)
    head_b = torch.zeros(classes, dtype=dtype, device=device)
    return layers, head_w, head_b


def converging_population(paths: int, layers: int, slots: int, modules: int, seed: int) -> torch.Tensor:
    """Random paths, half of them copies of path 0 (some with slots permuted), one with empty slots."""
    gen = torch.Generator().manual_seed(seed)
    population = torch.randint(-1, modules, (paths, layers, slots), generator=gen)
    for p in range(1, paths, 2):
        population[p] = population[0][:, torch.randperm(slots, generator=gen)]
    population[-1, 0] = -1
    return population
