"""``emokit compare A.json B.json [--threshold PCT]``: run B against run A, cell by cell
(:mod:`emokit.results.compare`).

Exit 0: no matched (experiment, budget, method) of B has a mean UAR lower than A's by more than the
threshold (UAR percentage points, default 0); 1: some have, listed; 2: a bad argument or file, or
the runs share no cell (a comparison of nothing must not pass a CI job).
"""

from __future__ import annotations

import argparse
import io
import math

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from emokit.cli.arguments import EXIT_USAGE, UsageError
from emokit.results import RunResults, load
from emokit.results.compare import SECTIONS, ComparedRow, Comparison, compare_runs, describe_key

EXIT_REGRESSION = 1
#: differences listed per section before "... and N more"
MAX_DIFFERENCES = 40
#: cells shown of those only one run has
MAX_EXAMPLES = 3


def parse_threshold(value: str | None) -> float:
    """``--threshold``: a non-negative number of UAR percentage points (default 0)."""
    if value is None:
        return 0.0
    try:
        threshold = float(str(value).strip().rstrip("%"))
    except ValueError:
        threshold = -1.0
    if not math.isfinite(threshold) or threshold < 0:
        raise UsageError(
            f"--threshold {value}: expected a non-negative number of UAR percentage points, e.g. 1.5"
        )
    return threshold


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    """Compare ``args.candidate`` (B) with ``args.baseline`` (A) and print what differs, the UAR
    of each matched result, and the cells only one run has; the exit code says whether B regressed."""
    threshold = parse_threshold(getattr(args, "threshold", None))
    a, b = load(args.baseline), load(args.candidate)
    comparison = compare_runs(a, b)
    _print_runs(console, a, b)
    _print_differences(console, comparison)
    if not comparison.rows:
        _print_cells(console, comparison)
        Console(stderr=True).print(
            f"[red]error:[/] {escape(str(args.baseline))} and {escape(str(args.candidate))} share no "
            f"finished cell (A {len(a.ok_cells)}, B {len(b.ok_cells)}): nothing to compare",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_USAGE
    regressions = comparison.regressions(threshold)
    for table in results_tables(comparison, {id(r) for r in regressions}, width=console.width):
        console.print(table)
    for note in _table_notes(comparison, threshold):
        console.print(note, highlight=False, markup=False)
    _print_cells(console, comparison)
    return _print_verdict(console, comparison, regressions, threshold)


def _print_runs(console: Console, a: RunResults, b: RunResults) -> None:
    for name, run in (("A (baseline)", a), ("B (candidate)", b)):
        commit = run.data.get("git_commit")
        console.print(
            Text.assemble(
                (f"{name}: ", "bold"),
                f"{run.path} ({run.status}, {len(run.cells)} cells"
                + (f", commit {str(commit)[:12]}" if commit else "")
                + f", created {run.data.get('created', '?')})",
            ),
            soft_wrap=True,
        )


def _print_differences(console: Console, comparison: Comparison) -> None:
    console.print(Rule(Text("What differs (A -> B)")))
    if not comparison.differences:
        console.print(f"nothing: the runs agree in {', '.join(SECTIONS)}", highlight=False, soft_wrap=True)
        return
    for section in SECTIONS:
        differences = comparison.differences_in(section)
        if not differences:
            continue
        console.print(Text(f"{section} ({len(differences)})", style="bold"))
        for difference in differences[:MAX_DIFFERENCES]:
            console.print(Text(f"  {difference}"), soft_wrap=True)
        if len(differences) > MAX_DIFFERENCES:
            console.print(f"  ... and {len(differences) - MAX_DIFFERENCES} more", highlight=False)


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value >= 0.001 else "<.001"


def _experiment(row: ComparedRow) -> tuple:
    return (row.sources, row.target, row.modality, row.features)


def _new_table(title: str, *, with_experiment: bool) -> Table:
    table = Table(
        title=Text(title), box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False
    )
    if with_experiment:
        table.add_column("experiment", no_wrap=True, style="bold")
    table.add_column("budget", no_wrap=True)
    table.add_column("method", no_wrap=True)
    for name in ("A", "B", "B−A", "n", "p", "boot", "95% CI", "p"):
        table.add_column(name, justify="right", no_wrap=True)
    return table


def _row_cells(row: ComparedRow, regressed: bool) -> list[Text | str]:
    boot = row.bootstrap
    diff_style = "red" if regressed else ("green" if row.diff > 0 else "")
    cells: list[Text | str] = [
        row.budget,
        row.method,
        f"{100 * row.mean_a:.1f}",
        f"{100 * row.mean_b:.1f}",
        Text(f"{row.diff_points:+.1f}", style=diff_style),
        str(row.matched),
        _p(row.fold_p_holm),
    ]
    if boot is None:
        return [*cells, Text("-", style="dim"), Text(row.bootstrap_note or "", style="dim"), ""]
    return [
        *cells,
        f"{100 * boot.diff:+.1f}",
        f"[{100 * boot.low:+.1f}, {100 * boot.high:+.1f}]",
        _p(row.bootstrap_p_holm),
    ]


def results_tables(
    comparison: Comparison, regressed: set[int] | None = None, width: int | None = None
) -> list[Table]:
    """B against A per (experiment, budget, method): means, B − A, matched cells, the tests' p
    (Holm-corrected across the rows); the rows in ``regressed`` (their ``id``) in red. One table,
    or one per experiment when one is wider than ``width`` (a console's)."""
    regressed = regressed or set()
    title = "UAR % of B against A on matched cells"
    table = _new_table(title, with_experiment=True)
    rows = comparison.rows
    for index, row in enumerate(rows):
        first = index == 0 or _experiment(rows[index - 1]) != _experiment(row)
        label = Text("")
        if first:
            label = Text(row.experiment.replace(" -> ", "\n-> ").replace("+", "+\n"))
            label.append(f"\n{row.modality}, {row.features}", style="dim")
        last = index + 1 == len(rows) or _experiment(rows[index + 1]) != _experiment(row)
        style = "red" if id(row) in regressed else ""
        table.add_row(label, *_row_cells(row, id(row) in regressed), style=style, end_section=last)
    measure = Console(width=10_000, file=io.StringIO())
    if width is None or measure.measure(table).maximum <= width:
        return [table]
    tables: dict[tuple, Table] = {}  # too wide: the experiment goes to each table's title
    for row in rows:
        if _experiment(row) not in tables:
            name = f"{row.experiment} ({row.modality}, {row.features})"
            tables[_experiment(row)] = _new_table(f"{title}: {name}", with_experiment=False)
        style = "red" if id(row) in regressed else ""
        tables[_experiment(row)].add_row(*_row_cells(row, id(row) in regressed), style=style)
    return list(tables.values())


def _table_notes(comparison: Comparison, threshold: float) -> list[str]:
    rows = len(comparison.rows)
    return [
        "A, B: mean UAR % over the n cells both ran (matched by experiment, budget, method, fold and "
        "repeat); B−A in UAR points. p: paired permutation test over the matched cells; boot: paired "
        "bootstrap over the pooled test utterances of the matched cells (when both runs stored the same "
        f"utterances' predictions), its 95% interval; each p Holm-corrected across the {rows} row(s).",
        f"Red: B lower than A by more than {threshold:g} point(s) (--threshold), whatever the p.",
    ]


def _print_cells(console: Console, comparison: Comparison) -> None:
    console.print(Rule(Text("Cells")))
    console.print(
        f"matched: {comparison.matched_cells} cell(s) in {len(comparison.rows)} result(s)", highlight=False
    )
    for name, keys in (("A", comparison.only_a), ("B", comparison.only_b)):
        console.print(f"only in {name}: {len(keys)}", highlight=False)
        for key in keys[:MAX_EXAMPLES]:
            console.print(Text(f"  {describe_key(key)}"), soft_wrap=True)
        if len(keys) > MAX_EXAMPLES:
            console.print(f"  ... and {len(keys) - MAX_EXAMPLES} more", highlight=False)
    if comparison.failed:
        console.print(
            f"[yellow]failed in one run only[/]: {len(comparison.failed)} (not compared)", highlight=False
        )
        for key, run in comparison.failed[:MAX_EXAMPLES]:
            console.print(Text(f"  failed in {run}: {describe_key(key)}"), soft_wrap=True)
        if len(comparison.failed) > MAX_EXAMPLES:
            console.print(f"  ... and {len(comparison.failed) - MAX_EXAMPLES} more", highlight=False)


def _print_verdict(
    console: Console, comparison: Comparison, regressions: list[ComparedRow], threshold: float
) -> int:
    console.print(Rule(Text("Verdict")))
    if not regressions:
        console.print(
            f"[green]no regression[/]: no matched result of B is lower than A's by more than {threshold:g} "
            f"UAR point(s) ({len(comparison.rows)} results, {comparison.matched_cells} cells)",
            highlight=False,
            soft_wrap=True,
        )
        return 0
    console.print(
        f"[red]regression[/]: {len(regressions)} of {len(comparison.rows)} result(s) of B are lower than A's "
        f"by more than {threshold:g} UAR point(s):",
        highlight=False,
        soft_wrap=True,  # a CI log is searched for these lines: one line each
    )
    for row in regressions:
        boot = row.bootstrap
        tests = f"permutation p {_p(row.fold_test.p)}" + (
            f", bootstrap {100 * boot.diff:+.1f} [{100 * boot.low:+.1f}, {100 * boot.high:+.1f}] "
            f"p {_p(boot.p)}"
            if boot
            else ""
        )  # uncorrected p here: the table has the Holm-corrected ones
        console.print(
            Text(
                f"  {row.label}: {100 * row.mean_a:.1f} -> {100 * row.mean_b:.1f} "
                f"({row.diff_points:+.2f} points, {row.matched} cells; {tests})"
            ),
            soft_wrap=True,
        )
    return EXIT_REGRESSION
