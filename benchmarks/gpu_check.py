"""One-shot check of emokit on a GPU machine: kernels right, kernels fast, benchmark cells run.

Run once, in one process, on a machine with one GPU (a few minutes at most):

    python benchmarks/gpu_check.py [--device cuda|cuda:N|cpu] [--out FILE.json] [--quick]
        [--skip-bench] [--cache-dir DIR] [--bench-methods pathnet,fdan] [--bench-timeout S]

Three parts, each with its figures and a pass/fail in the JSON file:

(a) correctness: the compiled kernels (``backend="ext"``) against the pure-PyTorch fallback
    (``backend="torch"``) on the same device and both against a float64 reference (a loop over
    paths and slots), over the shapes of tests/kernels/test_multipath.py, shared and per-path inputs:
    the layer's forward (plain and training op, int64 and int32 indices) and its gradients,
    ``module_counts``, and ``population_forward`` on the population of tests/kernels/test_population.py.
    Tolerances per dtype: ``|a - b| <= atol * max(1, max|ref|) + rtol * |b|`` with the profiler's
    rtol/atol (1e-4 in float32, 1e-10 in float64). float32 gradients are checked on dyadic inputs
    (every pre-activation exact, so every implementation sees the same ReLU pattern; with continuous
    inputs a value within rounding of 0 may fall on the other side of the ReLU and move a gradient
    by a whole term); float64 gradients on the tests' own inputs.
(b) timing: emokit.kernels.profile over a small grid (P=64, K=3, M=20, L=3, D in {128, 256},
    B in {256, 1024}, random and fully converged populations; ``--quick``: the profiler's quick grid):
    kernels vs the fallback on the device vs a dense ``torch.mm`` (cuBLAS on a GPU) of the same work,
    interleaved, synchronised around every timed call; GFLOP/s and % of mm. Passes when the
    extension runs on the device and agrees with the fallback everywhere; the profiler's speed
    criteria are reported, not enforced.
(c) bench: one tiny ``emokit bench --method pathnet`` cell (sim-savee -> sim-emodb, audio, on the
    kernels) and one ``--method fdan`` cell (sim-savee -> sim-enterface, audiovisual) as subprocesses
    with ``--device DEVICE``, a fresh cache (``--cache-dir`` to reuse one); their exit codes, wall
    times, UARs and the device their result file records.

``--device cpu`` runs the same logic on the CPU kernels. The JSON file (``--out``, default
``gpu-check-<time>.json``) holds the machine's facts, every figure and ``pass`` per part.

Exit status: 0 when every part that ran passed, 1 when one failed (a mismatch, a missing
extension, a failed cell), 2 for bad options or a CUDA device this machine does not have.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console

from emokit import kernels
from emokit.kernels import extension
from emokit.kernels.profile import (
    ATOL,
    QUICK_CONFIG,
    RTOL,
    GridPoint,
    ProfileConfig,
    dyadic_op_inputs,
    environment,
    extension_status,
    forward_backward,
    print_report,
    run_profile,
)
from emokit.kernels.reference import (
    SHAPES,
    converging_population,
    multipath_inputs,
    population_model,
    reference_multipath,
    reference_population,
)
from emokit.measure import write_report

REPORT_FORMAT = 1

#: (inputs, dtype, gradients checked) of each multi-path case; see the module doc for why.
VARIANTS = (("tests", torch.float64, True), ("tests", torch.float32, False), ("dyadic", torch.float32, True))
#: The timing grid on the device (``--quick``: the profiler's QUICK_CONFIG).
TIMING_CONFIG = ProfileConfig(
    paths=(64,),
    batch=(256, 1024),
    widths=(128, 256),
    modules=(20,),
    slots=(3,),
    layers=(3,),
    convergence=(0.0, 1.0),
    repeats=5,
    warmup=2,
    budget_s=3.0,
)

#: ``emokit bench`` arguments of each cell of part (c), beside the common ones of bench_command.
BENCH_CELLS: dict[str, list[str]] = {
    "pathnet": [
        "--method", "pathnet", "--source", "sim-savee", "--target", "sim-emodb", "--modality", "audio",
        "--option", "pathnet.generations=2", "--option", "pathnet.population=8",
        "--option", "pathnet.steps=2", "--option", "pathnet.width=16", "--option", "pathnet.backend=ext",
    ],
    "fdan": [
        "--method", "fdan", "--source", "sim-savee", "--target", "sim-enterface",
        "--modality", "audiovisual",
        "--option", "fdan.epochs=2", "--option", "fdan.backbone=small", "--option", "fdan.batch=16",
    ],
}  # fmt: skip
SIM_SCALE = 0.05
BENCH_TIMEOUT_S = 110.0
TAIL_CHARS = 3000
#: Failed cases of part (a) printed (all are in the JSON).
SHOWN_FAILURES = 8


class UsageProblem(Exception):
    """A bad option: one line on stderr, exit status 2."""


# --- small helpers ------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    """rtol and atol of ``dtype``: the profiler's, for the kernels against the fallback."""
    return {"rtol": RTOL[dtype], "atol": ATOL[dtype]}


