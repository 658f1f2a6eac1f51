"""Profiler of the multi-path kernels: the fallback against the extension, judged by ratios.

Over a grid of populations (P paths, B samples, widths Din/Dout, M modules, K slots, L layers) and
populations from random to fully converged, one process measures, interleaving the backends:

``op_forward_shared``
    :func:`~emokit.kernels.multipath_linear` on a shared input [B, Din] with the layer-1 modules;
``op_forward``
    the op on a per-path input [P, B, Din] with the layer-2 modules;
``op_forward_backward``
    the same with gradients of x, weight and bias;
``fitness``
    :func:`~emokit.kernels.population_forward` with targets (logits, loss, accuracy), the call the
    genetic search makes; beside it the extension on one path alone (``single``) and the ``serial``
    baseline: one path at a time with ``torch.nn.functional.linear``, as PathNet re-implementations do.

Every measurement also times a dense ``torch.mm`` of the same total work (``mm``), so speed is a
ratio taken in one run: speed-up = fallback time / extension time; GFLOP/s =
the work actually needed (active slots; each module once on a shared input; each distinct prefix
once in the population) / extension time; ``mm_ratio`` = that GFLOP/s / the mm's GFLOP/s.

Before timing, each measurement runs every candidate once, compares the extension with the fallback
(``torch.testing.assert_close``) and both with the fallback in float64: a mismatch is recorded as
such (``status: "mismatch"``) and never timed. Timings are the median and interquartile range of
``repeats`` interleaved rounds (torch, ext, ..., torch, ext, ...) after warm-up calls.

The backends are named as everywhere in emokit: ``torch`` (the pure-PyTorch fallback) and ``ext``
(the compiled extension). Without a usable extension the profile runs the fallback alone and says why.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import product
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from emokit import kernels
from emokit.kernels._loader import BUILD_HINT
from emokit.kernels.population import group_prefixes

__all__ = [
    "CRITERIA",
    "LIST_OPTIONS",
    "MEASUREMENTS",
    "QUICK_CONFIG",
    "GridPoint",
    "ProfileConfig",
    "TimingStats",
    "config_from_options",
    "default_output_path",
    "dyadic_op_inputs",
    "evaluate_criteria",
    "extension_status",
    "make_population",
    "parse_list",
    "print_report",
    "random_path",
    "run_profile",
    "serial_fitness",
    "time_interleaved",
    "write_report",
]

REPORT_FORMAT = 1
#: Fewest timed rounds a measurement gets when ``budget_s`` cuts the repeats of a slow configuration.
MIN_REPEATS = 3
#: Tolerance of the extension against the fallback in float32 (sums of K ReLU GEMMs, and gradients
#: summed over P * B rows): ``rtol`` and ``atol * max(1, max |reference|)``.
RTOL = {torch.float32: 1e-4, torch.float64: 1e-10}
ATOL = {torch.float32: 1e-4, torch.float64: 1e-10}
DTYPES = {"float32": torch.float32, "float64": torch.float64}

Candidates = Mapping[str, Callable[[], Any]]
Outputs = dict[str, torch.Tensor]


# --- configuration ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridPoint:
    """One population size of the grid: P paths, batch B, Din -> Dout, M modules, K slots, L layers."""

    paths: int
    batch: int
    din: int
    dout: int
    modules: int
    slots: int
    layers: int

    def label(self) -> str:
        width = str(self.din) if self.din == self.dout else f"{self.din}->{self.dout}"
        return f"P={self.paths} B={self.batch} D={width} M={self.modules} K={self.slots} L={self.layers}"


@dataclass(frozen=True)
class ProfileConfig:
    """What :func:`run_profile` measures; the grid is the product of the tuples.

    Attributes:
        paths, batch, modules, slots, layers: grid values of P, B, M, K, L.
        widths: layer widths D (Din = Dout = D in every layer); replaced by ``din`` x ``dout`` when
            both are given (first layer Din -> Dout, deeper layers Dout -> Dout).
        classes: C, classes of the task head.
        convergence: fractions of the population that are copies of one elite path (0 = random,
            1 = fully converged); each grid point is measured at each.
        repeats: timed rounds per measurement; ``budget_s`` may lower it (to no fewer than 3) for a
            configuration whose round takes long, and each record says how many it got.
        warmup: untimed calls of each candidate before timing; the correctness check's call is the
            first of them, so there is always at least one.
        budget_s: seconds of timing a measurement should take at most, ``None``: no limit.
        device: ``cpu`` or ``cuda`` (``cuda:N``); dtype: ``float32`` or ``float64``.
        seed: seed of every random input and population.
        threads: ``torch.set_num_threads`` for the run, ``None`` to keep torch's default.
    """

    paths: tuple[int, ...] = (64,)
    batch: tuple[int, ...] = (256, 1024)
    widths: tuple[int, ...] = (128, 256)
    din: tuple[int, ...] | None = None
    dout: tuple[int, ...] | None = None
    modules: tuple[int, ...] = (20,)
    slots: tuple[int, ...] = (3,)
    layers: tuple[int, ...] = (3,)
    classes: int = 6
    convergence: tuple[float, ...] = (0.0, 0.5, 0.9, 1.0)
    repeats: int = 5
    warmup: int = 1
    budget_s: float | None = None
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    threads: int | None = None

    def validate(self) -> None:
        """Raise ValueError naming the option (as ``emokit profile`` spells it) of a bad value."""
        positive = {
            "--paths": self.paths,
            "--batch": self.batch,
            "--width": self.widths,
            "--modules": self.modules,
            "--slots": self.slots,
            "--layers": self.layers,
        }
        if self.din is not None or self.dout is not None:
            positive.update({"--din": self.din or (), "--dout": self.dout or ()})
            if not self.din or not self.dout:
                raise ValueError("--din and --dout: give both (the grid is Din x Dout) or neither")
        for option, values in positive.items():
            if not values or any(not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"{option} {_show(values)}: expected positive integers, e.g. 64 or 128,256")
        if max(self.slots) > min(self.modules):
            raise ValueError(
                f"--slots {_show(self.slots)} with --modules {_show(self.modules)}: a path's K slots hold "
                "distinct modules, so K must not exceed M"
            )
        if not self.convergence or any(not 0.0 <= c <= 1.0 for c in self.convergence):
            raise ValueError(
                f"--convergence {_show(self.convergence)}: expected fractions in [0, 1], e.g. 0,0.5,1"
            )
        checks = [
            (self.classes >= 1, f"--classes {self.classes}: expected a positive integer"),
            (self.repeats >= 1, f"--repeats {self.repeats}: expected a positive integer"),
            (self.warmup >= 0, f"--warmup {self.warmup}: expected 0 or more"),
            (self.threads is None or self.threads >= 1, f"--threads {self.threads}: expected >= 1"),
            (self.budget_s is None or self.budget_s > 0, f"--budget {self.budget_s}: expected seconds > 0"),
            (self.dtype in DTYPES, f"--dtype {self.dtype!r}: expected one of {', '.join(DTYPES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        self._validate_device()

    def _validate_device(self) -> None:
        try:
            device = torch.device(self.device)
        except RuntimeError:
            raise ValueError(f"--device {self.device!r}: expected cpu or cuda") from None
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"--device {self.device!r}: expected cpu or cuda")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--device {self.device}: torch sees no CUDA device here")

    def shapes(self) -> list[tuple[int, int]]:
        """The (Din, Dout) pairs of the grid."""
        if self.din and self.dout:
            return list(product(self.din, self.dout))
        return [(d, d) for d in self.widths]

    def grid(self) -> Iterator[GridPoint]:
        """Every grid point, smallest loops innermost: P, B, (Din, Dout), M, K, L."""
        for p, b, (din, dout), m, k, layers in product(
            self.paths, self.batch, self.shapes(), self.modules, self.slots, self.layers
        ):
            yield GridPoint(p, b, din, dout, m, k, layers)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {key: list(v) if isinstance(v, tuple) else v for key, v in data.items()}


def _show(values: Sequence[Any] | None) -> str:
    return ",".join(str(v) for v in values) if values else "''"


#: A grid that runs in seconds: for tests and a first look (``emokit profile --quick``).
QUICK_CONFIG = ProfileConfig(
    paths=(8,),
    batch=(32,),
    widths=(32,),
    modules=(6,),
    slots=(2,),
    layers=(2,),
    convergence=(0.0, 1.0),
    repeats=3,
    warmup=1,
)


#: ``emokit profile`` options that take comma-separated lists: config field -> (option, type).
LIST_OPTIONS: dict[str, tuple[str, type]] = {
    "paths": ("--paths", int),
    "batch": ("--batch", int),
    "widths": ("--width", int),
    "din": ("--din", int),
    "dout": ("--dout", int),
    "modules": ("--modules", int),
    "slots": ("--slots", int),
    "layers": ("--layers", int),
    "convergence": ("--convergence", float),
}


def parse_list(value: str, option: str, kind: type = int) -> tuple[Any, ...]:
    """``"128,256"`` -> ``(128, 256)``; ValueError naming ``option`` when an item is not a ``kind``."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    try:
        if not items:
            raise ValueError
        return tuple(kind(v) for v in items)
    except ValueError:
        what = "integers, e.g. 128,256" if kind is int else "numbers, e.g. 0,0.5,1"
        raise ValueError(f"{option} {value!r}: expected a comma-separated list of {what}") from None


