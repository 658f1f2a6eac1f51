"""A run's report: its facts, the summary, per-class recall and train × test matrices, as a rich
table, GitHub Markdown, CSV or LaTeX (``emokit report``).

:func:`build_report` turns a :class:`~emokit.results.RunResults` into a :class:`Report` (sections of
tables whose score cells are :class:`Score` objects); each format renders that one structure, so the
formats hold the same numbers. :func:`render` gives any format as text; :func:`table_renderables`
gives the rich objects for a console. CSV is one machine-readable table of the summary
(:func:`csv_rows`), with scores as fractions as in the result file; the other formats show UAR in %.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.rule import Rule
from rich.table import Table as RichTable
from rich.text import Text

from emokit.bench.metrics import METRIC_NAMES
from emokit.bench.report import BETTER, BOOTSTRAP_ONLY, WORSE
from emokit.bench.results import RESULT_FORMAT
from emokit.bench.summary import ALPHA, MAJORITY
from emokit.data.folds import FoldScheme
from emokit.results.run import RunResults

#: the formats of :func:`render`, the first the default of ``emokit report``
FORMATS = ("table", "markdown", "csv", "latex")

#: the first columns of :func:`csv_rows`, then one ``recall_<class>`` per class
CSV_COLUMNS = (
    "experiment",
    "sources",
    "target",
    "modality",
    "features",
    "within_corpus",
    "budget",
    "budget_fraction",
    "budget_shots",
    "method",
    "classes",
    "chance",
    "cells",
    "failed_cells",
    "folds",
    "repeats",
    *(f"{metric}_{part}" for metric in METRIC_NAMES for part in ("mean", "std", "ci_low", "ci_high")),
    "val_uar_mean",
    "val_uar_std",
    "reference",
    "matched_cells",
    "uar_diff",
    "p",
    "p_holm",
    "verdict",
    "bootstrap_diff",
    "bootstrap_low",
    "bootstrap_high",
    "bootstrap_p_holm",
    "bootstrap_verdict",
    "time_s",
)


# -- the report's structure ---------------------------------------------------------------------
@dataclass(frozen=True)
class Score:
    """A score cell: mean ± std (fractions) with its 95 % CI, and how it compares.

    ``mark`` is ``"better"``/``"worse"`` (the Holm-corrected fold-level test against the reference),
    ``"bootstrap"`` (only the bootstrap over pooled utterances is significant) or ``""``.
    """

    mean: float
    std: float
    low: float | None = None
    high: float | None = None
    mark: str = ""
    best: bool = False
    failed: int = 0

    @property
    def main(self) -> str:
        """``35.4 ± 6.4`` (UAR in %)."""
        return f"{100 * self.mean:.1f} ± {100 * self.std:.1f}"

    @property
    def interval(self) -> str:
        """``[25.2, 45.6]`` (95 % CI in %), or "" without one (a single cell)."""
        if self.low is None or self.high is None:
            return ""
        return f"[{100 * self.low:.1f}, {100 * self.high:.1f}]"

    @property
    def symbol(self) -> str:
        """The significance mark: ▲, ▼, † or ""."""
        return {"better": BETTER, "worse": WORSE, "bootstrap": BOOTSTRAP_ONLY}.get(self.mark, "")


Value = str | Score


@dataclass
class Table:
    """One table of a report: ``rows`` of ``columns`` values; a rule goes above each row index in
    ``breaks`` (a new experiment or budget); ``label`` names it (LaTeX ``\\label``)."""

    title: str
    columns: list[str]
    rows: list[list[Value]] = field(default_factory=list)
    breaks: set[int] = field(default_factory=set)
    label: str = ""
    #: how many leading columns name the row (left-aligned); the others hold numbers
    label_columns: int = 1
    #: how many columns after the first a console shows under the first (modality, features)
    folded: int = 0
    #: what the value columns are (``method``): a narrow console shows one row per value instead
    series: str = ""


@dataclass
class Section:
    """A titled part of a report: its tables and the notes printed under them."""

    title: str
    tables: list[Table]
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    """What ``emokit report`` shows, whatever the format: the run's facts, then the sections."""

    title: str
    facts: list[tuple[str, str]]
    sections: list[Section]


