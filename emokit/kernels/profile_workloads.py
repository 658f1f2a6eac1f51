"""The populations, inputs and the four measured workloads of the kernel profile.

Each workload builds a :class:`~emokit.kernels.profile_measurements.Measurement`: the candidates to
time (``torch``, ``ext`` and the references), the float64 reference and the work it does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from emokit import kernels
from emokit.kernels.population import group_prefixes
from emokit.kernels.profile_config import GridPoint

Outputs = dict[str, torch.Tensor]


@dataclass
class Measurement:
    """What to measure: candidates to time, how to check them and how much work they do.

    ``candidates`` return named outputs (or ``None``: not checked); those of ``torch`` and ``ext`` are
    compared with each other and all with ``reference`` (the fallback in float64).
    """

    candidates: dict[str, Callable[[], Outputs | None]]
    reference: Callable[[], Outputs]
    flops: float
    mm: dict[str, Callable[[], Any]]  # dense references (see _dense_mm)
    extra: dict[str, Any] = field(default_factory=dict)


# --- populations ------------------------------------------------------------------------------------


def random_path(layers: int, slots: int, modules: int, generator: torch.Generator) -> torch.Tensor:
    """One path, int64 [L, K]: K distinct modules per layer, as PathNet initialises them."""
    return torch.stack([torch.randperm(modules, generator=generator)[:slots] for _ in range(layers)])


def make_population(
    paths: int,
    layers: int,
    slots: int,
    modules: int,
    convergence: float,
    generator: torch.Generator,
    *,
    elite: torch.Tensor | None = None,
) -> torch.Tensor:
    """A population int64 [P, L, K] between random (``convergence=0``) and fully converged (``1``).

    ``round(convergence * P)`` paths are copies of one elite path (``elite``, else drawn), the others
    random; rows are shuffled. Each layer row of a path holds K distinct modules of M.

    Raises:
        ValueError: K > M, a non-positive size, or ``convergence`` outside [0, 1].
    """
    if min(paths, layers, slots, modules) < 1 or slots > modules:
        raise ValueError(
            f"make_population: need P, L, K, M >= 1 and K <= M, got {paths, layers, slots, modules}"
        )
    if not 0.0 <= convergence <= 1.0:
        raise ValueError(f"make_population: convergence must lie in [0, 1], got {convergence}")
    if elite is None:
        elite = random_path(layers, slots, modules, generator)
    elif tuple(elite.shape) != (layers, slots):
        raise ValueError(
            f"make_population: elite must have shape [L={layers}, K={slots}], got {list(elite.shape)}"
        )
    copies = round(convergence * paths)
    rows = [elite.clone() for _ in range(copies)]
    rows += [random_path(layers, slots, modules, generator) for _ in range(paths - copies)]
    population = torch.stack(rows).long()
    return population[torch.randperm(paths, generator=generator)].contiguous()


# --- inputs -----------------------------------------------------------------------------------------


@dataclass
class Inputs:
    """Random tensors of one grid point, shared by every convergence level.

    The forward rows and the population draw continuous values (x normal, weights as nn.Linear
    initialises them), so their errors against float64 show the rounding of each implementation.
    The forward+backward row draws its tensors (``bwd_*``) on a dyadic grid instead (see
    :func:`dyadic_op_inputs`): with continuous values, a pre-activation within rounding of 0 falls on
    the other side of the ReLU in one implementation, and the gradient then differs by a whole term
    (grad * w, grad * x): a tie, not an error, but one the check would have to call a mismatch. On the
    grid every pre-activation is exact in float32, so each implementation, float64 included, sees the
    same ReLU pattern.
    """

    op_x: torch.Tensor  # [B, Din], shared input of the forward rows
    op_x_paths: torch.Tensor  # [P, B, Din], per-path input of the forward rows
    op_weight: torch.Tensor  # [M, Dout, Din], the op rows' modules
    op_bias: torch.Tensor  # [M, Dout]
    bwd_x_paths: torch.Tensor  # [P, B, Din], the forward+backward row's input (dyadic)
    bwd_grad: torch.Tensor  # [P, B, Dout], its upstream gradient (dyadic)
    bwd_weight: torch.Tensor  # [M, Dout, Din], its modules (dyadic)
    bwd_bias: torch.Tensor  # [M, Dout] (dyadic)
    x: torch.Tensor  # [B, Din], the population's batch
    layers: list[tuple[torch.Tensor, torch.Tensor]]  # the population's L layers
    head_weight: torch.Tensor  # [C, D_L]
    head_bias: torch.Tensor  # [C]
    targets: torch.Tensor  # [B]

    def to(self, dtype: torch.dtype | None = None, device: torch.device | None = None) -> Inputs:
        """A copy with the float tensors cast to ``dtype`` and everything moved to ``device``."""

        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)

        fields = {
            name: [(move(w), move(b)) for w, b in value] if name == "layers" else move(value)
            for name, value in vars(self).items()
        }
        return Inputs(**fields)


def _linear_params(
    modules: int, din: int, dout: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and biases initialised as torch.nn.Linear does: uniform in +-1/sqrt(Din)."""
    bound = 1.0 / math.sqrt(din)
    weight = (torch.rand(modules, dout, din, generator=generator) * 2 - 1) * bound
    bias = (torch.rand(modules, dout, generator=generator) * 2 - 1) * bound
    return weight, bias


