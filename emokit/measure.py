"""Measuring speed honestly: interleaved timings, the machine a figure came from, JSON reports.

Shared by ``emokit profile`` (:mod:`emokit.kernels.profile`), the benchmarks in ``benchmarks/`` and
the result files of ``emokit bench``. Speed is always a ratio of candidates timed in one run,
interleaved (a, b, a, b, ...), so that a busy machine slows every candidate alike; each report also
records the machine, the load average and the commit, so a figure can be compared with another.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as metadata
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where a device is timed: reading result files needs none of it
    import torch

_PACKAGES = ("emokit", "torch", "numpy", "scipy", "scikit-learn", "librosa", "opensmile", "av", "pluggy")

Candidates = Mapping[str, Callable[[], Any]]

#: Fewest timed rounds a measurement gets when ``budget_s`` cuts the repeats of a slow configuration.
MIN_REPEATS = 3


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


def synchroniser(device: torch.device) -> Callable[[], None]:
    import torch

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


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape results."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """The commit of the emokit source tree, when it is a git checkout (``+dirty`` if modified)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what the platform module says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts(device: torch.device) -> dict[str, Any]:
    """Facts a speed figure needs to be compared with another: commit, CPU/GPU, threads, versions, time."""
    import torch

    return {
        "git_commit": git_commit(),
        "cpu": cpu_model(),
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


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (others' work too), or None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


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
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)  # a report that cannot be written leaves nothing half-written
        raise
    os.replace(tmp, path)
    return path