def build_report(results: RunResults) -> Report:
    """The report of ``results``: facts, summary, per-class recall, and the train × test matrices
    when the run's single-source experiments cover every ordered pair of two or more corpora."""
    summary = results.summary
    sections = [summary_section(results)] if summary else []
    if summary:
        sections.append(recall_section(results))
        matrices = matrix_section(results)
        if matrices is not None:
            sections.append(matrices)
    return Report(title=f"emokit report: {results.path.name}", facts=run_facts(results), sections=sections)


# -- facts ----------------------------------------------------------------------------------------
def run_facts(results: RunResults) -> list[tuple[str, str]]:
    """The run's facts, label and text: status, methods, seeds, versions, commit, backend, times."""
    data = results.data
    config = results.config
    versions = data.get("versions") or {}
    failed = len(results.failed_cells)
    facts = [
        ("status", status_text(results)),
        ("cells", f"{len(results.cells)}" + (f" ({failed} failed)" if failed else "")),
        ("methods", ", ".join(results.methods) or "none"),
        ("reference", results.reference or "none (no significance marks)"),
        ("experiments", str(len(_experiment_keys(results)))),
        ("budgets", ", ".join(_budget_labels(results)) or "100%"),
        ("folds", folds_text(results)),
        ("seeds", ", ".join(str(s) for s in config.get("seeds") or data.get("seeds") or []) or "unknown"),
        ("normalisation", str(config.get("norm") or "unknown")),
        ("emokit version", str(versions.get("emokit", "unknown"))),
        ("torch", str(versions.get("torch", "unknown"))),
        ("git commit", str(data.get("git_commit") or "unknown")),
        ("kernel backend", backend_text(data.get("kernel_backend"))),
        ("created", str(data.get("created", "unknown"))),
    ]
    if data.get("finished"):
        facts.append(("finished", str(data["finished"])))
    if results.format < RESULT_FORMAT:
        facts.append(("format", f"{results.format} (read as format {RESULT_FORMAT})"))
    command = data.get("command")
    if isinstance(command, list) and command:
        facts.append(("command", " ".join(str(c) for c in command)))
    return facts


def status_text(results: RunResults) -> str:
    """``complete``, or for a run that did not finish ``interrupted: 120 of the planned 440 cells``."""
    status = results.status
    if status in ("complete", "unknown"):
        return status
    done = len(results.ok_cells)
    planned = planned_cells(results)
    text = f"{status}: {done} of the planned {planned} cells" if planned else f"{status}: {done} cells"
    error = results.data.get("error")
    return f"{text} ({error})" if error else text


def planned_cells(results: RunResults) -> int | None:
    """How many cells the run's config plans (its methods and the majority-class row), or None
    when the folds of a target are not known (neither a cell nor the corpus facts give them)."""
    config = results.config
    experiments = config.get("experiments") or []
    methods = [m for m in config.get("methods") or [] if m != MAJORITY]
    repeats = len(config.get("seeds") or [])
    budgets = len(config.get("budgets") or []) or 1
    if not experiments or not methods or not repeats:
        return None
    folds_of: dict[str, int] = {}
    for cell in results.cells:
        if cell.get("folds"):
            folds_of.setdefault(cell["target"], int(cell["folds"]))
    total = 0
    for experiment in experiments:
        target = experiment.get("target")
        folds = folds_of.get(target) or _folds_from_spec(results, target)
        if folds is None:
            return None
        total += folds * budgets * (len(methods) + 1) * repeats
    return total


def _folds_from_spec(results: RunResults, target: str) -> int | None:
    speakers = ((results.data.get("corpora") or {}).get(target) or {}).get("speakers")
    try:
        scheme = FoldScheme.parse(str(results.config.get("folds", "auto")))
    except ValueError:
        return None
    if scheme.kind == "split":
        return 1
    if scheme.kind == "kfold":
        return scheme.k
    if not speakers:
        return None
    scheme = scheme.resolve(len(speakers))
    return len(speakers) if scheme.kind == "loso" else scheme.k


