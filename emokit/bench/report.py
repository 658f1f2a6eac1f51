"""Rich console output of a bench run: progress bars while it runs, a result table at the end."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from emokit.bench.protocol import Experiment, Reporter


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
        self._method = self.progress_bar.add_task("", total=None, visible=False)

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

    def cell_started(self, experiment: Experiment, seed: int, method: str) -> None:
        self.progress_bar.update(self._cells, description=f"cells: {method} {experiment.label} seed {seed}")

    def method_progress(
        self, method: str, stage: str, done: int, total: int | None, figures: dict[str, Any]
    ) -> None:
        shown = "  ".join(f"{name.replace('_', ' ')} {_figure(value)}" for name, value in figures.items())
        self.progress_bar.update(
            self._method,
            description=f"  {method}: {stage}  {shown}".rstrip(),
            completed=done,
            total=total,
            visible=True,
        )

    def cell_finished(self, cell: dict[str, Any]) -> None:
        self.progress_bar.advance(self._cells)
        self.progress_bar.update(self._method, visible=False, completed=0, total=None)
        note = (cell.get("method_info") or {}).get("note")
        if self.verbose:
            s = cell["scores"]
            self.console.print(
                f"  {cell['method']:<12} {cell['experiment']:<32} seed {cell['seed']}: "
                f"UAR {100 * s['uar']:.1f}  WA {100 * s['wa']:.1f}  F1 {100 * s['macro_f1']:.1f}  "
                f"({cell['time_s']:.1f} s)",
                highlight=False,
            )
            if note:
                self.console.print(f"    {note}", highlight=False)


def _figure(value: Any) -> str:
    """A live-view figure: floats below 1 as 0.123, larger ones as whole numbers."""
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.0f}"
    return str(value)


def _mean_std(metric: dict[str, float]) -> str:
    return f"{100 * metric['mean']:.1f} ± {100 * metric['std']:.1f}"


def summary_table(summary: list[dict[str, Any]], title: str = "emokit bench") -> Table:
    """The result table: the methods of each experiment together, metrics as mean ± std over seeds (%).

    The experiment's modality, features and number of classes sit under its name, so the table
    stays readable in an 80-column terminal. The number of seeds is in the title, or after each
    method's name when it differs between rows.
    """
    seed_counts = {len(row["seeds"]) for row in summary}
    if len(seed_counts) == 1:
        title = f"{title}: mean ± std over {seed_counts.pop()} seed(s)"
    table = Table(
        title=title,
        caption="time: seconds, all seeds together",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
        show_edge=False,
    )
    table.add_column("source -> target", no_wrap=True, min_width=16)
    table.add_column("method", style="bold", no_wrap=True)
    table.add_column("UAR %", justify="right", style="green", no_wrap=True)
    table.add_column("WA %", justify="right", no_wrap=True)
    table.add_column("F1 %", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in summary:
        groups.setdefault((row["experiment"], row["modality"], row["features"]), []).append(row)
    for (experiment, modality, features), rows in groups.items():
        lines = _experiment_lines(experiment, modality, features, len(rows[0]["classes"]))
        # one line per method row; lines left over go to the last row
        labels = [*lines[: len(rows) - 1], "\n".join(lines[len(rows) - 1 :])]
        labels += [""] * (len(rows) - len(labels))
        for position, (row, label) in enumerate(zip(rows, labels, strict=True)):
            name = row["method"] if len(seed_counts) <= 1 else f"{row['method']} ({len(row['seeds'])})"
            table.add_row(
                label,
                name,
                _mean_std(row["uar"]),
                _mean_std(row["wa"]),
                _mean_std(row["macro_f1"]),
                f"{row['time_s']:.0f}",
                end_section=position == len(rows) - 1,
            )
    return table


def _experiment_lines(experiment: str, modality: str, features: str, classes: int) -> list[str]:
    """An experiment's label one short line at a time: each source, the target, then the details."""
    sources, _, target = experiment.partition(" -> ")
    names = sources.split("+")
    details = [f"{modality}, {features}"] if len(modality) + len(features) <= 14 else [modality, features]
    return [
        *(f"{name} +" for name in names[:-1]),
        names[-1],
        f"-> {target}",
        *(f"[dim]{line}[/]" for line in details),
        f"[dim]{classes} classes[/]",
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
