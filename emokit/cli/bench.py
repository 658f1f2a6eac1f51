"""``emokit bench``: run the config its arguments ask for (:mod:`emokit.cli.bench_args`), and report."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from emokit.bench.protocol import BenchConfig, BenchRunner
from emokit.bench.report import RichReporter, confusion_table, summary_table, table_notes
from emokit.bench.results import (
    ResultFile,
    ResultFileError,
    cell_key,
    check_writable_folder,
    kernel_backend,
    load_predictions,
    load_results,
)
from emokit.bench.summary import in_run_order as order_cells
from emokit.bench.summary import summarise_run
from emokit.cli.arguments import (
    EXIT_CELLS_FAILED,
    EXIT_INTERRUPTED,
    UsageError,
    split_list,
)
from emokit.cli.bench_args import (
    DEFAULT_OUT,
    DEFAULT_REPEATS,
    JOBS_ENV,
    Execution,
    apply_config,
    config_from_args,
    data_options_from_args,
    default_methods,
    defaults_suite,
    execution_from_args,
    experiments_from_args,
    run_suite,
    with_baselines,
)
from emokit.measure import git_commit, package_versions
from emokit.registry import Registry
from emokit.results import RunResults
from emokit.results import load as load_run
from emokit.results.compare import dict_differences
from emokit.results.config import check_config, read_config_file, run_config_of

__all__ = [
    "DEFAULT_REPEATS",
    "JOBS_ENV",
    "Execution",
    "config_from_args",
    "data_options_from_args",
    "default_methods",
    "defaults_suite",
    "execution_from_args",
    "experiments_from_args",
    "identity_differences",
    "in_run_order",
    "matrix_tables",
    "print_confusions",
    "run_bench_command",
    "run_suite",
    "with_baselines",
]


def identity_differences(old: dict[str, Any] | None, new: dict[str, Any], *, corpora: bool) -> list[str]:
    """The keys in which two run identities differ, as ``key: old -> new`` lines (corpus
    fingerprints only with ``corpora``: they are known once the corpora are loaded)."""
    if not old:
        return ["the file records no run identity (written by an older emokit)"]
    # raw_options: the typed, per-method options say it better
    left_out = {"raw_options"} | (set() if corpora else {"corpora"})
    kept_old = {k: v for k, v in old.items() if k not in left_out}
    kept_new = {k: v for k, v in new.items() if k not in left_out}
    return [str(d) for d in dict_differences("identity", kept_old, kept_new)]


def _refuse_if_different(
    path: Path, previous: dict[str, Any], identity: dict[str, Any], *, corpora: bool
) -> None:
    differences = identity_differences(previous.get("identity"), identity, corpora=corpora)
    if differences:
        shown = "; ".join(differences[:8]) + (
            f" (and {len(differences) - 8} more)" if len(differences) > 8 else ""
        )
        raise ResultFileError(
            f"--resume {path}: this command is not the run recorded in the file; it differs in {shown}. "
            "Repeat the recorded command (the file's 'command') or start a new run without --resume"
        )


def run_bench_command(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """``emokit bench``: plan, check, run every cell (or the missing ones of ``--resume``), report.

    ``--config FILE`` and ``--rerun RESULT`` fill the flags the command line leaves out."""
    recorded = _apply_config_file(args, console)
    out = Path(args.out) if args.out else DEFAULT_OUT
    if args.plots and importlib.util.find_spec("matplotlib") is None:  # say so before the run, not after
        raise UsageError(f"--plots {args.plots}: drawing needs matplotlib: pip install 'emokit[plot]'")
    where = f"{args.config or args.rerun}: " if (args.config or args.rerun) else ""
    try:
        config = config_from_args(args, registry)
        execution = execution_from_args(args, registry, config.methods)
        runner = BenchRunner(registry, config, runtime=execution.runtime)
    except ValueError as exc:  # name the file a bad value came from
        raise UsageError(f"{where}{exc}") from None
    for warning in runner.option_warnings:
        console.print(f"[yellow]![/] {warning}", highlight=False)
    previous = None
    if args.resume:
        previous = load_results(args.resume)
        _refuse_if_different(args.resume, previous, runner.identity(), corpora=False)
    else:
        check_writable_folder(out)
    status, code = "complete", 0
    results: ResultFile | None = None
    with RichReporter(console, total_cells=0, verbose=not args.quiet) as reporter:
        runner.reporter = reporter
        try:
            total = runner.check_plan()  # loads the corpora; folds and budgets checked before features
            identity = runner.identity()
            if previous is not None:
                _refuse_if_different(args.resume, previous, identity, corpora=True)
                results = ResultFile.resume(args.resume, command=sys.argv)
            else:
                stem = f"bench-{'+'.join(config.methods)}"[:100]
                results = ResultFile.create(out, stem, config.to_dict(), command=sys.argv)
            results.data["identity"] = identity
            results.data["config"] = config.to_dict()
            results.data["run_config"] = run_config_of(config.to_dict(), identity)
            results.data["corpora"] = runner.corpus_summary()
            done = len(results.cells)
            reporter.planned(total, done)
            _print_plan(console, config, runner, results, total, done, execution)
            runner.run(results, jobs=execution.jobs, executor=execution.executor, address=execution.address)
        except KeyboardInterrupt:
            status, code = "interrupted", EXIT_INTERRUPTED
        except BaseException as exc:
            if results is not None:
                results.data["corpora"] = runner.corpus_summary()
                results.finish(
                    "failed", error=f"{type(exc).__name__}: {exc}", summary=_summary(results, config)
                )
            raise
    assert results is not None
    results.data["corpora"] = runner.corpus_summary()
    summary = _summary(results, config)
    results.finish(status, summary=summary)
    if summary:
        simulated = sorted(n for n, c in results.data["corpora"].items() if c.get("simulated"))
        title = f"emokit bench ({status})" + (
            f" on simulated corpora: {', '.join(simulated)}" if simulated else ""
        )
        console.print(summary_table(summary, title=title, show_val=args.show_val, reference=config.reference))
        for line in table_notes(summary, config):
            console.print(line, highlight=False)
    if getattr(args, "matrix", None) and summary:
        for table in matrix_tables(summary, split_list(args.matrix)):
            console.print(table)
    if args.confusion:
        print_confusions(console, results.cells)
    if recorded is not None and status == "complete":
        _print_reproduction(console, recorded, results, getattr(args, "overridden", []))
    if args.plots and results.cells:
        from emokit.results.plots import save_plots

        paths = save_plots(load_run(results.path), args.plots)
        console.print(f"plots: {len(paths)} files in {args.plots}", highlight=False, soft_wrap=True)
    failed_cells = results.failed_cells
    if failed_cells:
        _print_failures(console, failed_cells, results.path)
        if status == "complete":
            code = EXIT_CELLS_FAILED
    if status == "interrupted":
        console.print(
            f"[yellow]interrupted[/]: {len(results.cells)} finished cell(s) kept in {results.path}; "
            f"continue with `emokit bench ... --resume {results.path}`",
            soft_wrap=True,
        )
    else:
        console.print(f"results: {results.path}", soft_wrap=True)  # a path must stay copyable
    return code


def _apply_config_file(args: argparse.Namespace, console: Console) -> RunResults | None:
    """Fill the flags not given from ``--config FILE`` or ``--rerun RESULT``; the recorded run of
    ``--rerun`` (its versions are compared with this emokit's, and told)."""
    if args.config and args.rerun:
        raise UsageError("--config and --rerun both say what to run: give one")
    if args.rerun and args.resume:
        raise UsageError("--rerun starts a new run of a recorded one; --resume continues a file: give one")
    recorded = None
    if args.rerun:
        recorded = load_run(args.rerun)
        file_config = check_config(recorded.run_config, f"--rerun {args.rerun}")
    elif args.config:
        file_config = read_config_file(args.config)
    else:
        return None
    overridden = apply_config(args, file_config)
    args.overridden = overridden
    source = args.rerun or args.config
    if overridden:
        console.print(
            f"[yellow]![/] the command line overrides {', '.join(overridden)} of {source}",
            highlight=False,
            soft_wrap=True,
        )
    if recorded is not None:
        differences = version_differences(recorded.data)
        created = recorded.data.get("created", "?")
        console.print(
            f"re-running the run of {source} (created {created})"
            + (
                f"; this emokit differs from the recording in: {'; '.join(differences)}"
                if differences
                else "; same versions, git commit and kernel backend as recorded"
            ),
            highlight=False,
            soft_wrap=True,
        )
    return recorded


def version_differences(recorded: dict[str, Any]) -> list[str]:
    """How this emokit (package versions, git commit, kernel backend) differs from a recording."""
    lines = []
    old_versions, new_versions = recorded.get("versions") or {}, package_versions()
    for name in sorted(set(old_versions) | set(new_versions)):
        if old_versions.get(name) != new_versions.get(name):
            lines.append(f"{name} {old_versions.get(name, '-')} -> {new_versions.get(name, '-')}")
    old_commit, new_commit = recorded.get("git_commit"), git_commit()
    if old_commit != new_commit:
        lines.append(f"git commit {old_commit or '-'} -> {new_commit or '-'}")
    old_backend = (recorded.get("kernel_backend") or {}).get("backend")
    new_backend = kernel_backend().get("backend")
    if old_backend != new_backend:
        lines.append(f"kernel backend {old_backend or '-'} -> {new_backend or '-'}")
    return lines


def _print_reproduction(
    console: Console, recorded: RunResults, results: ResultFile, overridden: list[str]
) -> None:
    """Whether a re-run gave the recorded cells: same scores, cell by cell (``overridden``: the
    recorded keys the command line changed, so that differences are expected)."""
    before = {cell_key(c): c for c in recorded.ok_cells}
    same, differ, largest = 0, 0, 0.0
    for cell in results.cells:
        old = before.get(cell_key(cell))
        if old is None or cell.get("status", "ok") != "ok":
            continue
        if old["scores"] == cell["scores"]:
            same += 1
        else:
            differ += 1
            largest = max(largest, abs(old["scores"]["uar"] - cell["scores"]["uar"]))
    matched = same + differ
    what = f"against the recording (changed here: {', '.join(overridden)})" if overridden else "reproduction"
    text = f"{what}: {same} of {matched} recorded cells gave the recorded scores exactly"
    if differ:
        text += f"; {differ} differ (largest UAR difference {100 * largest:.2f} points)"
    missing = len(before) - matched
    if missing:
        text += f"; {missing} recorded cells are not in this run"
    console.print(text, highlight=False, soft_wrap=True)


def _summary(results: ResultFile, config: BenchConfig) -> list[dict[str, Any]]:
    return summarise_run(
        in_run_order(results.cells, config), load_predictions(results.path), reference=config.reference
    )


def in_run_order(cells: list[dict[str, Any]], config: BenchConfig) -> list[dict[str, Any]]:
    """``cells`` in the order of the config (experiment, budget, method, fold, repeat), whatever
    order they finished in (workers finish in any order), so the summary's rows are too."""
    experiments = [e.to_dict() for e in config.experiments]
    return order_cells(cells, experiments, [b.label for b in config.budgets], config.methods)


def _print_failures(console: Console, cells: list[dict[str, Any]], path: Path) -> None:
    """The failed cells, one line each (the tracebacks are in the result file)."""
    console.print(f"[red]{len(cells)} cell(s) failed[/] (tracebacks in the result file):", highlight=False)
    for cell in cells[:20]:
        error = cell.get("error") or {}
        console.print(
            f"  {cell['method']} in {error.get('cell', cell.get('experiment'))}: "
            f"{error.get('type')}: {error.get('message')}",
            highlight=False,
            soft_wrap=True,
        )
    if len(cells) > 20:
        console.print(f"  ... and {len(cells) - 20} more", highlight=False)
    console.print(f"run them again with `emokit bench ... --resume {path}`", highlight=False, soft_wrap=True)


def _print_plan(
    console: Console,
    config: BenchConfig,
    runner: BenchRunner,
    results: ResultFile,
    total: int,
    done: int,
    execution: Execution,
) -> None:
    kernels = results.data["kernel_backend"]
    targets = dict.fromkeys(e.target for e in config.experiments)
    folds = ", ".join(f"{t} {config.folds.resolve(len(runner.corpus(t).speakers)).label}" for t in targets)
    console.print(
        f"emokit bench: {len(config.methods)} method(s) x {len(config.experiments)} experiment(s) x "
        f"budgets {', '.join(b.label for b in config.budgets)} x folds ({folds}) x "
        f"{len(config.seeds)} repeat(s): {total} cells with the majority-class row"
        + (f", {done} finished already" if done else "")
        + f"; norm {config.norm}; kernels {kernels.get('backend')}; on {execution.describe()}; "
        f"results -> {results.path}",
        highlight=False,
        soft_wrap=True,
    )


def print_confusions(console: Console, cells: list[dict[str, Any]]) -> None:
    """Confusion matrices summed over seeds, one per (method, experiment)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["method"], cell["experiment"], cell["modality"]), []).append(cell)
    for (method, experiment, modality), group in groups.items():
        matrix = np.sum([np.asarray(c["scores"]["confusion"]) for c in group], axis=0).tolist()
        console.print(confusion_table(group[0]["classes"], matrix, f"{method}: {experiment} ({modality})"))


def matrix_tables(summary: list[dict[str, Any]], corpora: list[str]) -> list[Table]:
    """One train x test UAR table per method (rows: test corpus, columns: training corpus), at the
    run's largest target budget."""
    tables = []
    budgets = {row["budget"]["label"]: row["budget"] for row in summary}
    largest = max(
        budgets.values(), key=lambda b: (b.get("shots") is None, b.get("fraction") or 0, b.get("shots") or 0)
    )
    rows = [row for row in summary if row["budget"]["label"] == largest["label"]]
    for method in dict.fromkeys(row["method"] for row in rows):
        cells = {(row["sources"][0], row["target"]): row for row in rows if row["method"] == method}
        title = f"{method}: UAR % (rows: test corpus, columns: trained on)"
        table = Table(title=title + (f", budget {largest['label']}" if len(budgets) > 1 else ""))
        table.add_column("test \\ train", style="bold")
        for source in corpora:
            table.add_column(source, justify="right")
        for target in corpora:
            values = []
            for source in corpora:
                row = cells.get((source, target))
                values.append(
                    f"{100 * row['uar']['mean']:.1f} ± {100 * row['uar']['std']:.1f}" if row else "-"
                )
            table.add_row(target, *values)
        tables.append(table)
    return tables
