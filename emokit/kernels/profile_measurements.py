"""One measurement of the kernel profile: check the candidates, then time them; the criteria."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import torch

from emokit import kernels
from emokit.kernels.profile_config import ATOL, RTOL, GridPoint, ProfileConfig
from emokit.kernels.profile_workloads import (
    Inputs,
    Measurement,
    Outputs,
    _fitness,
    _op_forward,
    _op_forward_backward,
    make_inputs,
    make_population,
    random_path,
)
from emokit.measure import TimingStats, choose_repeats, synchroniser, time_interleaved

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
    sync = synchroniser(device)
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

#: The kernels' performance targets: (key, description, record field, convergence, comparison, threshold).
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
    """The three performance targets (CRITERIA) on the records they apply to, each value with pass/fail.

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