def compare(got: torch.Tensor, want: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype) -> dict[str, Any]:
    """Errors of ``got`` against ``want``: max |got - want|, that over max |want|, and whether every
    element lies within ``atol * max(1, max|ref|) + rtol * |want|`` (NaN never does)."""
    got, want = got.detach().double(), want.detach().double()
    if got.shape != want.shape:
        return {"max_abs": None, "max_rel": None, "pass": False, "error": f"shape {list(got.shape)}"}
    if got.numel() == 0:
        return {"max_abs": 0.0, "max_rel": 0.0, "pass": True}
    diff = (got - want).abs()
    scale = max(1.0, float(ref.detach().abs().max())) if ref.numel() else 1.0
    bound = ATOL[dtype] * scale + RTOL[dtype] * want.abs()
    top = float(want.abs().max())
    err = float(diff.max())
    return {"max_abs": err, "max_rel": err / top if top > 0 else err, "pass": bool((diff <= bound).all())}


def check_outputs(
    outputs: Mapping[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]], dtype: torch.dtype
) -> dict[str, dict[str, Any]]:
    """Each output's (ext, fallback, float64 reference): ext vs fallback, ext vs ref, fallback vs ref."""
    checks = {}
    for name, (ext, fallback, ref) in outputs.items():
        checks[name] = {
            "ext_vs_torch": compare(ext, fallback, ref, dtype),
            "ext_vs_ref": compare(ext, ref, ref, dtype),
            "torch_vs_ref": compare(fallback, ref, ref, dtype),
        }
    return checks


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats as strings ("nan", "inf"), which strict JSON cannot hold."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {key: jsonable(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


@contextlib.contextmanager
def injected_error(eps: float) -> Iterator[None]:
    """For testing the check itself: the extension's layer output becomes ``y * (1 + eps) + eps``
    (forward and gradients off by about ``eps``) while the block runs; ``eps=0`` changes nothing."""
    if not eps:
        yield
        return
    original = extension.multipath_linear

    def perturbed(
        x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, idx: torch.Tensor
    ) -> torch.Tensor:
        return original(x, weight, bias, idx) * (1 + eps) + eps

    extension.multipath_linear = perturbed
    try:
        yield
    finally:
        extension.multipath_linear = original


# --- (a) correctness -----------------------------------------------------------------------------------