def _dyadic(shape: Sequence[int], bound: int, scale: float, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(-bound, bound + 1, tuple(shape), generator=generator).float() * scale


def dyadic_op_inputs(
    point: GridPoint, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs of the op whose forward is exact in float32: x [P, B, Din], grad, weight, bias.

    x and grad are k/16 (|k| <= 32), weights j/(16 s) (|j| <= 16, s the power of two at or above
    sqrt(Din), so |w| <= 1/sqrt(Din) about as nn.Linear), biases i/(256 s) (|i| <= 256): every
    pre-activation is an integer multiple of 1/(256 s) below 2^24 of them (for Din < 32768), and so
    are the sums of the K slots.
    """
    p, b, din, dout, m = point.paths, point.batch, point.din, point.dout, point.modules
    s = 2.0 ** math.ceil(math.log2(math.sqrt(din)))
    return (
        _dyadic((p, b, din), 32, 1 / 16, generator),
        _dyadic((p, b, dout), 32, 1 / 16, generator),
        _dyadic((m, dout, din), 16, 1 / (16 * s), generator),
        _dyadic((m, dout), 256, 1 / (256 * s), generator),
    )


def make_inputs(
    point: GridPoint, classes: int, generator: torch.Generator, device: torch.device, dtype: torch.dtype
) -> Inputs:
    """The random inputs of a grid point (drawn on the CPU from ``generator``, then moved)."""
    p, b, din, dout, m = point.paths, point.batch, point.din, point.dout, point.modules
    op_weight, op_bias = _linear_params(m, din, dout, generator)
    bwd_x_paths, bwd_grad, bwd_weight, bwd_bias = dyadic_op_inputs(point, generator)
    layers = [
        _linear_params(m, din if layer == 0 else dout, dout, generator) for layer in range(point.layers)
    ]
    head_weight, head_bias = _linear_params(1, dout, classes, generator)
    inputs = Inputs(
        op_x=torch.randn(b, din, generator=generator),
        op_x_paths=torch.randn(p, b, din, generator=generator),
        op_weight=op_weight,
        op_bias=op_bias,
        bwd_x_paths=bwd_x_paths,
        bwd_grad=bwd_grad,
        bwd_weight=bwd_weight,
        bwd_bias=bwd_bias,
        x=torch.randn(b, din, generator=generator),
        layers=layers,
        head_weight=head_weight[0],
        head_bias=head_bias[0],
        targets=torch.randint(0, classes, (b,), generator=generator),
    )
    return inputs.to(dtype, device)


def _dense_mm(
    flops: float, din: int, dout: int, batch: int, device: torch.device, dtype: torch.dtype
) -> dict[str, Callable[[], Any]]:
    """Dense GEMMs doing ``flops`` of work (cuBLAS on a GPU), the reference rate of the machine.

    Two shapes of the same work: one tall ``A [rows, Din] @ W [Din, Dout]`` (``mm``), and the rows in
    batch-sized chunks (``mm_chunked``), which some BLAS run faster (a tile stays in cache). The
    faster of the two is the reference, so "% of mm" is never flattered by a slow shape.
    """
    rows = max(1, round(flops / (2 * din * dout)))
    a = torch.randn(rows, din, device=device, dtype=dtype)
    w = torch.randn(din, dout, device=device, dtype=dtype)
    chunks = a.split(max(1, batch))
    out = [torch.empty(len(c), dout, device=device, dtype=dtype) for c in chunks]

    def chunked() -> None:
        for c, o in zip(chunks, out, strict=True):
            torch.mm(c, w, out=o)

    return {"mm": lambda: torch.mm(a, w), "mm_chunked": chunked}


# --- the four measurements --------------------------------------------------------------------------


def _op_forward(
    inputs: Inputs, ref: Inputs, idx: torch.Tensor, shared: bool, ext: bool, device: torch.device
) -> Measurement:
    x, x64 = (inputs.op_x, ref.op_x) if shared else (inputs.op_x_paths, ref.op_x_paths)
    weight, bias = inputs.op_weight, inputs.op_bias
    din, dout = x.shape[-1], weight.shape[1]
    batch = x.shape[-2]
    units = int(torch.unique(idx[idx >= 0]).numel()) if shared else int((idx >= 0).sum())
    flops = 2.0 * units * batch * din * dout

    def run(backend: str) -> Callable[[], Outputs]:
        return lambda: {"y": kernels.multipath_linear(x, weight, bias, idx, backend=backend)}

    candidates = {"torch": run("torch")}
    if ext:
        candidates["ext"] = run("ext")
    return Measurement(
        candidates,
        lambda: {"y": kernels.multipath_linear(x64, ref.op_weight, ref.op_bias, idx, backend="torch")},
        flops,
        _dense_mm(flops, din, dout, batch, device, x.dtype),
        {"gemm_units": units},
    )


def forward_backward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    idx: torch.Tensor,
    grad: torch.Tensor,
    backend: str,
) -> Outputs:
    """The training op's output (``y``) and the gradients of x, weight and bias for ``grad``."""
    xs, ws, bs = (t.detach().requires_grad_() for t in (x, weight, bias))
    y = kernels.multipath_linear(xs, ws, bs, idx, backend=backend)
    y.backward(grad)
    return {"y": y.detach(), "grad_x": xs.grad, "grad_weight": ws.grad, "grad_bias": bs.grad}


def _op_forward_backward(
    inputs: Inputs, ref: Inputs, idx: torch.Tensor, ext: bool, device: torch.device
) -> Measurement:
    x, weight, bias, grad = inputs.bwd_x_paths, inputs.bwd_weight, inputs.bwd_bias, inputs.bwd_grad
    din, dout, batch = x.shape[-1], weight.shape[1], x.shape[-2]
    units = int((idx >= 0).sum())
    flops = 3 * 2.0 * units * batch * din * dout  # forward, grad_x and grad_weight GEMMs

    def run(backend: str) -> Callable[[], Outputs]:
        return lambda: forward_backward(x, weight, bias, idx, grad, backend)

    candidates = {"torch": run("torch")}
    if ext:
        candidates["ext"] = run("ext")
    return Measurement(
        candidates,
        lambda: forward_backward(ref.bwd_x_paths, ref.bwd_weight, ref.bwd_bias, idx, ref.bwd_grad, "torch"),
        flops,
        _dense_mm(flops, din, dout, batch, device, x.dtype),
        {"gemm_units": units},
    )


def serial_fitness(
    x: torch.Tensor,
    layers: Sequence[tuple[torch.Tensor, torch.Tensor]],
    paths: Sequence[Sequence[Sequence[int]]],
    head_weight: torch.Tensor,
    head_bias: torch.Tensor,
    targets: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The serial baseline: one path at a time, one ``F.linear`` per (layer, slot), as public PathNet
    re-implementations evaluate a population. Returns logits [P, B, C], loss [P] and accuracy [P]."""
    logits, losses, accuracies = [], [], []
    for path in paths:
        hidden = x
        for (weight, bias), row in zip(layers, path, strict=True):
            out = torch.zeros(x.shape[0], weight.shape[1], dtype=x.dtype, device=x.device)
            for module in row:
                if module >= 0:
                    out = out + F.relu(F.linear(hidden, weight[module], bias[module]))
            hidden = out
        path_logits = F.linear(hidden, head_weight, head_bias)
        logits.append(path_logits)
        losses.append(F.cross_entropy(path_logits, targets))
        accuracies.append((path_logits.argmax(-1) == targets).float().mean())
    return torch.stack(logits), torch.stack(losses), torch.stack(accuracies)


def _fitness(
    inputs: Inputs,
    ref: Inputs,
    paths: torch.Tensor,
    elite: torch.Tensor,
    ext: bool,
    device: torch.device,
    with_serial: bool = True,
) -> Measurement:
    din, dout = inputs.x.shape[1], inputs.layers[-1][0].shape[1]
    shapes = [(w.shape[2], w.shape[1]) for w, _ in inputs.layers]
    batch, classes = inputs.x.shape[0], inputs.head_weight.shape[0]
    flops = kernels.population_flops(paths, shapes, batch, classes)["total"]
    path_lists = paths.tolist()

    def run(backend: str, population: torch.Tensor) -> Callable[[], Outputs]:
        def call() -> Outputs:
            out = kernels.population_forward(
                inputs.x, inputs.layers, population, inputs.head_weight, inputs.head_bias, inputs.targets,
                backend=backend,
            )  # fmt: skip
            return {"logits": out.logits}

        return call

    def serial() -> Outputs:
        logits, _, _ = serial_fitness(
            inputs.x, inputs.layers, path_lists, inputs.head_weight, inputs.head_bias, inputs.targets
        )
        return {"logits": logits}

    def reference() -> Outputs:
        out = kernels.population_forward(
            ref.x, ref.layers, paths, ref.head_weight, ref.head_bias, ref.targets, backend="torch"
        )
        return {"logits": out.logits}

    candidates: dict[str, Callable[[], Outputs | None]] = {"torch": run("torch", paths)}
    if ext:
        one_path = run("ext", elite.unsqueeze(0).to(paths.device))

        def single() -> None:  # timed only: its logits are one row of ext's
            one_path()

        candidates.update(ext=run("ext", paths), single=single)
    if with_serial:
        candidates["serial"] = serial
    plan = group_prefixes(paths)
    distinct = [int(idx.shape[0]) for idx in plan.idx]
    return Measurement(
        candidates,
        reference,
        flops,
        _dense_mm(flops, din, dout, batch, device, inputs.x.dtype),
        {"distinct": distinct},
    )
