"""Kernel benchmark of the multi-path op and the population forward.

Runs the reference grid through emokit.kernels.profile: P=64 paths, K=3 slots, M=20 modules, L=3
layers, widths D in {128, 256}, batches B in {256, 1024}, populations from random to fully
converged (0, 0.5, 0.9, 1), timing the fallback (torch) against the extension (ext) and a dense
torch.mm of the same work, interleaved in one process. Prints the tables and the acceptance
criteria, and writes every number to a JSON file.

    python benchmarks/kernels.py [--out FILE.json] [--repeats N] [--budget S] [--device cpu|cuda]

Exit status: 0 when the run completed (whatever the criteria say: they are reported, not
enforced), 1 when the extension cannot run or disagrees with the fallback, 2 for bad options.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from emokit.kernels import KernelBackendError
from emokit.kernels.profile import QUICK_CONFIG, ProfileConfig, print_report, run_profile
from emokit.measure import timestamped_path, write_report

RESULTS = Path(__file__).resolve().parent / "results"


def default_out() -> Path:
    """benchmarks/results/kernels-<host>-<date>.json (the folder is created when written)."""
    return timestamped_path(RESULTS, "kernels")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, help="JSON file (default: benchmarks/results/kernels-<host>-<date>.json)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per measurement (default 5)")
    parser.add_argument(
        "--budget",
        type=float,
        default=10.0,
        help="seconds of timing per measurement: slower ones get fewer repeats, at least 3 (default 10)",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="a tiny grid instead, to try the script")
    args = parser.parse_args(argv)

    base = QUICK_CONFIG if args.quick else ProfileConfig()
    config = replace(
        base, repeats=args.repeats, budget_s=args.budget, device=args.device, threads=args.threads
    )
    console = Console(width=max(Console().width, 130))
    try:
        config.validate()
        report = run_profile(config, console, require_ext=True)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return 2
    except KernelBackendError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return 1
    print_report(report, console)
    path = write_report(report, args.out or default_out())
    console.print(f"results written to {path}", highlight=False)
    return 1 if any(r["status"] != "ok" for r in report["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