def inputs_of_tests(
    shape: tuple[int, ...], shared: bool, dtype: torch.dtype, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The inputs the kernel tests draw for ``shape`` (on the CPU)."""
    return multipath_inputs(shape, shared, "cpu", dtype, seed)


def case_inputs(
    shape: tuple[int, ...], shared: bool, inputs: str, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, ...]:
    """x, weight, bias, idx and an upstream gradient for one case, on ``device``."""
    seed = hash((shape, shared)) % 2**31  # the tests' seed (a tuple of ints hashes the same everywhere)
    x, weight, bias, idx = inputs_of_tests(shape, shared, dtype, seed)
    paths, batch, _, dout, _, _ = shape
    if inputs == "dyadic":
        point = GridPoint(*shape, layers=1)  # type: ignore[misc]
        x_paths, grad, weight, bias = dyadic_op_inputs(point, torch.Generator().manual_seed(seed))
        x = x_paths[0].contiguous() if shared else x_paths
        x, weight, bias, grad = (t.to(dtype) for t in (x, weight, bias, grad))
    else:
        grad = torch.randn(paths, batch, dout, generator=torch.Generator().manual_seed(seed + 1), dtype=dtype)
    return tuple(t.to(device) for t in (x, weight, bias, idx, grad))


def _forward_backward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    idx: torch.Tensor,
    grad: torch.Tensor,
    backend: str,
) -> dict[str, torch.Tensor]:
    out = dict(forward_backward(x, weight, bias, idx, grad, backend))
    out["y_train"] = out.pop("y")
    return out


def check_multipath_case(
    shape: tuple[int, ...], shared: bool, inputs: str, dtype: torch.dtype, grads: bool, device: torch.device
) -> dict[str, Any]:
    """One multi-path case: forward (plain op, int64 and int32 idx) and, when asked, the training op
    and the gradients of x, weight and bias."""
    x, weight, bias, idx, grad = case_inputs(shape, shared, inputs, dtype, device)
    ref_args = [t.double().detach().requires_grad_() for t in (x, weight, bias)]
    ref = reference_multipath(*ref_args, idx)
    outputs: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    with torch.no_grad():
        run = {b: kernels.multipath_linear(x, weight, bias, idx, backend=b) for b in ("ext", "torch")}
        outputs["y"] = (run["ext"], run["torch"], ref.detach())
        run = {b: kernels.multipath_linear(x, weight, bias, idx.int(), backend=b) for b in ("ext", "torch")}
        outputs["y_int32_idx"] = (run["ext"], run["torch"], ref.detach())
    # Nothing to differentiate without a slot or a sample (the tests skip those too).
    differentiable = grads and ref.requires_grad and ref.numel() > 0
    if differentiable:
        ext = _forward_backward(x, weight, bias, idx, grad, "ext")
        fallback = _forward_backward(x, weight, bias, idx, grad, "torch")
        ref.backward(grad.double())
        wanted = {
            "y_train": ref.detach(),
            **{f"grad_{n}": a.grad for n, a in zip(("x", "weight", "bias"), ref_args, strict=True)},
        }
        for name, want in wanted.items():
            outputs[name] = (ext[name], fallback[name], want)
    _sync(device)
    return {"gradients": differentiable, "checks": check_outputs(outputs, dtype)}


def check_module_counts(shape: tuple[int, ...], device: torch.device) -> dict[str, Any]:
    """``module_counts`` of the tests' idx (int64 and int32): ext and fallback equal to a bincount."""
    *_, modules, _ = shape
    _, _, _, idx = inputs_of_tests(shape, False, torch.float32, hash((shape, False)) % 2**31)
    idx = idx.to(device)
    flat = idx.reshape(-1)
    want = torch.bincount(flat[flat >= 0], minlength=modules)
    checks = {}
    for name, table in (("counts", idx), ("counts_int32_idx", idx.int())):
        got = {b: kernels.module_counts(table, modules, backend=b) for b in ("ext", "torch")}
        checks[name] = {
            "ext_vs_torch": {"exact": True, "pass": bool(torch.equal(got["ext"], got["torch"]))},
            "ext_vs_ref": {"exact": True, "pass": bool(torch.equal(got["ext"], want))},
            "torch_vs_ref": {"exact": True, "pass": bool(torch.equal(got["torch"], want))},
        }
    _sync(device)
    return {"gradients": False, "checks": checks}


def population_inputs(dtype: torch.dtype, device: torch.device) -> tuple[Any, ...]:
    """The model, population and batch of the population tests (widths 9-8-7-6, M=5, C=4, P=11)."""
    layers, head_w, head_b = population_model((9, 8, 7, 6), 5, 4, dtype, device, 1)
    population = converging_population(11, len(layers), 3, 5, 2)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(13, 9, generator=gen, dtype=dtype).to(device)
    targets = torch.randint(0, 4, (13,), generator=gen).to(device)
    return x, layers, population.to(device), head_w, head_b, targets


def check_population(dtype: torch.dtype, share: bool, device: torch.device) -> dict[str, Any]:
    """``population_forward``'s logits and loss against a path-at-a-time float64 loop."""
    x, layers, paths, head_w, head_b, targets = population_inputs(dtype, device)
    with torch.no_grad():
        out = {
            b: kernels.population_forward(
                x, layers, paths, head_w, head_b, targets, backend=b, share_prefixes=share
            )
            for b in ("ext", "torch")
        }
        ref = reference_population(x, layers, paths, head_w, head_b)
        ref_loss = torch.stack([F.cross_entropy(ref[p], targets) for p in range(ref.shape[0])])
    outputs = {
        "logits": (out["ext"].logits, out["torch"].logits, ref),
        "loss": (out["ext"].loss, out["torch"].loss, ref_loss),
    }
    _sync(device)
    return {"gradients": False, "checks": check_outputs(outputs, dtype)}


def correctness_cases() -> list[tuple[str, dict[str, Any], Callable[[torch.device], dict[str, Any]]]]:
    """Every case of part (a): (name, description, check(device))."""
    cases = []
    for shape in SHAPES:
        label = "x".join(map(str, shape))
        for shared in (False, True):
            layout = "shared-x" if shared else "per-path-x"
            for inputs, dtype, grads in VARIANTS:
                name = f"multipath_linear {label} {layout} {_dtype_name(dtype)} {inputs}-inputs"
                about = {"op": "multipath_linear", "shape": list(shape), "shared": shared}
                about.update(dtype=_dtype_name(dtype), inputs=inputs)

                def check(device: torch.device, s=shape, h=shared, i=inputs, d=dtype, g=grads) -> dict:
                    return check_multipath_case(s, h, i, d, g, device)

                cases.append((name, about, check))
        about = {"op": "module_counts", "shape": list(shape)}
        cases.append(
            (f"module_counts {label}", about, lambda device, s=shape: check_module_counts(s, device))
        )
    for dtype in (torch.float32, torch.float64):
        for share in (True, False):
            name = f"population_forward {_dtype_name(dtype)} {'shared' if share else 'separate'}-prefixes"
            about = {"op": "population_forward", "dtype": _dtype_name(dtype), "share_prefixes": share}
            cases.append((name, about, lambda device, d=dtype, s=share: check_population(d, s, device)))
    return cases


def _worst(cases: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Largest errors per dtype and comparison over every output of every case (NaN when one is)."""
    values: dict[tuple[str, str, str], list[float]] = {}
    for case in cases:
        for checks in case.get("checks", {}).values() if case.get("dtype") else ():
            for comparison, errors in checks.items():
                for key in ("max_abs", "max_rel"):
                    if errors.get(key) is not None:
                        values.setdefault((case["dtype"], comparison, key), []).append(errors[key])
    worst: dict[str, dict[str, dict[str, float | None]]] = {}
    for (dtype, comparison, key), found in sorted(values.items()):
        top = math.nan if any(math.isnan(v) for v in found) else max(found)
        worst.setdefault(dtype, {}).setdefault(comparison, {})[key] = top
    return worst


def run_case(name: str, about: Mapping[str, Any], check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One case's record: its description, checks and verdict; an exception fails it (and is named)."""
    record: dict[str, Any] = {"name": name, **about, "error": None}
    started = time.perf_counter()
    try:
        record.update(check())
    except Exception as exc:  # a kernel that raises (or a CUDA error) fails the case, not the run
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["wall_s"] = time.perf_counter() - started
    checks = record.get("checks", {}).values()
    record["pass"] = record["error"] is None and all(
        c["pass"] for outputs in checks for c in outputs.values()
    )
    return record


def run_correctness(device: torch.device, console: Console) -> dict[str, Any]:
    """Part (a): every case, ext vs fallback vs float64, each with its errors and verdict."""
    started = time.perf_counter()
    missing = extension_status(device)
    cases = []
    if missing is None:
        for name, about, check in correctness_cases():
            cases.append(run_case(name, about, lambda check=check: check(device)))
    failures = [c["name"] for c in cases if not c["pass"]]
    for record in [c for c in cases if not c["pass"]][:SHOWN_FAILURES]:
        console.print(
            f"[red]✗[/] {record['name']}: {record['error'] or _failed_checks(record)}", highlight=False
        )
    if len(failures) > SHOWN_FAILURES:
        console.print(
            f"[red]✗[/] ... and {len(failures) - SHOWN_FAILURES} more (see the JSON)", highlight=False
        )
    error = f"the kernels cannot run on {device}: {missing}" if missing else None
    part = {
        "pass": error is None and not failures,
        "error": error or (f"{len(failures)} case(s) fail" if failures else None),
        "reference": "float64, one path and one slot at a time",
        "tolerance": {_dtype_name(d): tolerance(d) for d in (torch.float32, torch.float64)},
        "rule": "|a - b| <= atol * max(1, max|ref|) + rtol * |b|; module_counts exactly",
        "extension": missing,
        "failures": failures,
        "max_error": _worst(cases),
        "cases": cases,
        "wall_s": time.perf_counter() - started,
    }
    verdict = "[green]PASS[/]" if part["pass"] else f"[red]FAIL[/] ({part['error']})"
    worst = ", ".join(
        f"{dtype} ext {_fmt(v['ext_vs_ref']['max_abs'])} / fallback {_fmt(v['torch_vs_ref']['max_abs'])}"
        for dtype, v in part["max_error"].items()
    )
    console.print(
        f"(a) correctness: {len(cases) - len(failures)}/{len(cases)} cases pass; largest abs error vs "
        f"float64: {worst or '-'}; {part['wall_s']:.1f} s: {verdict}",
        highlight=False,
    )
    return part


def _failed_checks(record: Mapping[str, Any], shown: int = 3) -> str:
    bad = [
        f"{output} {comparison} (max abs {_fmt(c.get('max_abs'))})"
        for output, checks in record.get("checks", {}).items()
        for comparison, c in checks.items()
        if not c["pass"]
    ]
    more = f" and {len(bad) - shown} more" if len(bad) > shown else ""
    return "; ".join(bad[:shown]) + more


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


# --- (b) timing ----------------------------------------------------------------------------------------


def timing_config(device: torch.device, quick: bool) -> ProfileConfig:
    return replace(QUICK_CONFIG if quick else TIMING_CONFIG, device=str(device))


def _summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of one profile record: per measurement, medians in ms, GFLOP/s and ratios."""
    point = {k: record[k] for k in GridPoint.__dataclass_fields__}
    measurements = {}
    for name, m in record["measurements"].items():
        timings = m.get("timings", {})

        def ms(candidate: str, timings: Mapping[str, Any] = timings) -> float | None:
            return timings[candidate]["median_s"] * 1e3 if candidate in timings else None

        dense = [t for t in (ms("mm"), ms("mm_chunked")) if t is not None]
        measurements[name] = {
            "status": m["status"],
            "error": m.get("error"),
            "repeats": m.get("repeats"),
            "ext_ms": ms("ext"),
            "torch_ms": ms("torch"),
            "mm_ms": min(dense) if dense else None,
            "gflops": m.get("gflops"),
            "fallback_gflops": m.get("fallback_gflops"),
            "mm_gflops": m.get("mm_gflops"),
            "mm_ratio": m.get("mm_ratio"),
            "fallback_mm_ratio": m.get("fallback_mm_ratio"),
            "speedup": m.get("speedup"),
        }
    return {
        "point": GridPoint(**point).label(),
        "convergence": record["convergence"],
        "status": record["status"],
        "error": record["error"],
        "measurements": measurements,
    }


def run_timing(device: torch.device, quick: bool, console: Console) -> dict[str, Any]:
    """Part (b): the profiler's grid; passes when the kernels ran and agreed with the fallback."""
    started = time.perf_counter()
    config = timing_config(device, quick)
    try:
        report = run_profile(config, console)
    except Exception as exc:
        part = {"pass": False, "error": f"{type(exc).__name__}: {exc}", "config": config.to_json()}
        console.print(f"[red]✗[/] (b) timing: {part['error']}", highlight=False)
        return {**part, "wall_s": time.perf_counter() - started}
    print_report(report, console)
    records = report["results"]
    summaries = [_summary(r) for r in records]
    mismatched = [f"{s['point']} conv={s['convergence']:g}" for s in summaries if s["status"] != "ok"]
    missing = report["extension"]["reason"]
    problems = [f"the kernels cannot run on {device}: {missing}"] if missing else []
    problems += [f"mismatch at {label}" for label in mismatched]
    part = {
        "pass": not problems,
        "error": "; ".join(problems) or None,
        "config": report["config"],
        "extension": report["extension"],
        "criteria_enforced": False,
        "criteria": report["criteria"],
        "records": summaries,
        "load_average": report["environment"].get("load_average"),
        "profile_wall_s": report["wall_s"],
        "results": records,
        "wall_s": time.perf_counter() - started,
    }
    fitness = [r["measurements"]["fitness"] for r in part["records"] if r["convergence"] == 0.0]
    ratios = [f"{100 * f['mm_ratio']:.0f}%" for f in fitness if f["mm_ratio"] is not None]
    verdict = "[green]PASS[/]" if part["pass"] else f"[red]FAIL[/] ({part['error']})"
    console.print(
        f"(b) timing: {len(records)} records, population fitness (random) at {', '.join(ratios) or '-'} of "
        f"dense mm's GFLOP/s; {part['wall_s']:.1f} s: {verdict}",
        highlight=False,
    )
    return part


# --- (c) bench cells -----------------------------------------------------------------------------------


def bench_command(method: str, device: str, cache_dir: Path, out_dir: Path, sim_scale: float) -> list[str]:
    """The ``emokit bench`` command line of one tiny cell of part (c)."""
    return [
        sys.executable, "-m", "emokit.cli", "bench", *BENCH_CELLS[method],
        "--seeds", "1", "--folds", "split", "--target-budget", "1", "--no-baselines",
        "--sim-scale", str(sim_scale), "--cache-dir", str(cache_dir), "--out", str(out_dir),
        "--device", device, "--quiet",
    ]  # fmt: skip


def _tail(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or "")[-TAIL_CHARS:]


def _recorded_device(cell: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
    """The device a result file says a cell ran on (per cell, else for the run)."""
    runtime = cell.get("runtime") or {}
    for where in (runtime, cell, data.get("identity") or {}, data.get("config") or {}):
        if isinstance(where, Mapping) and where.get("device"):
            return str(where["device"])
    return None


def read_bench_result(path: Path, method: str, device: torch.device) -> dict[str, Any]:
    """The method's cells of a result file: UAR, status, device; and what is wrong with them."""
    data = json.loads(path.read_text())
    cells = [c for c in data.get("cells", []) if c.get("method") == method]
    problems = []
    if data.get("status") != "complete":
        problems.append(f"result status {data.get('status')!r}, not 'complete'")
    if not cells:
        problems.append(f"no {method} cell in the result file")
    summary = []
    for cell in cells:
        uar = (cell.get("scores") or {}).get("uar")
        recorded = _recorded_device(cell, data)
        info = cell.get("method_info") or {}
        summary.append(
            {
                "fold": cell.get("fold"),
                "repeat": cell.get("repeat"),
                "status": cell.get("status"),
                "uar": uar,
                "val_uar": (cell.get("validation") or {}).get("uar"),
                "time_s": cell.get("time_s"),
                "device": recorded,
                "gpu": (cell.get("runtime") or {}).get("gpu"),
                "kernel_backend": info.get("kernel_backend"),
            }
        )
        if cell.get("status") != "ok":
            problems.append(f"cell status {cell.get('status')!r}: {cell.get('error')}")
        if not isinstance(uar, int | float) or not 0.0 <= uar <= 1.0:
            problems.append(f"UAR {uar!r} is not a number in [0, 1]")
        if recorded is None:
            problems.append("the result file records no device")
        elif torch.device(recorded).type != device.type:
            problems.append(f"the cell ran on {recorded}, not on {device}")
    uars = [c["uar"] for c in summary if isinstance(c["uar"], int | float)]
    return {
        "result_file": str(path),
        "result_status": data.get("status"),
        "cells": summary,
        "uar_mean": sum(uars) / len(uars) if uars else None,
        "problems": problems,
    }


def run_bench_cell(
    method: str, device: torch.device, cache_dir: Path, out_dir: Path, sim_scale: float, timeout_s: float
) -> dict[str, Any]:
    """One ``emokit bench`` subprocess: exit code, wall time, output tails and the result's cells."""
    command = bench_command(method, str(device), cache_dir, out_dir, sim_scale)
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.glob("bench-*.json"))
    environ = {**os.environ, "COLUMNS": "160", "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    record: dict[str, Any] = {"method": method, "command": command, "timeout_s": timeout_s}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=timeout_s)
        record.update(returncode=done.returncode, timed_out=False, stdout_tail=_tail(done.stdout))
        record["stderr_tail"] = _tail(done.stderr)
    except subprocess.TimeoutExpired as exc:
        record.update(returncode=None, timed_out=True, stdout_tail=_tail(exc.stdout))
        record["stderr_tail"] = _tail(exc.stderr)
    record["wall_s"] = time.perf_counter() - started
    problems = []
    if record["timed_out"]:
        problems.append(f"did not finish in {timeout_s:g} s")
    elif record["returncode"] != 0:
        problems.append(f"exit status {record['returncode']}")
        if "unrecognized arguments" in record["stderr_tail"] and "--device" in record["stderr_tail"]:
            problems.append("this emokit bench has no --device flag")
    written = sorted(set(out_dir.glob("bench-*.json")) - before)
    if written:
        try:
            record.update(read_bench_result(written[-1], method, device))
        except (OSError, ValueError) as exc:
            record["problems"] = [f"unreadable result file {written[-1]}: {exc}"]
    elif not problems:
        problems.append(f"no result file in {out_dir}")
    record["problems"] = problems + record.get("problems", [])
    record["pass"] = not record["problems"]
    return record


def run_bench(
    device: torch.device,
    methods: Sequence[str],
    work_dir: Path,
    cache_dir: Path | None,
    sim_scale: float,
    timeout_s: float,
    console: Console,
) -> dict[str, Any]:
    """Part (c): the tiny cells, one subprocess each, in a fresh cache unless one is given."""
    started = time.perf_counter()
    cache = cache_dir or work_dir / "cache"
    runs = []
    for method in methods:
        run = run_bench_cell(method, device, cache, work_dir / method, sim_scale, timeout_s)
        runs.append(run)
        uar = run.get("uar_mean")
        line = (
            f"rc {run['returncode']}, {run['wall_s']:.0f} s, UAR {'-' if uar is None else f'{uar:.3f}'}, "
            f"device {', '.join(sorted({str(c['device']) for c in run.get('cells', [])})) or '-'}"
        )
        verdict = "[green]PASS[/]" if run["pass"] else f"[red]FAIL[/] ({'; '.join(run['problems'])})"
        console.print(f"(c) bench {method}: {line}: {verdict}", highlight=False)
        if not run["pass"] and run["stderr_tail"]:
            console.print(run["stderr_tail"][-1200:], highlight=False, markup=False, style="dim")
    return {
        "pass": all(r["pass"] for r in runs),
        "skipped": None,
        "cache_dir": str(cache),
        "sim_scale": sim_scale,
        "runs": runs,
        "wall_s": time.perf_counter() - started,
    }


# --- the run -------------------------------------------------------------------------------------------


def resolve_device(spec: str) -> torch.device:
    """``spec`` as a torch device this machine has; UsageProblem (one line) otherwise."""
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise UsageProblem(f"--device {spec!r}: expected cuda, cuda:N or cpu") from None
    if device.type not in ("cpu", "cuda"):
        raise UsageProblem(f"--device {spec!r}: expected cuda, cuda:N or cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA"
            raise UsageProblem(
                f"--device {spec}: torch {torch.__version__} (built with {built}) sees no CUDA device on "
                "this machine; run with --device cpu to check the CPU kernels"
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise UsageProblem(
                f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
        device = torch.device("cuda", index)
    return device


def _driver_version() -> str | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        done = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else None


def machine_facts(device: torch.device, tf32_before: Mapping[str, Any]) -> dict[str, Any]:
    """torch, CUDA and GPU facts, the kernels' build (backend_info) and the profiler's environment."""
    facts: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "gpu": None,
        "driver": None,
        # Set to full float32 for the run (the tolerances assume it); what they were before:
        "tf32_before": dict(tf32_before),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        facts["gpu"] = {
            "name": props.name,
            "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "multiprocessors": props.multi_processor_count,
            "count": torch.cuda.device_count(),
        }
        facts["driver"] = _driver_version()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kernels.KernelFallbackWarning)
        facts["kernels"] = kernels.backend_info("auto")
    facts["environment"] = environment(device)
    return facts


def default_out(now: _dt.datetime | None = None) -> Path:
    """``gpu-check-<date>-<time>.json`` in the current folder."""
    return Path(f"gpu-check-{(now or _dt.datetime.now()).strftime('%Y%m%d-%H%M%S')}.json")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Check emokit's kernels (right, fast) and two tiny bench cells on one device; "
        "one JSON file, exit status 1 on any failure.",
    )
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu (the CPU kernels)")
    parser.add_argument("--out", type=Path, help="JSON file (default: gpu-check-<date>-<time>.json here)")
    parser.add_argument("--skip-bench", action="store_true", help="skip part (c), the emokit bench cells")
    parser.add_argument(
        "--quick", action="store_true", help="the smallest timing grid (part (a) always runs the tests' grid)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="emokit cache of part (c) (default: a fresh one beside --out)"
    )
    parser.add_argument(
        "--bench-methods",
        default=",".join(BENCH_CELLS),
        help=f"the cells of part (c), some of {','.join(BENCH_CELLS)} (default: both)",
    )
    parser.add_argument(
        "--bench-timeout",
        type=float,
        default=BENCH_TIMEOUT_S,
        help=f"seconds a cell of part (c) may take (default {BENCH_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--sim-scale",
        type=float,
        default=SIM_SCALE,
        help=f"size of the simulated corpora (default {SIM_SCALE})",
    )
    # For testing the check itself: perturb the kernels' layer output by this much (see injected_error).
    parser.add_argument("--inject-error", type=float, default=0.0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _bench_methods(value: str) -> list[str]:
    methods = [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in methods if m not in BENCH_CELLS]
    if unknown or not methods:
        raise UsageProblem(f"--bench-methods {value!r}: expected some of {', '.join(BENCH_CELLS)}")
    return methods


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        device = resolve_device(args.device)
        methods = _bench_methods(args.bench_methods)
        if not 0.0 < args.sim_scale <= 1.0:
            raise UsageProblem(f"--sim-scale {args.sim_scale}: expected a number in (0, 1]")
        if args.bench_timeout <= 0:
            raise UsageProblem(f"--bench-timeout {args.bench_timeout}: expected seconds > 0")
    except UsageProblem as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    console = Console(width=max(Console().width, 130))
    out = args.out or default_out()
    work_dir = out.parent / f"{out.stem}-work"
    tf32 = {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32}
    precision = torch.get_float32_matmul_precision()
    torch.backends.cuda.matmul.allow_tf32 = False  # full float32 GEMMs: the tolerances assume them
    torch.set_float32_matmul_precision("highest")
    try:
        facts = machine_facts(device, tf32)
        gpu = facts["gpu"]["name"] if facts["gpu"] else facts["environment"]["cpu"]
        built = "+".join(facts["kernels"]["extension_devices"]) or "not built"
        console.print(
            f"gpu_check on {device} ({gpu}), torch {torch.__version__}, CUDA {torch.version.cuda}, "
            f"kernels {facts['kernels']['backend']} ({built})",
            highlight=False,
        )
        parts: dict[str, Any] = {}
        with injected_error(args.inject_error):
            parts["correctness"] = run_correctness(device, console)
            parts["timing"] = run_timing(device, args.quick, console)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32["matmul"]
        torch.set_float32_matmul_precision(precision)
    if args.skip_bench:
        parts["bench"] = {"pass": None, "skipped": "--skip-bench", "runs": []}
        console.print("(c) bench: skipped (--skip-bench)", highlight=False)
    else:
        parts["bench"] = run_bench(
            device, methods, work_dir, args.cache_dir, args.sim_scale, args.bench_timeout, console
        )
    failed = [name for name, part in parts.items() if part["pass"] is False]
    report = {
        "format": REPORT_FORMAT,
        "check": "gpu_check",
        "argv": list(sys.argv[1:] if argv is None else argv),
        "device": str(device),
        "quick": args.quick,
        "injected_error": args.inject_error or None,
        "machine": facts,
        "parts": parts,
        "failed_parts": failed,
        "pass": not failed,
        "wall_s": time.perf_counter() - started,
    }
    path = write_report(jsonable(report), out)
    verdict = "[green]PASS[/]" if not failed else f"[red]FAIL[/]: {', '.join(failed)}"
    console.print(
        f"gpu_check {verdict} in {report['wall_s']:.0f} s; results written to {path}", highlight=False
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
