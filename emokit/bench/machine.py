"""What a run may use of the machine: the torch device, the torch threads of each cell, and how many
cells run at once (``--jobs``).

Why one torch thread per cell by default, on every machine: the numbers of a cell depend on its
thread count (a float sum is split differently across threads, so the weight gradients differ in
the last bits after one step, and the UARs after a few epochs), and torch's default follows the
machine's cores. Fixing the count makes the same commit give the same cells on a laptop, a 2-core
CI runner and a 64-core server. One thread is also the fastest way to use a CPU for these small
models: independent cells in parallel processes beat two threads inside a tiny matrix product.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

#: torch threads per cell unless ``--threads`` says otherwise (see the module docstring)
DEFAULT_THREADS = 1
#: memory one worker process may need at its peak (torch, the features of a run, a visual MLP or a
#: PathNet population); measured: about 0.7 GB for the default suite in one process
WORKER_MEMORY_BYTES = 1_500_000_000
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


class DeviceError(ValueError):
    """A ``--device`` this machine does not have; the message says what it has."""


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, which container limits narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def available_memory() -> int | None:
    """Bytes of memory available to new processes (``MemAvailable``), or ``None`` when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


def default_jobs(threads: int, device: str) -> int:
    """Cells at once when ``--jobs`` is not given: as many ``threads``-thread processes as the cores
    hold and the available memory holds (at :data:`WORKER_MEMORY_BYTES` each); one on a GPU (its
    cells share one device, and a second process there mostly waits for the first)."""
    if device != "cpu":
        return 1
    by_cores = max(1, usable_cores() // max(1, threads))
    memory = available_memory()
    by_memory = max(1, memory // WORKER_MEMORY_BYTES) if memory else by_cores
    return max(1, min(by_cores, by_memory))


def parse_positive(value: str | int | None, flag: str) -> int | None:
    """``--jobs``/``--threads`` as a positive integer (``None`` stays ``None``).

    Raises:
        ValueError: zero, negative or not a whole number, naming the flag.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not re.fullmatch(r"[+]?\d+", text) or int(text) < 1:
        raise ValueError(f"{flag} {value!r}: expected a whole number of 1 or more")
    return int(text)


def resolve_device(spec: str | None) -> str:
    """``--device`` as a torch device string: ``auto`` (the default) is ``cuda`` when a GPU is
    visible, else ``cpu``; ``cuda``/``cuda:N`` must exist.

    Raises:
        DeviceError: an unknown spelling, or a CUDA device this machine does not have.
    """
    import torch

    text = (spec or "auto").strip().lower()
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return "cpu"
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if match is None:
        raise DeviceError(f"--device {spec!r}: expected {DEVICE_CHOICES}")
    if not torch.cuda.is_available():
        why = "torch was built without CUDA" if torch.version.cuda is None else "no GPU is visible"
        raise DeviceError(f"--device {spec}: this machine has no CUDA device ({why}); use --device cpu")
    count = torch.cuda.device_count()
    if match.group(1) is not None and int(match.group(1)) >= count:
        raise DeviceError(
            f"--device {spec}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )
    return text


@dataclass(frozen=True)
class CellRuntime:
    """How the cells of a run execute: recorded in every cell, so two machines' cells can be told apart."""

    device: str = "cpu"
    threads: int = DEFAULT_THREADS

    def facts(self) -> dict[str, Any]:
        """The facts recorded per cell: device (with the GPU's name), threads, CPU capability."""
        import torch

        facts: dict[str, Any] = {
            "device": self.device,
            "torch_threads": torch.get_num_threads(),
            "cpu_capability": cpu_capability(),
            "kernel_backend": kernel_backend_on(self.device),
        }
        if self.device.startswith("cuda"):
            facts["gpu"] = torch.cuda.get_device_name(torch.device(self.device))
        return facts


_BACKENDS: dict[str, str] = {}


def kernel_backend_on(device: str) -> str:
    """The multi-path kernels a method gets on ``device`` by default: ``ext`` where the extension
    has kernels for the device's type, else ``torch`` (the fallback); ``EMOKIT_BACKEND`` applies."""
    if device not in _BACKENDS:
        import torch

        from emokit import kernels

        try:
            info = kernels.backend_info()
            on_device = torch.device(device).type in info["extension_devices"]
            _BACKENDS[device] = info["backend"] if on_device else "torch"
        except Exception as exc:  # e.g. EMOKIT_BACKEND=ext without the extension
            _BACKENDS[device] = f"unavailable ({type(exc).__name__})"
    return _BACKENDS[device]


def cpu_capability() -> str:
    """The vector instructions torch's CPU kernels use here (``AVX2``, ``AVX512``, ``DEFAULT``...):
    results may differ between capabilities even with one thread."""
    import torch

    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # pragma: no cover - very old torch
        return "unknown"