def folds_text(results: RunResults) -> str:
    """``4 speaker folds × 1 repeat`` (or the folds per target when they differ)."""
    summary = results.summary
    repeats = len(results.config.get("seeds") or []) or max(
        (len(r.get("repeats") or []) for r in summary), default=1
    )
    repeat_text = f"{repeats} repeat" + ("s" if repeats != 1 else "")
    if results.format < 2:
        return f"no speaker folds (written before folds) × {repeat_text}"
    spec = str(results.config.get("folds", ""))
    if spec == "split":
        return f"one random speaker split per repeat × {repeat_text}"
    folds = {r["target"]: r.get("folds") for r in summary if r.get("folds")}
    kind = " (leave one speaker out)" if spec == "loso" else ""
    if len(set(folds.values())) == 1:
        count = next(iter(folds.values()))
        return f"{count} speaker fold{'s' if count != 1 else ''}{kind} × {repeat_text}"
    if folds:
        shown = ", ".join(f"{target} {count}" for target, count in folds.items())
        return f"speaker folds per target{kind}: {shown} × {repeat_text}"
    return f"folds {spec or 'unknown'} × {repeat_text}"


def backend_text(backend: dict[str, Any] | None) -> str:
    """``ext (extension loaded; CPU; OpenMP 201511; gcc 12.2.0)``: the kernel backend and its facts."""
    if not isinstance(backend, dict):
        return "unknown"
    facts = []
    if backend.get("extension_loaded"):
        facts.append("extension loaded")
    elif backend.get("extension_error"):
        facts.append(f"extension not loaded: {backend['extension_error']}")
    if backend.get("compiled_with_cuda"):
        facts.append(f"CUDA {backend.get('cuda_runtime') or ''}".strip())
    devices = backend.get("extension_devices")
    if devices:
        facts.append("devices " + ", ".join(str(d) for d in devices))
    if backend.get("openmp"):
        facts.append(f"OpenMP {backend['openmp']}")
    if backend.get("compiler"):
        facts.append(str(backend["compiler"]))
    if backend.get("error"):
        facts.append(str(backend["error"]))
    name = str(backend.get("backend", "unknown"))
    return f"{name} ({'; '.join(facts)})" if facts else name


# -- the summary ----------------------------------------------------------------------------------
def _experiment_of(row: dict[str, Any]) -> tuple:
    return (tuple(row["sources"]), row["target"], row.get("modality"), row.get("features"))


def _experiment_keys(results: RunResults) -> list[tuple]:
    keys = [_experiment_of(row) for row in results.summary]
    keys += [_experiment_of(cell) for cell in results.cells]
    return list(dict.fromkeys(keys))


def _budget_labels(results: RunResults) -> list[str]:
    labels = [b.get("label") for b in results.config.get("budgets") or []]
    labels += [row["budget"]["label"] for row in results.summary]
    return [str(label) for label in dict.fromkeys(labels) if label]


def _method_columns(results: RunResults) -> list[str]:
    present = {row["method"] for row in results.summary}
    methods = [m for m in results.methods if m in present and m != MAJORITY]
    methods += [m for m in dict.fromkeys(row["method"] for row in results.summary) if m not in methods]
    return [m for m in methods if m != MAJORITY] + ([MAJORITY] if MAJORITY in present else [])


def _groups(results: RunResults) -> dict[tuple, dict[str, dict[str, Any]]]:
    """Summary rows by (experiment, budget), then by method, in the config's order of experiments
    and budgets (a stored summary may interleave experiments that share a label, such as one pair
    of corpora in two modalities)."""
    experiments = {
        (tuple(e["sources"]), e["target"], e.get("modality"), e.get("features")): i
        for i, e in enumerate(results.config.get("experiments") or [])
    }
    budgets = {b.get("label"): i for i, b in enumerate(results.config.get("budgets") or [])}
    groups: dict[tuple, dict[str, dict[str, Any]]] = {}
    for row in results.summary:
        groups.setdefault((*_experiment_of(row), row["budget"]["label"]), {})[row["method"]] = row
    first_seen = {key: i for i, key in enumerate(groups)}

    def rank(key: tuple) -> tuple:
        return (
            experiments.get(key[:4], len(experiments)),
            budgets.get(key[4], len(budgets)),
            first_seen[key],
        )

    return {key: groups[key] for key in sorted(groups, key=rank)}


def _mark(row: dict[str, Any]) -> str:
    comparison = row.get("comparison") or {}
    verdict = comparison.get("verdict")
    if verdict in ("better", "worse"):
        return verdict
    return "bootstrap" if comparison.get("bootstrap_verdict") in ("better", "worse") else ""