def config_from_options(*, quick: bool = False, **options: Any) -> ProfileConfig:
    """The config of ``emokit profile``: the default grid (or :data:`QUICK_CONFIG`) with the options
    given (``None`` = not given; list options as strings, see :data:`LIST_OPTIONS`), validated.

    Raises:
        ValueError: a bad value; the message names the option.
    """
    changes = {}
    for name, value in options.items():
        if value is None:
            continue
        if name in LIST_OPTIONS:
            option, kind = LIST_OPTIONS[name]
            value = parse_list(value, option, kind)
        changes[name] = value
    config = replace(QUICK_CONFIG if quick else ProfileConfig(), **changes)
    config.validate()
    return config


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


# --- timing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimingStats:
    """Seconds of the timed calls of one candidate: median, interquartile range and every call."""

    median_s: float
    iqr_s: float
    times_s: tuple[float, ...]

    @classmethod
    def of(cls, times: Sequence[float]) -> TimingStats:
        if len(times) >= 2:
            q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive")
        else:
            q1 = q3 = times[0]
        return cls(statistics.median(times), q3 - q1, tuple(times))

    def to_json(self) -> dict[str, Any]:
        return {"median_s": self.median_s, "iqr_s": self.iqr_s, "times_s": list(self.times_s)}


def _synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def time_interleaved(
    candidates: Candidates,
    *,
    repeats: int,
    warmup: int = 1,
    sync: Callable[[], None] = lambda: None,
) -> dict[str, TimingStats]:
    """Time each candidate ``repeats`` times, interleaved (a, b, a, b, ...), after ``warmup`` rounds.

    ``sync`` runs before and after each timed call (``torch.cuda.synchronize`` on a GPU), so a call's
    time is that of its kernels and not of their launch.
    """
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
        sync()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: TimingStats.of(values) for name, values in times.items()}


