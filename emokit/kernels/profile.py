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

import time
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from rich.console import Console

from emokit import kernels
from emokit.kernels._loader import BUILD_HINT

# The profile's parts live in profile_config (the grid), profile_workloads (what is timed),
# profile_measurements (checking and timing one population; the criteria), profile_report (tables)
# and emokit.measure (timings, machine facts, JSON); this module runs the grid and names them all.
from emokit.kernels.profile_config import (
    ATOL,
    DTYPES,
    LIST_OPTIONS,
    QUICK_CONFIG,
    RTOL,
    GridPoint,
    ProfileConfig,
    config_from_options,
    parse_list,
)
from emokit.kernels.profile_measurements import (
    CRITERIA,
    MEASUREMENTS,
    evaluate_criteria,
    extension_status,
    profile_point,
    run_measurement,
)
from emokit.kernels.profile_report import criteria_table, fitness_table, format_ms, op_table, print_report
from emokit.kernels.profile_workloads import (
    Inputs,
    Measurement,
    dyadic_op_inputs,
    forward_backward,
    make_inputs,
    make_population,
    random_path,
    serial_fitness,
)
from emokit.measure import (
    MIN_REPEATS,
    TimingStats,
    choose_repeats,
    default_output_path,
    load_average,
    machine_facts,
    machine_line,
    time_interleaved,
    timestamped_path,
    write_report,
)

__all__ = [
    "ATOL",
    "CRITERIA",
    "DTYPES",
    "LIST_OPTIONS",
    "MEASUREMENTS",
    "MIN_REPEATS",
    "QUICK_CONFIG",
    "RTOL",
    "GridPoint",
    "Inputs",
    "Measurement",
    "ProfileConfig",
    "TimingStats",
    "choose_repeats",
    "config_from_options",
    "criteria_table",
    "default_output_path",
    "dyadic_op_inputs",
    "environment",
    "evaluate_criteria",
    "extension_status",
    "fitness_table",
    "forward_backward",
    "load_average",
    "machine_line",
    "make_inputs",
    "make_population",
    "op_table",
    "parse_list",
    "print_report",
    "profile_point",
    "random_path",
    "run_measurement",
    "run_profile",
    "serial_fitness",
    "time_interleaved",
    "timestamped_path",
    "write_report",
]

REPORT_FORMAT = 1


# --- the run ----------------------------------------------------------------------------------------


def environment(device: torch.device) -> dict[str, Any]:
    """Facts a result needs to be compared with another: kernels, commit, CPU/GPU, versions, time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kernels.KernelFallbackWarning)
        info = kernels.backend_info("auto")
    return {"kernels": info, **machine_facts(device)}


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
    times = ", ".join(f"{name} {format_ms(t['median_s'])} ms" for name, t in fitness["timings"].items())
    return f"{head}: fitness {times} (median of {fitness['repeats']})"