def _score(row: dict[str, Any], best: bool = False, *, with_ci: bool = True) -> Score:
    uar = row["uar"]
    ci = uar.get("ci95") if with_ci else None
    return Score(
        mean=uar["mean"],
        std=uar["std"],
        low=ci[0] if ci else None,
        high=ci[1] if ci else None,
        mark=_mark(row),
        best=best,
        failed=int(row.get("failed_cells") or 0),
    )


def _shows_budgets(results: RunResults) -> bool:
    labels = _budget_labels(results)
    return len(labels) > 1 or any(label != "100%" for label in labels)


def _shows_data(results: RunResults) -> bool:
    return len({(row.get("modality"), row.get("features")) for row in results.summary}) > 1


def summary_section(results: RunResults) -> Section:
    """One row per experiment (modality, features) and budget, one column per method: UAR %
    mean ± std with the 95 % CI and the mark against the reference; the row's best in bold."""
    reference = results.reference
    methods = _method_columns(results)
    with_budget, with_data = _shows_budgets(results), _shows_data(results)
    columns = [
        "experiment",
        *(["modality", "features"] if with_data else []),
        *(["budget"] if with_budget else []),
    ]
    columns += [f"{m} (ref)" if m == reference else m for m in methods]
    table = Table(
        title="UAR % by experiment and budget",
        columns=columns,
        label="summary",
        label_columns=1 + 2 * with_data + with_budget,
        folded=2 * with_data,
        series="method",
    )
    previous = None
    for (sources, target, modality, features, budget), rows in _groups(results).items():
        experiment = next(iter(rows.values()))["experiment"]
        contenders = [round(100 * r["uar"]["mean"], 1) for m, r in rows.items() if m != MAJORITY]
        top = max(contenders) if contenders else None
        same = previous == (sources, target, modality, features)
        if not same and table.rows:
            table.breaks.add(len(table.rows))
        previous = (sources, target, modality, features)
        values: list[Value] = ["" if same else experiment]
        if with_data:
            values += ["" if same else str(modality), "" if same else str(features)]
        if with_budget:
            values.append(budget)
        for method in methods:
            row = rows.get(method)
            if row is None:
                values.append("-")
                continue
            best = method != MAJORITY and top is not None and round(100 * row["uar"]["mean"], 1) == top
            values.append(_score(row, best))
        table.rows.append(values)
    return Section(title="Summary", tables=[table], notes=summary_notes(results))


def summary_notes(results: RunResults) -> list[str]:
    """What the summary's numbers and marks mean, for the run at hand."""
    summary = results.summary
    reference = results.reference
    notes = [
        "UAR (unweighted average recall, balanced accuracy) in %: mean ± std over the cells of each entry "
        f"({folds_text(results)}); [a, b]: the 95 % confidence interval (Student t over the cells). "
        f"Bold: the best mean of the row ({MAJORITY} not counted).",
    ]
    if not _shows_data(results) and summary:
        notes.append(f"Every experiment: {summary[0].get('modality')}, {summary[0].get('features')}.")
    compared = [row["comparison"] for row in summary if row.get("comparison")]
    if reference and compared:
        notes.append(
            f"Reference: {reference}. {BETTER}/{WORSE}: significantly better/worse than {reference} "
            "(paired permutation test over the matched fold × repeat cells, Holm-corrected across the "
            f"methods of the row, p < {ALPHA:g}); {BOOTSTRAP_ONLY}: only the paired bootstrap over the "
            "pooled test utterances is significant (Holm-corrected). No mark: no significant difference."
        )
        most = max(c.get("matched_cells") or 0 for c in compared)
        if most > 0 and 2 / 2**most >= ALPHA:  # the exact test's floor: both all-same-sign flips
            notes.append(
                f"With {most} matched cells the exact permutation test cannot go below p = "
                f"{2 / 2**most:.3g} (before Holm's correction), so no entry can be marked {BETTER}/{WORSE}; "
                "6 or more folds × repeats make it possible."
            )
    elif reference:
        notes.append(f"Reference: {reference}; no other method was compared with it.")
    else:
        notes.append("No reference method: no significance marks.")
    if MAJORITY in {row["method"] for row in summary}:
        notes.append(f"{MAJORITY}: always the most frequent labelled class (chance level = 1/classes).")
    if any(row.get("failed_cells") for row in summary):
        notes.append("✗N: N cells of the entry failed; its figures are over the cells that finished.")
    if results.status not in ("complete", "unknown"):
        notes.append(f"The run is {status_text(results)}: the summary is over the cells it recorded.")
    return notes