def choose_repeats(repeats: int, round_s: float, budget_s: float | None) -> int:
    """``repeats``, lowered (to no fewer than :data:`MIN_REPEATS`) to fit ``budget_s`` seconds."""
    if budget_s is None or round_s <= 0:
        return repeats
    return max(min(repeats, MIN_REPEATS), min(repeats, int(budget_s // round_s)))


# --- the extension ----------------------------------------------------------------------------------


def extension_status(device: str | torch.device) -> str | None:
    """``None`` when the extension can run the ops on ``device``, else why it cannot."""
    state = kernels.extension_state()
    if not state.loaded:
        return state.error or "emokit._C is not usable"
    kind = torch.device(device).type
    if kind not in state.devices:
        return f"emokit._C has no {kind} kernels (it was built for {'+'.join(state.devices)})"
    return None


# --- one measurement ----------------------------------------------------------------------------


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


def _errors(outputs: Outputs, reference: Outputs) -> dict[str, dict[str, float]]:
    errors = {}
    for name, value in outputs.items():
        ref = reference[name]
        err = float((value.double() - ref).abs().max()) if value.numel() else 0.0
        scale = float(ref.abs().max()) if ref.numel() else 0.0
        errors[name] = {"max_abs": err, "max_rel": err / scale if scale > 0 else err}
    return errors


def _mismatch(ext: Outputs, fallback: Outputs, reference: Outputs, dtype: torch.dtype) -> str | None:
    """``None`` when the extension agrees with the fallback within float tolerance, else why not."""
    for name, value in ext.items():
        scale = max(1.0, float(reference[name].abs().max())) if reference[name].numel() else 1.0
        try:
            torch.testing.assert_close(
                value, fallback[name], rtol=RTOL[dtype], atol=ATOL[dtype] * scale, check_device=True
            )
        except AssertionError as exc:
            first = " ".join(str(exc).split())[:400]
            return f"{name}: the extension disagrees with the fallback: {first}"
    return None


def run_measurement(
    measurement: Measurement, config: ProfileConfig, sync: Callable[[], None], dtype: torch.dtype
) -> dict[str, Any]:
    """Check the candidates, then time them and the dense mm; a JSON-ready dict (see module doc)."""
    outputs: dict[str, Outputs | None] = {}
    first_s = 0.0
    for name, fn in measurement.candidates.items():
        sync()
        start = time.perf_counter()
        outputs[name] = fn()
        sync()
        first_s += time.perf_counter() - start
    reference = measurement.reference()
    result: dict[str, Any] = {"flops": measurement.flops, **measurement.extra}
    result["max_error"] = {name: _errors(out, reference) for name, out in outputs.items() if out is not None}
    if "ext" in outputs and outputs["ext"] is not None and outputs["torch"] is not None:
        problem = _mismatch(outputs["ext"], outputs["torch"], reference, dtype)
        if problem is not None:
            result.update(status="mismatch", error=problem, repeats=0, timings={})
            result.update(_ratios({}, measurement.flops))
            return result
    del outputs, reference
    candidates = {**measurement.candidates, **measurement.mm}
    repeats = choose_repeats(config.repeats, first_s * 1.3, config.budget_s)
    stats = time_interleaved(candidates, repeats=repeats, warmup=max(0, config.warmup - 1), sync=sync)
    result.update(status="ok", error=None, repeats=repeats)
    result["timings"] = {name: s.to_json() for name, s in stats.items()}
    result.update(_ratios(stats, measurement.flops))
    return result


def _ratios(stats: Mapping[str, TimingStats], flops: float) -> dict[str, float | None]:
    def median(name: str) -> float | None:
        return stats[name].median_s if name in stats else None

    fallback, ext = median("torch"), median("ext")
    dense = [t for t in (median("mm"), median("mm_chunked")) if t]
    mm = min(dense) if dense else None
    mm_gflops = flops / mm / 1e9 if mm else None
    gflops = flops / ext / 1e9 if ext else None
    fallback_gflops = flops / fallback / 1e9 if fallback else None
    return {
        "speedup": fallback / ext if fallback and ext else None,
        "gflops": gflops,
        "fallback_gflops": fallback_gflops,
        "mm_gflops": mm_gflops,
        "mm_ratio": gflops / mm_gflops if gflops and mm_gflops else None,
        "fallback_mm_ratio": fallback_gflops / mm_gflops if fallback_gflops and mm_gflops else None,
    }


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


# --- the grid ---------------------------------------------------------------------------------------

MEASUREMENTS = ("op_forward_shared", "op_forward", "op_forward_backward", "fitness")


def _measurement(
    name: str,
    inputs: Inputs,
    ref: Inputs,
    paths: torch.Tensor,
    elite: torch.Tensor,
    ext: bool,
    device: torch.device,
    with_serial: bool = True,
) -> Measurement:
    """The measurement ``name`` of :data:`MEASUREMENTS` for one population."""
    shared_idx = paths[:, 0].contiguous()  # the first layer's modules: its input is shared
    path_idx = paths[:, min(1, paths.shape[1] - 1)].contiguous()  # the second's: one input per path
    if name == "op_forward_shared":
        return _op_forward(inputs, ref, shared_idx, True, ext, device)
    if name == "op_forward":
        return _op_forward(inputs, ref, path_idx, False, ext, device)
    if name == "op_forward_backward":
        return _op_forward_backward(inputs, ref, path_idx, ext, device)
    return _fitness(inputs, ref, paths, elite, ext, device, with_serial)


def profile_point(
    point: GridPoint,
    config: ProfileConfig,
    ext: bool,
    device: torch.device,
    dtype: torch.dtype,
    on_record: Callable[[dict[str, Any]], None] = lambda record: None,
) -> list[dict[str, Any]]:
    """Every measurement of one grid point at every convergence level: one record per level.

    The serial baseline does the same work at every level (every path, every slot), so it is timed
    at the first level only (the first whose check passed) and its timing repeated in the other
    records, with ``serial_timed_at`` saying where it was measured.
    """
    generator = torch.Generator().manual_seed(config.seed)
    inputs = make_inputs(point, config.classes, generator, device, dtype)
    ref = inputs.to(torch.float64)
    elite = random_path(point.layers, point.slots, point.modules, generator)
    sync = _synchronizer(device)
    records = []
    serial: tuple[float, dict[str, Any]] | None = None  # (convergence, timing) of the serial baseline
    for convergence in config.convergence:
        paths = make_population(
            point.paths, point.layers, point.slots, point.modules, convergence, generator, elite=elite
        ).to(device)
        measured = {}
        for name in MEASUREMENTS:  # one at a time: each holds its own (large) dense mm operands
            with torch.no_grad() if name != "op_forward_backward" else torch.enable_grad():
                plan = _measurement(name, inputs, ref, paths, elite, ext, device, serial is None)
                measured[name] = run_measurement(plan, config, sync, dtype)
            del plan
        fitness = measured["fitness"]
        if serial is None and "serial" in fitness["timings"]:
            serial = (convergence, fitness["timings"]["serial"])
        if serial is not None and fitness["status"] == "ok":
            fitness["timings"].setdefault("serial", serial[1])
            fitness["serial_timed_at"] = serial[0]
        record = _record(point, config, convergence, paths, elite, measured)
        records.append(record)
        on_record(record)
    return records


def _record(
    point: GridPoint,
    config: ProfileConfig,
    convergence: float,
    paths: torch.Tensor,
    elite: torch.Tensor,
    measured: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    fitness = measured["fitness"]
    timings = fitness["timings"]
    single = timings.get("single", {}).get("median_s")
    ext_s = timings.get("ext", {}).get("median_s")
    serial = timings.get("serial", {}).get("median_s")
    elite_rows = int((paths.cpu() == elite).flatten(1).all(1).sum())
    failed = [name for name, m in measured.items() if m["status"] != "ok"]
    ext_errors = [e["max_abs"] for m in measured.values() for e in m["max_error"].get("ext", {}).values()]
    torch_errors = [e["max_abs"] for m in measured.values() for e in m["max_error"].get("torch", {}).values()]
    return {
        **asdict(point),
        "classes": config.classes,
        "convergence": convergence,
        "elite_copies": elite_rows,
        "distinct": fitness["distinct"],
        "status": "ok" if not failed else "mismatch",
        "error": "; ".join(f"{name}: {measured[name]['error']}" for name in failed) or None,
        "speedup": fitness.get("speedup"),
        "gflops": fitness.get("gflops"),
        "mm_gflops": fitness.get("mm_gflops"),
        "mm_ratio": fitness.get("mm_ratio"),
        "converged_vs_single": ext_s / single if ext_s and single else None,
        "serial_vs_ext": serial / ext_s if serial and ext_s else None,
        "max_abs_error": {
            "torch": max(torch_errors) if torch_errors else None,
            "ext": max(ext_errors) if ext_errors else None,
        },
        "measurements": measured,
    }


# --- acceptance criteria ----------------------------------------------------------------------------

#: The issue's acceptance checks: (key, description, record field, convergence, comparison, threshold).
CRITERIA = (
    (
        "fitness_speedup_random",
        "population fitness, random population: ext at least 5x faster than the fallback",
        "speedup",
        0.0,
        ">=",
        5.0,
    ),
    (
        "fitness_mm_ratio_random",
        "population fitness, random population: at least 60% of dense torch.mm's GFLOP/s",
        "mm_ratio",
        0.0,
        ">=",
        0.6,
    ),
    (
        "converged_vs_single",
        "population fitness, fully converged population: within 2x of a single path's time",
        "converged_vs_single",
        1.0,
        "<=",
        2.0,
    ),
)
#: Where the criteria apply: P=64, K=3, M=20, L=3, Din=Dout=D in {128, 256}, B in {256, 1024}.
CRITERIA_GRID = {"paths": 64, "slots": 3, "modules": 20, "layers": 3}
CRITERIA_WIDTHS = (128, 256)
CRITERIA_BATCHES = (256, 1024)


def _criteria_applies(record: Mapping[str, Any]) -> bool:
    return (
        all(record[key] == value for key, value in CRITERIA_GRID.items())
        and record["din"] == record["dout"]
        and record["din"] in CRITERIA_WIDTHS
        and record["batch"] in CRITERIA_BATCHES
    )


def evaluate_criteria(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The issue's three checks on the records they apply to, each value with pass/fail.

    A criterion's ``pass`` is ``None`` when no record it applies to was measured (grid without
    them, or no extension), else whether every check passed.
    """
    criteria: dict[str, Any] = {}
    for key, description, metric, convergence, comparison, threshold in CRITERIA:
        checks = []
        for record in records:
            if not _criteria_applies(record) or record["convergence"] != convergence:
                continue
            value = record.get(metric) if record["status"] == "ok" else None
            passed = (
                None if value is None else (value >= threshold if comparison == ">=" else value <= threshold)
            )
            checks.append({"batch": record["batch"], "width": record["din"], "value": value, "pass": passed})
        verdicts = [c["pass"] for c in checks if c["pass"] is not None]
        criteria[key] = {
            "description": description,
            "metric": metric,
            "convergence": convergence,
            "comparison": comparison,
            "threshold": threshold,
            "checks": checks,
            "pass": all(verdicts) if verdicts and len(verdicts) == len(checks) else None,
        }
    return criteria


# --- the run ----------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict[str, Any]:
    """Facts a result needs to be compared with another: kernels, commit, CPU/GPU, versions, time."""
    from emokit.bench.results import git_commit, package_versions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kernels.KernelFallbackWarning)
        info = kernels.backend_info("auto")
    return {
        "kernels": info,
        "git_commit": git_commit(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "versions": package_versions(),
        "host": platform.node(),
        # Settings that change CPU timings: thread pools, and huge pages for torch's allocations
        # (without them, fresh pages of large outputs cost about as much as the GEMMs' epilogues).
        "env": {
            name: os.environ.get(name)
            for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "THP_MEM_ALLOC_ENABLE", "EMOKIT_BACKEND")
        },
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def run_profile(
    config: ProfileConfig,
    console: Console | None = None,
    *,
    require_ext: bool = False,
) -> dict[str, Any]:
    """Measure the whole grid; the report ``{"config", "environment", "results", "criteria", ...}``.

    Prints a line per finished record on ``console`` (when given), not the tables (see
    :func:`print_report`).

    Raises:
        ValueError: a bad config value (see :meth:`ProfileConfig.validate`).
        KernelBackendError: ``require_ext`` and the extension cannot run on the device.
    """
    config.validate()
    device = torch.device(config.device)
    missing = extension_status(device)
    if missing is not None and require_ext:
        raise kernels.KernelBackendError(f"--require-ext but {missing}; {BUILD_HINT}")
    if missing is not None and console is not None:
        console.print(f"[yellow]![/] the kernel columns are missing: {missing}; only the fallback is timed")
    threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        return _run_grid(config, device, missing, console)
    finally:
        torch.set_num_threads(threads)


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (others' work too), or None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _run_grid(
    config: ProfileConfig, device: torch.device, missing: str | None, console: Console | None
) -> dict[str, Any]:
    started, load = time.perf_counter(), load_average()
    records: list[dict[str, Any]] = []

    def progress(record: dict[str, Any]) -> None:
        if console is not None:
            console.print(f"[dim]{_progress_line(record)}[/]", highlight=False)

    for point in config.grid():
        records.extend(profile_point(point, config, missing is None, device, DTYPES[config.dtype], progress))
    env = environment(device)
    env["load_average"] = {"start": load, "end": load_average()}  # 1, 5, 15 min: others' work too
    return {
        "format": REPORT_FORMAT,
        "config": config.to_json(),
        "environment": env,
        "extension": {"available": missing is None, "reason": missing},
        "wall_s": time.perf_counter() - started,
        "results": records,
        "criteria": evaluate_criteria(records),
    }


def _progress_line(record: Mapping[str, Any]) -> str:
    fitness = record["measurements"]["fitness"]
    label = GridPoint(**{k: record[k] for k in GridPoint.__dataclass_fields__}).label()
    head = f"{label} conv={record['convergence']:g}"
    if record["status"] != "ok":
        return f"{head}: MISMATCH {record['error']}"
    times = ", ".join(f"{name} {_ms(t['median_s'])} ms" for name, t in fitness["timings"].items())
    return f"{head}: fitness {times} (median of {fitness['repeats']})"


def default_output_path(now: _dt.datetime | None = None) -> Path:
    """``emokit-profile-<timestamp>.json`` in the current directory."""
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path(f"emokit-profile-{stamp}.json")


def timestamped_path(folder: Path, name: str) -> Path:
    """``folder/<name>-<host>-<date>.json``: where a benchmark writes its report by default."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return folder / f"{name}-{platform.node() or 'host'}-{stamp}.json"


def machine_line(env: Mapping[str, Any], what: str) -> str:
    """One line on the machine a report was measured on (CPU, torch, threads, load), then ``what``."""
    load = env.get("load_average") or {}
    start, end = (load.get(key) or ["?"] for key in ("start", "end"))
    return (
        f"{env['cpu']}, torch {env['torch']}, {env['torch_threads']} threads, 1-min load average "
        f"{start[0]} -> {end[0]}; {what}"
    )


def write_report(report: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the report as JSON atomically (temporary file, then rename); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, allow_nan=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


# --- tables -----------------------------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3g}" if seconds < 0.1 else f"{seconds * 1e3:.0f}"


def _timing(measurement: Mapping[str, Any], name: str) -> str:
    timing = measurement["timings"].get(name)
    return "-" if timing is None else _ms(timing["median_s"])


def _num(value: float | None, fmt: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{fmt}}{suffix}"


def _width(record: Mapping[str, Any]) -> str:
    return str(record["din"]) if record["din"] == record["dout"] else f"{record['din']}->{record['dout']}"


def _grid_cells(record: Mapping[str, Any]) -> list[str]:
    mkl = f"{record['modules']}/{record['slots']}/{record['layers']}"
    return [str(record["paths"]), str(record["batch"]), _width(record), mkl, f"{record['convergence']:g}"]


def fitness_table(report: Mapping[str, Any]) -> Table:
    """One row per grid point and convergence level: the population fitness figures."""
    table = Table(title="population fitness (population_forward): fallback (torch) vs kernel (ext)")
    columns = ["P", "B", "D", "M/K/L", "conv", "distinct", "torch\nms", "ext\nms", "speed\nup", "GFLOP\n/s"]
    columns += ["% of\nmm", "conv/\nsingle", "serial\nms", "max\nerr"]
    for name in columns:
        table.add_column(name, justify="right")
    for r in report["results"]:
        fitness = r["measurements"]["fitness"]
        row = [*_grid_cells(r), "/".join(str(d) for d in r["distinct"])]
        if r["status"] != "ok":
            table.add_row(*row, "[red]MISMATCH[/]", *[""] * 7)
            continue
        errors = r["max_abs_error"]
        row += [
            _timing(fitness, "torch"),
            _timing(fitness, "ext"),
            _num(r["speedup"], ".1f", "x"),
            _num(r["gflops"], ".1f"),
            _num(None if r["mm_ratio"] is None else 100 * r["mm_ratio"], ".0f", "%"),
            _num(r["converged_vs_single"], ".2f"),
            _timing(fitness, "serial"),
            _num(errors["ext"] if errors["ext"] is not None else errors["torch"], ".0e"),
        ]
        table.add_row(*row)
    return table


def op_table(report: Mapping[str, Any]) -> Table:
    """One row per grid point and convergence level: ext speed-up and % of mm of the layer op."""
    table = Table(title="multipath_linear: speed-up over the fallback / % of dense torch.mm GFLOP/s")
    for name in ("P", "B", "D", "M/K/L", "conv", "fwd\nshared x", "fwd\nper-path x", "fwd+bwd\nper-path x"):
        table.add_column(name, justify="right")
    for r in report["results"]:
        cells = []
        for name in MEASUREMENTS[:3]:
            m = r["measurements"][name]
            if m["status"] != "ok":
                cells.append("[red]MISMATCH[/]")
                continue
            ratio = None if m["mm_ratio"] is None else 100 * m["mm_ratio"]
            cells.append(f"{_num(m['speedup'], '.1f', 'x')} / {_num(ratio, '.0f', '%')}")
        table.add_row(*_grid_cells(r), *cells)
    return table


def criteria_table(report: Mapping[str, Any]) -> Table:
    """The issue's acceptance checks: one row per check, with its value and verdict."""
    table = Table(title="acceptance criteria (P=64, K=3, M=20, L=3)")
    for name in ("criterion", "B", "D", "value", "needed", "result"):
        table.add_column(name, justify="left" if name == "criterion" else "right")
    for key, criterion in report["criteria"].items():
        needed = f"{criterion['comparison']} {criterion['threshold']:g}"
        if not criterion["checks"]:
            table.add_row(key, "", "", "-", needed, "[dim]not measured[/]")
        for check in criterion["checks"]:
            verdict = {True: "[green]PASS[/]", False: "[red]FAIL[/]", None: "[dim]not measured[/]"}[
                check["pass"]
            ]
            table.add_row(
                key, str(check["batch"]), str(check["width"]), _num(check["value"], ".2f"), needed, verdict
            )
    return table


def print_report(report: Mapping[str, Any], console: Console) -> None:
    """The fitness, op and criteria tables, and what is missing when the extension is."""
    console.print(fitness_table(report))
    console.print(op_table(report))
    console.print(criteria_table(report))
    console.print(
        machine_line(
            report["environment"],
            f"times: medians in ms (interquartile ranges in the JSON); {report['wall_s']:.0f} s in all",
        ),
        highlight=False,
    )
    if not report["extension"]["available"]:
        console.print(
            f"[yellow]![/] no kernel columns (ext): {report['extension']['reason']}; {BUILD_HINT}",
            highlight=False,
        )
    for r in report["results"]:
        if r["status"] != "ok":
            label = " ".join(_grid_cells(r))
            console.print(f"[red]error:[/] P/B/D/MKL/conv {label}: {r['error']}", highlight=False)
