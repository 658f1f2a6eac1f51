"""The tables ``emokit profile`` prints from a report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from emokit.kernels._loader import BUILD_HINT
from emokit.kernels.profile_measurements import MEASUREMENTS
from emokit.measure import machine_line

# --- tables -----------------------------------------------------------------------------------------


def format_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3g}" if seconds < 0.1 else f"{seconds * 1e3:.0f}"


def _timing(measurement: Mapping[str, Any], name: str) -> str:
    timing = measurement["timings"].get(name)
    return "-" if timing is None else format_ms(timing["median_s"])


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
    """The performance targets: one row per target, with its value and verdict."""
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