# -- per-class recall -----------------------------------------------------------------------------
def recall_section(results: RunResults) -> Section:
    """Per experiment: recall % of each class (pooled over the entry's cells) by budget and method."""
    tables = []
    with_budget = _shows_budgets(results)
    experiments: dict[tuple, list[tuple[str, dict[str, dict[str, Any]]]]] = {}
    for key, rows in _groups(results).items():
        experiments.setdefault(key[:4], []).append((key[4], rows))
    methods = _method_columns(results)
    for index, (key, budgets) in enumerate(experiments.items(), 1):
        first = next(iter(budgets[0][1].values()))
        classes = list(first["classes"])
        table = Table(
            title=f"{first['experiment']} ({key[2]}, {key[3]}): recall %",
            columns=[*(["budget"] if with_budget else []), "method", *classes, "UAR"],
            label=f"recall-{index}",
            label_columns=1 + with_budget,
        )
        for budget, rows in budgets:
            if table.rows:
                table.breaks.add(len(table.rows))
            for position, method in enumerate(m for m in methods if m in rows):
                row = rows[method]
                recall = row.get("per_class_recall") or {}
                values: list[Value] = [budget if position == 0 else ""] if with_budget else []
                values.append(method)
                values += [_percent(recall.get(c)) for c in classes]
                values.append(_percent(row["uar"]["mean"]))
                table.rows.append(values)
        tables.append(table)
    notes = [
        "Recall of each class over the pooled test utterances of the entry's cells (its summed confusion "
        "matrix), in %; UAR: the mean over the cells, as in the summary."
    ]
    return Section(title="Per-class recall", tables=tables, notes=notes)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


