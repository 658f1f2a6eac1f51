"""Rich console output of a bench run: progress bars while it runs, a result table at the end."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from emokit.bench.protocol import MAJORITY, Experiment, Reporter


class RichReporter(Reporter):
    """Shows long steps as progress bars and finished cells as one line each."""

    def __init__(self, console: Console, total_cells: int, verbose: bool = True):
        self.console = console
        self.verbose = verbose
        self.progress_bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._cells = self.progress_bar.add_task("cells", total=total_cells)
        self._slots: dict[int, Any] = {}  # one line per cell running at once
        self.failed = 0

    def __enter__(self) -> RichReporter:
        self.progress_bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress_bar.stop()

    def info(self, message: str) -> None:
        if self.verbose:
            self.console.print(f"[cyan]•[/] {message}", highlight=False)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]![/] {message}", highlight=False)

    def progress(self, description: str, done: int, total: int) -> None:
        task = self._tasks.get(description)
        if task is None:
            task = self._tasks[description] = self.progress_bar.add_task(description, total=total)
        self.progress_bar.update(task, completed=done, total=total)

    def planned(self, total: int, done: int) -> None:
        self.progress_bar.update(self._cells, total=total, completed=done)

    def _slot(self, slot: int) -> Any:
        if slot not in self._slots:
            self._slots[slot] = self.progress_bar.add_task("", total=None, visible=False)
        return self._slots[slot]

    def cell_started(self, experiment: Experiment, seed: int, method: str, *, slot: int = 0) -> None:
        if method == MAJORITY:
            return
        self.progress_bar.update(
            self._slot(slot),
            description=f"  {method} {experiment.label} seed {seed}",
            completed=0,
            total=None,
            visible=True,
        )

    def method_progress(
        self, method: str, stage: str, done: int, total: int | None, figures: dict[str, Any], *, slot: int = 0
    ) -> None:
        shown = "  ".join(f"{name.replace('_', ' ')} {_figure(value)}" for name, value in figures.items())
        self.progress_bar.update(
            self._slot(slot),
            description=f"  {method}: {stage}  {shown}".rstrip(),
            completed=done,
            total=total,
            visible=True,
        )

    def cell_finished(self, cell: dict[str, Any], *, slot: int = 0) -> None:
        self.progress_bar.advance(self._cells)
        if slot in self._slots:
            self.progress_bar.update(self._slots[slot], visible=False, completed=0, total=None)
        if cell.get("status") == "failed":
            self.failed += 1
            error = cell.get("error") or {}
            self.progress_bar.update(self._cells, description=f"cells ([red]{self.failed} failed[/])")
            self.console.print(
                f"  [red]failed[/] {cell['method']} in {error.get('cell', cell.get('experiment'))}: "
                f"{error.get('type')}: {error.get('message')}",
                highlight=False,
            )
            return
        if not self.verbose or cell["method"] == MAJORITY:
            return
        s = cell["scores"]
        budget = (cell.get("budget") or {}).get("label", "")
        speakers = cell.get("test_speakers") or []
        where = f"fold {cell.get('fold', 0) + 1}/{cell.get('folds', 1)}" + (
            f" ({speakers[0]})" if len(speakers) == 1 else ""
        )
        validation = cell.get("validation")
        val = f"  val {100 * validation['uar']:.1f}" if validation else ""
        same = (
            f" (= {cell['same_as_budget']})" if cell.get("same_as_budget") else f" ({cell['time_s']:.1f} s)"
        )
        self.console.print(
            f"  {cell['method']:<12} {cell['experiment']:<30} {budget:>5} {where} r{cell.get('repeat', 0)}: "
            f"UAR {100 * s['uar']:.1f}  F1 {100 * s['macro_f1']:.1f}{val}{same}",
            highlight=False,
        )
        note = (cell.get("method_info") or {}).get("note")
        if note and not cell.get("same_as_budget"):
            self.console.print(f"    {note}", highlight=False)


def _figure(value: Any) -> str:
    """A live-view figure: floats below 1 as 0.123, larger ones as whole numbers."""
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.0f}"
    return str(value)


def _mean_std(metric: dict[str, Any]) -> str:
    return f"{100 * metric['mean']:.1f} ± {100 * metric['std']:.1f}"


def _ci(metric: dict[str, Any]) -> str:
    ci = metric.get("ci95")
    return f"{100 * ci[0]:.0f}–{100 * ci[1]:.0f}" if ci else "-"


#: marks of the comparison with the reference (see :func:`table_notes`)
BETTER, WORSE, BOOTSTRAP_ONLY = "▲", "▼", "†"


def _versus(row: dict[str, Any], reference: str | None) -> str:
    """``+3.1▲``: the mean UAR difference to the reference on matched cells, and its marks."""
    comparison = row.get("comparison")
    if row["method"] == reference:
        return "ref"
    if not comparison or comparison.get("mean_diff") is None:
        return ""
    mark = {"better": BETTER, "worse": WORSE}.get(comparison.get("verdict") or "", "")
    if not mark and comparison.get("bootstrap_verdict") in ("better", "worse"):
        mark = BOOTSTRAP_ONLY
    return f"{100 * comparison['mean_diff']:+.1f}{mark}"


def _p(row: dict[str, Any]) -> str:
    test = (row.get("comparison") or {}).get("fold_test") or {}
    p = test.get("p_holm")
    return "" if p is None else (f"{p:.3f}" if p >= 0.001 else "<.001")


def summary_table(
    summary: list[dict[str, Any]],
    title: str = "emokit bench",
    *,
    show_val: bool = False,
    reference: str | None = None,
) -> Table:
    """The result table: per experiment and target budget, its methods with UAR as mean ± std and
    95 % CI over the cells (folds × repeats, %), the difference to the reference with significance
    marks and its Holm-corrected p, and the time (or, with ``show_val``, the validation UAR). WA and
    macro-F1 are in the result file.

    The experiment's modality, features, classes and chance level sit under its name, so the table
    stays readable in an 80-column terminal.
    """
    counts = {row["cells"] for row in summary if row["method"] != MAJORITY}
    if len(counts) == 1:
        title = f"{title}: mean ± std over {counts.pop()} cells (folds × repeats)"
    table = Table(
        title=title,
        caption=("UAR, CI, val in %" if show_val else "UAR, CI in %; s: seconds")
        + (
            f"; vs ref: UAR difference to {reference} on matched cells, p Holm-corrected" if reference else ""
        ),
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        show_edge=False,
    )
    table.add_column("experiment", no_wrap=True)
    table.add_column("budget", no_wrap=True, justify="right")
    table.add_column("method", style="bold", no_wrap=True)
    table.add_column("UAR", justify="right", style="green", no_wrap=True)
    table.add_column("95%CI", justify="right", no_wrap=True)
    if reference:
        table.add_column("vs ref", justify="right", no_wrap=True)
        table.add_column("p", justify="right", no_wrap=True)
    if show_val:
        table.add_column("val", justify="right", no_wrap=True)
    if not show_val:  # 80 columns: the validation score takes the time's place
        table.add_column("s", justify="right", no_wrap=True)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in summary:
        groups.setdefault((row["experiment"], row["modality"], row["features"]), []).append(row)
    for (experiment, modality, features), rows in groups.items():
        lines = _experiment_lines(experiment, modality, features, len(rows[0]["classes"]))
        labels = [*lines[: len(rows) - 1], "\n".join(lines[len(rows) - 1 :])]
        labels += [""] * (len(rows) - len(labels))
        previous_budget = None
        for position, (row, label) in enumerate(zip(rows, labels, strict=True)):
            budget = row["budget"]["label"]
            shown_budget = budget if budget != previous_budget else ""
            previous_budget = budget
            name = "majority" if row["method"] == MAJORITY else row["method"]
            name = name if len(counts) <= 1 else f"{name} ({row['cells']})"
            if row.get("failed_cells"):  # the mean is over the cells that finished
                name = f"{name} [red]✗{row['failed_cells']}[/]"
            values = [label, shown_budget, name, _mean_std(row["uar"]), _ci(row["uar"])]
            if reference:
                values += [_versus(row, reference), _p(row)]
            if show_val:
                val = row.get("val_uar")
                values.append(f"{100 * val['mean']:.1f}" if val else "-")
            if not show_val:
                values.append(f"{row['time_s']:.0f}")
            next_budget = rows[position + 1]["budget"]["label"] if position + 1 < len(rows) else None
            table.add_row(*values, end_section=position == len(rows) - 1 or next_budget != budget)
    return table


def table_notes(summary: list[dict[str, Any]], config: Any) -> list[str]:
    """The lines printed under the result table: what the marks mean and what the data was."""
    notes = [
        "UAR = unweighted average recall (balanced accuracy); 95% CI: Student t over the cells; "
        f"{MAJORITY}: the most frequent labelled class, chance level = 1/classes (under each experiment)."
    ]
    if config.reference:
        notes.append(
            f"vs {config.reference}: {BETTER}/{WORSE} significantly better/worse (paired permutation "
            "test over matched fold x repeat cells, Holm-corrected across methods, p < 0.05); "
            f"{BOOTSTRAP_ONLY} only the paired bootstrap over the pooled test utterances is significant. "
            "The result file has every p."
        )
    notes.append(
        f"Normalisation: {config.norm}. Each method saw only the budgeted target labels; unlabelled target "
        "data a method may see is listed per cell in the result file."
    )
    if any(row.get("failed_cells") for row in summary):
        notes.append("✗N: N cells of the row failed; its figures are over the cells that finished.")
    return notes


def _experiment_lines(experiment: str, modality: str, features: str, classes: int) -> list[str]:
    """An experiment's label one short line at a time: each source, the target, then the details."""
    sources, arrow, target = experiment.partition(" -> ")
    names = sources.split("+")
    details = [f"{modality}, {features}"] if len(modality) + len(features) <= 14 else [modality, features]
    if not arrow:  # within-corpus: "sim-savee (within-corpus)"
        name, _, rest = experiment.partition(" ")
        return [
            name,
            rest,
            *(f"[dim]{line}[/]" for line in details),
            f"[dim]{classes} classes, chance {100 / classes:.1f}[/]",
        ]
    return [
        *(f"{name} +" for name in names[:-1]),
        names[-1],
        f"-> {target}",
        *(f"[dim]{line}[/]" for line in details),
        f"[dim]{classes} classes[/]",
        f"[dim]chance {100 / classes:.1f}[/]",
    ]


def confusion_table(classes: list[str], matrix: list[list[int]], title: str) -> Table:
    """A confusion matrix (rows: true class, columns: predicted class)."""
    table = Table(title=title)
    table.add_column("true \\ predicted")
    for name in classes:
        table.add_column(name[:5], justify="right")
    for name, row in zip(classes, matrix, strict=True):
        table.add_row(name, *(str(v) for v in row))
    return table
