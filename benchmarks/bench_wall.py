"""Wall time of a whole ``emokit bench`` run: ``--jobs 1`` against the default ``--jobs``, side by side.

Both runs use one cache folder, warmed first (corpora generated and features extracted by a
warm-up run of the same command), so the two timed runs measure the cells alone. Each run is a
subprocess in its own process group; its peak memory is the largest sum of the resident memory of
the run's processes (the bench and its workers), sampled every 0.2 s. The cells of the two runs are
compared (scores and predictions): they must be identical.

    python benchmarks/bench_wall.py [--cache-dir DIR] [--out FILE.json] [-- BENCH ARGS...]

Without BENCH ARGS it times the default ``emokit bench --method pathnet``. Exit status: 0 when both
runs completed with identical cells (the speed-up is reported, not enforced), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from emokit.bench.machine import available_memory, default_jobs, usable_cores

RESULTS = Path(__file__).resolve().parent / "results"


def group_rss(pgid: int) -> int:
    """Bytes of resident memory of every live process in process group ``pgid`` (Linux /proc)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            with open(f"/proc/{entry.name}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            continue
    return total


def timed_run(argv: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``emokit`` with ``argv``; its wall time, exit status and peak memory."""
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "emokit.cli", *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        peak = 0
        while process.poll() is None:
            peak = max(peak, group_rss(process.pid))
            time.sleep(0.2)
    return {
        "argv": argv,
        "exit_status": process.returncode,
        "wall_s": round(time.perf_counter() - started, 2),
        "peak_memory_bytes": peak,
        "log": str(log),
    }


#: the facts of a cell that are measurements of speed, not results (a method's own timings)
TIMING_KEYS = {"seconds", "paths_per_s", "time_s", "note"}


def without_timings(value: Any) -> Any:
    """``value`` with every :data:`TIMING_KEYS` entry of every nested dict removed."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def cells_of(out: Path) -> tuple[dict, list[str]]:
    """A run's cells by key (without timings) and its sorted prediction records."""
    (path,) = out.glob("bench-*.json")
    data = json.loads(path.read_text())
    cells = {}
    for cell in data["cells"]:
        key = (
            cell["experiment"],
            cell["method"],
            cell["budget"]["label"],
            cell.get("fold"),
            cell.get("repeat"),
        )
        cells[repr(key)] = without_timings(
            {k: v for k, v in cell.items() if k not in ("time_s", "runtime", "predictions")}
        )
    sidecar = path.with_name(path.stem + ".predictions.jsonl")
    return cells, sorted(sidecar.read_text().splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, help="cache folder (default: a new temporary one)")
    parser.add_argument(
        "--out", type=Path, help="JSON file (default: benchmarks/results/bench-wall-<time>.json)"
    )
    parser.add_argument("--skip-warmup", action="store_true", help="the cache is warm already")
    parser.add_argument("bench", nargs="*", help="emokit bench arguments (after --)")
    args = parser.parse_args(argv)
    bench = args.bench or ["--method", "pathnet"]
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="emokit-wall-cache-"))
    work = Path(tempfile.mkdtemp(prefix="emokit-wall-"))
    env = {**os.environ, "EMOKIT_CACHE": str(cache), "COLUMNS": "120"}
    env.pop("EMOKIT_JOBS", None)
    report: dict[str, Any] = {
        "benchmark": "bench_wall",
        "bench_args": bench,
        "machine": {
            "platform": platform.platform(),
            "cores": usable_cores(),
            "available_memory_bytes": available_memory(),
            "default_jobs": default_jobs(1, "cpu"),
        },
        "cache_dir": str(cache),
    }
    if not args.skip_warmup:  # corpora and features into the cache, so the timed runs time cells
        warm = timed_run(["bench", *bench, "--out", str(work / "warmup")], env, work / "warmup.log")
        report["warmup"] = warm
        print(f"warm-up (generation, features, cells): {warm['wall_s']:.0f} s", flush=True)
    runs = {}
    for name, extra in (("jobs_1", ["--jobs", "1"]), ("default_jobs", [])):
        out = work / name
        runs[name] = timed_run(["bench", *bench, "--out", str(out), *extra], env, work / f"{name}.log")
        print(f"{name}: {runs[name]['wall_s']:.0f} s, exit {runs[name]['exit_status']}", flush=True)
    report["runs"] = runs
    ok = all(r["exit_status"] == 0 for r in runs.values())
    if ok:
        one, one_predictions = cells_of(work / "jobs_1")
        default, default_predictions = cells_of(work / "default_jobs")
        report["identical_cells"] = one == default and one_predictions == default_predictions
        report["cells"] = len(one)
        ok = report["identical_cells"]
    report["speedup"] = round(runs["jobs_1"]["wall_s"] / runs["default_jobs"]["wall_s"], 3)
    out = args.out or RESULTS / f"bench-wall-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(
        f"speed-up of the default --jobs ({report['machine']['default_jobs']}) over --jobs 1: "
        f"{report['speedup']:.2f}x; identical cells: {report.get('identical_cells')}; "
        f"peak memory {runs['default_jobs']['peak_memory_bytes'] / 1e9:.2f} GB "
        f"(--jobs 1: {runs['jobs_1']['peak_memory_bytes'] / 1e9:.2f} GB); written to {out}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