# -- train × test matrices ------------------------------------------------------------------------
def matrix_corpora(summary: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """The corpora of each (modality, features) whose single-source experiments cover every ordered
    pair of two or more corpora (within-corpus experiments may fill the diagonal), in order of
    appearance; the run is a matrix run when this is not empty."""
    pairs: dict[tuple[str, str], dict[tuple[str, str], None]] = {}
    for row in summary:
        if len(row["sources"]) == 1:
            pairs.setdefault((row.get("modality"), row.get("features")), {})[
                (row["sources"][0], row["target"])
            ] = None
    out = {}
    for data, seen in pairs.items():
        corpora = list(dict.fromkeys(name for pair in seen for name in pair))
        if len(corpora) >= 2 and all((a, b) in seen for a in corpora for b in corpora if a != b):
            out[data] = corpora
    return out


def matrix_section(results: RunResults) -> Section | None:
    """One train × test UAR table per method (rows: test corpus, columns: trained on) and
    (modality, features), at the run's largest budget; None when the run is no matrix run."""
    summary = results.summary
    corpora_of = matrix_corpora(summary)
    if not corpora_of:
        return None
    budgets = {row["budget"]["label"]: row["budget"] for row in summary}
    largest = max(
        budgets.values(), key=lambda b: (b.get("shots") is None, b.get("fraction") or 0, b.get("shots") or 0)
    )
    rows = [r for r in summary if r["budget"]["label"] == largest["label"] and len(r["sources"]) == 1]
    tables = []
    for (modality, features), corpora in corpora_of.items():
        for method in [m for m in _method_columns(results) if m != MAJORITY]:
            cells = {
                (r["sources"][0], r["target"]): r
                for r in rows
                if r["method"] == method and (r.get("modality"), r.get("features")) == (modality, features)
            }
            if not cells:
                continue
            title = f"{method}: UAR % ({modality}, {features}" + (
                f", budget {largest['label']})" if len(budgets) > 1 else ")"
            )
            table = Table(
                title=title,
                columns=["test \\ train", *corpora],
                label=f"matrix-{len(tables) + 1}",
                series="trained on",
            )
            for target in corpora:
                table.rows.append(
                    [
                        target,
                        *(
                            _score(cells[(source, target)], with_ci=False)
                            if (source, target) in cells
                            else "-"
                            for source in corpora
                        ),
                    ]
                )
            tables.append(table)
    notes = [
        "Rows: the test corpus; columns: the corpus trained on. UAR % mean ± std over the cells"
        + (f", at the largest budget ({largest['label']})" if len(budgets) > 1 else "")
        + "; the diagonal is within-corpus (- where the run has none)."
    ]
    return Section(title="Train × test matrices", tables=tables, notes=notes)


# -- CSV ------------------------------------------------------------------------------------------
def csv_rows(results: RunResults) -> list[dict[str, Any]]:
    """The summary as flat rows, one per (experiment, budget, method): :data:`CSV_COLUMNS` then
    ``recall_<class>`` (scores as fractions, as in the result file; None where not defined)."""
    out = []
    for row in results.summary:
        budget = row["budget"]
        comparison = row.get("comparison") or {}
        fold = comparison.get("fold_test") or {}
        boot = comparison.get("bootstrap") or {}
        val = row.get("val_uar") or {}
        flat: dict[str, Any] = {
            "experiment": row["experiment"],
            "sources": "+".join(row["sources"]),
            "target": row["target"],
            "modality": row.get("modality"),
            "features": row.get("features"),
            "within_corpus": row.get("within_corpus"),
            "budget": budget.get("label"),
            "budget_fraction": budget.get("fraction"),
            "budget_shots": budget.get("shots"),
            "method": row["method"],
            "classes": len(row["classes"]),
            "chance": row.get("chance"),
            "cells": row["cells"],
            "failed_cells": row.get("failed_cells", 0),
            "folds": row.get("folds"),
            "repeats": len(row.get("repeats") or []),
        }
        for metric in METRIC_NAMES:
            values = row.get(metric) or {}
            ci = values.get("ci95") or [None, None]
            flat.update(
                {
                    f"{metric}_mean": values.get("mean"),
                    f"{metric}_std": values.get("std"),
                    f"{metric}_ci_low": ci[0],
                    f"{metric}_ci_high": ci[1],
                }
            )
        flat.update(
            {
                "val_uar_mean": val.get("mean"),
                "val_uar_std": val.get("std"),
                "reference": comparison.get("reference"),
                "matched_cells": comparison.get("matched_cells"),
                "uar_diff": comparison.get("mean_diff"),
                "p": fold.get("p"),
                "p_holm": fold.get("p_holm"),
                "verdict": comparison.get("verdict"),
                "bootstrap_diff": boot.get("diff"),
                "bootstrap_low": boot.get("low"),
                "bootstrap_high": boot.get("high"),
                "bootstrap_p_holm": boot.get("p_holm"),
                "bootstrap_verdict": comparison.get("bootstrap_verdict"),
                "time_s": row.get("time_s"),
            }
        )
        for name, value in (row.get("per_class_recall") or {}).items():
            flat[f"recall_{name}"] = value
        out.append(flat)
    return out


def csv_columns(results: RunResults) -> list[str]:
    """:data:`CSV_COLUMNS` and one ``recall_<class>`` per class of the run, in order of appearance."""
    classes = dict.fromkeys(c for row in results.summary for c in row["classes"])
    return [*CSV_COLUMNS, *(f"recall_{c}" for c in classes)]


def render_csv(results: RunResults) -> str:
    """The summary as one CSV table (:func:`csv_rows`); ``pandas.read_csv`` reads it back."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_columns(results), lineterminator="\n")
    writer.writeheader()
    for row in csv_rows(results):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


# -- Markdown -------------------------------------------------------------------------------------
def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_value(value: Value) -> str:
    if isinstance(value, str):
        return _md(value)
    text = f"**{value.main}**" if value.best else value.main
    if value.interval:
        text += f" {value.interval}"
    text += value.symbol
    return text + (f" ✗{value.failed}" if value.failed else "")


def _md_table(table: Table) -> list[str]:
    lines = [f"### {_md(table.title)}", ""]
    lines.append("| " + " | ".join(_md(c) for c in table.columns) + " |")
    aligns = [":---" if i < table.label_columns else "---:" for i in range(len(table.columns))]
    lines.append("|" + "|".join(aligns) + "|")
    lines += ["| " + " | ".join(_md_value(v) for v in row) + " |" for row in table.rows]
    return [*lines, ""]


def render_markdown(results: RunResults) -> str:
    """The report as GitHub Markdown: the facts as a list, each table as a pipe table, the notes
    as paragraphs under the tables of their section."""
    report = build_report(results)
    lines = [f"# {_md(report.title)}", ""]
    lines += [f"- **{label}**: {_md(text)}" for label, text in report.facts]
    lines.append("")
    if not report.sections:
        lines += ["No cell finished: nothing to summarise.", ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for table in section.tables:
            lines += _md_table(table)
        for note in section.notes:
            lines += [note, ""]
    return "\n".join(lines).rstrip() + "\n"


# -- LaTeX ----------------------------------------------------------------------------------------
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "×": r"$\times$",
    "→": r"$\rightarrow$",
    "–": "--",
    BETTER: r"$\uparrow$",
    WORSE: r"$\downarrow$",
    BOOTSTRAP_ONLY: r"$^{\dagger}$",
    "✗": r"$\times$",
}
_LATEX_PATTERN = re.compile(" -> |" + "|".join(re.escape(c) for c in _LATEX_SPECIALS))


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped, ``±`` as ``$\\pm$`` and ``->`` as an arrow."""
    return _LATEX_PATTERN.sub(
        lambda m: r" $\rightarrow$ " if m.group(0) == " -> " else _LATEX_SPECIALS[m.group(0)], text
    )


def _latex_value(value: Value) -> str:
    if isinstance(value, str):
        text = latex_escape(value)
        return "{}" + text if text.startswith("[") else text  # "\\ [" would be read as \\[...]
    text = latex_escape(value.main)
    text = rf"\textbf{{{text}}}" if value.best else text
    if value.interval:
        text += rf" {{\scriptsize {value.interval}}}"
    text += latex_escape(value.symbol)
    return text + (f" ({value.failed} failed)" if value.failed else "")


def _latex_table(table: Table, caption: str, note_lines: Iterable[str] = ()) -> list[str]:
    spec = "l" * table.label_columns + "r" * (len(table.columns) - table.label_columns)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{tab:emokit-{table.label}}}" if table.label else "",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    for index, row in enumerate(table.rows):
        if index in table.breaks:
            lines.append(r"\midrule")
        lines.append(" & ".join(_latex_value(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    notes = list(note_lines)
    if notes:
        lines.append(r"\par\smallskip{\footnotesize " + " ".join(latex_escape(n) for n in notes) + "}")
    lines += [r"\end{table}", ""]
    return [line for line in lines if line]


def render_latex(results: RunResults) -> str:
    """The report as LaTeX booktabs tables (``\\usepackage{booktabs}``), the best of each summary
    row in ``\\textbf``; the run's facts as comment lines."""
    report = build_report(results)
    lines = [
        f"% {report.title}",
        r"% requires \usepackage{booktabs} in the preamble",
        *(f"% {label}: {text}".replace("\n", " ") for label, text in report.facts),
        "",
    ]
    if not report.sections:
        lines.append("% no cell finished: nothing to summarise")
    for section in report.sections:
        for position, table in enumerate(section.tables):
            last = position == len(section.tables) - 1
            lines += _latex_table(table, table.title, section.notes if last else ())
    return "\n".join(lines).rstrip() + "\n"


# -- rich tables (the console) --------------------------------------------------------------------
def _rich_value(value: Value) -> Text:
    if isinstance(value, str):
        return Text(value)
    text = Text(value.main, style="bold green" if value.best else "")
    if value.symbol:
        text.append(value.symbol, style={"better": "green", "worse": "red"}.get(value.mark, "yellow"))
    if value.failed:
        text.append(f" ✗{value.failed}", style="red")
    if value.interval:
        text.append(f"\n{value.interval}", style="dim")
    return text


def _rich_label(value: Value, details: list[Value]) -> Text:
    """A row's name one corpus a line (so the column stays narrow), its details dim under it."""
    text = Text(str(value).replace(" -> ", "\n-> ").replace("+", "+\n"))
    shown = ", ".join(str(d) for d in details if d)
    if shown:
        text.append(f"\n{shown}", style="dim")
    return text


def _rich_table(table: Table) -> RichTable:
    out = RichTable(
        title=Text(table.title), box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False
    )
    folded = range(1, 1 + table.folded)
    for index, column in enumerate(table.columns):
        if index in folded:
            continue
        numbers = index >= table.label_columns
        # names keep their width; numbers wrap (at " ± ") before a narrow console crops a column
        out.add_column(
            Text(column),
            justify="right" if numbers else "left",
            no_wrap=not numbers,
            style="bold" if index == 0 else "",
        )
    for index, row in enumerate(table.rows):
        cells = [_rich_label(row[0], [row[i] for i in folded])]
        cells += [_rich_value(v) for i, v in enumerate(row) if i and i not in folded]
        out.add_row(*cells, end_section=index + 1 in table.breaks)
    return out


def _rich_long(table: Table) -> RichTable:
    """``table`` with one row per value (experiment, budget, method, UAR, CI), for a console too
    narrow for a column per method: the layout of ``emokit bench``'s table."""
    out = RichTable(
        title=Text(table.title), box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False
    )
    folded = range(1, 1 + table.folded)
    labels = [i for i in range(table.label_columns) if i not in folded]
    for index in labels:
        out.add_column(Text(table.columns[index]), no_wrap=True, style="bold" if index == 0 else "")
    out.add_column(Text(table.series), no_wrap=True)
    out.add_column(Text("UAR"), justify="right", no_wrap=True)
    out.add_column(Text("95% CI"), justify="right", no_wrap=True)
    for index, row in enumerate(table.rows):
        values = [(table.columns[i], v) for i, v in enumerate(row) if i >= table.label_columns and v != "-"]
        for position, (name, value) in enumerate(values):
            cells = [_rich_label(row[0], [row[i] for i in folded]) if position == 0 else Text("")]
            cells += [Text(str(row[i]) if position == 0 else "") for i in labels[1:]]
            cells.append(Text(name))
            if isinstance(value, Score):
                cells += [_rich_value(replace(value, low=None, high=None)), Text(value.interval, style="dim")]
            else:
                cells += [Text(str(value)), Text("")]
            last = position == len(values) - 1
            out.add_row(*cells, end_section=last and index + 1 in table.breaks)
    return out


def table_renderables(results: RunResults, width: int | None = None) -> list[RenderableType]:
    """The report as rich objects to print to a console, in order. A table with a column per
    method wider than ``width`` (a console's) comes with one row per method instead."""
    report = build_report(results)
    measure = Console(width=10_000, file=io.StringIO())
    facts = RichTable.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    for label, text in report.facts:
        facts.add_row(label, Text(text))
    out: list[RenderableType] = [Rule(Text(report.title)), facts]
    if not report.sections:
        out.append(Text("No cell finished: nothing to summarise."))
    for section in report.sections:
        out.append(Rule(Text(section.title)))
        for table in section.tables:
            wide = _rich_table(table)
            if width is not None and table.series and measure.measure(wide).maximum > width:
                wide = _rich_long(table)
            out.append(wide)
        out += [Text(note) for note in section.notes]
    return out


def render_table(results: RunResults, width: int = 160) -> str:
    """The ``table`` format as plain text (no colours), ``width`` columns wide at most."""
    console = Console(
        file=io.StringIO(), width=width, color_system=None, force_terminal=False, highlight=False
    )
    console.print(Group(*table_renderables(results)))
    return console.file.getvalue()  # type: ignore[attr-defined]


RENDERERS: dict[str, Callable[[RunResults], str]] = {
    "table": render_table,
    "markdown": render_markdown,
    "csv": render_csv,
    "latex": render_latex,
}


def render(results: RunResults, fmt: str = "table") -> str:
    """The report of ``results`` in format ``fmt`` (one of :data:`FORMATS`) as text.

    Raises:
        ValueError: an unknown format.
    """
    renderer = RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(
            f"unknown report format {fmt!r}: expected {', '.join(FORMATS[:-1])} or {FORMATS[-1]}"
        )
    return renderer(results)


__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "Report",
    "Score",
    "Section",
    "Table",
    "backend_text",
    "build_report",
    "csv_columns",
    "csv_rows",
    "folds_text",
    "latex_escape",
    "matrix_corpora",
    "planned_cells",
    "render",
    "render_csv",
    "render_latex",
    "render_markdown",
    "render_table",
    "run_facts",
    "status_text",
    "table_renderables",
]
