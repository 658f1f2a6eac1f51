"""``emokit bench``: turn command-line arguments into a :class:`BenchConfig`, run it, report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from emokit.bench.executors import check_picklable, check_ray_address
from emokit.bench.machine import DEFAULT_THREADS, CellRuntime, default_jobs, parse_positive, resolve_device
from emokit.bench.normalisation import check_scheme
from emokit.bench.protocol import DEFAULT_FEATURES, BenchConfig, BenchRunner, Experiment
from emokit.bench.report import RichReporter, confusion_table, summary_table, table_notes
from emokit.bench.results import (
    ResultFile,
    ResultFileError,
    check_writable_folder,
    load_predictions,
    load_results,
)
from emokit.bench.summary import summarise_run
from emokit.data.folds import FoldScheme, parse_budgets
from emokit.paths import cache_dir as default_cache_dir
from emokit.paths import data_root_from_env
from emokit.registry import Registry

#: the default suite (no --target): a scarce target budget beside the full one, 4 speaker folds
#: (leave-one-speaker-out on SAVEE's 4 speakers) and one repeat, so that the README's main command
#: stays within its stated time on a 2-core CPU; see the README
DEFAULT_SUITE_BUDGETS = "0.1,1"
DEFAULT_SUITE_FOLDS = "4"
DEFAULT_SUITE_REPEATS = "1"
#: repeats of an experiment named with --target (or --matrix)
DEFAULT_REPEATS = "2"
#: the default of --jobs when set (e.g. 1 on a shared machine)
JOBS_ENV = "EMOKIT_JOBS"


def _cli():
    # imported lazily: emokit.cli imports this module lazily too
    from emokit import cli

    return cli


def default_methods(registry: Registry) -> list[str]:
    """PathNet (when a plugin provides it) followed by the baselines that are registered."""
    cli = _cli()
    names = [m for m in cli.BASELINE_METHODS if m in registry.providers["method"]]
    if "pathnet" in registry.providers["method"]:
        names.insert(0, "pathnet")
    return names


def with_baselines(named: list[str], registry: Registry) -> list[str]:
    """``named`` followed by the baselines each named method asks to be compared with
    (:attr:`Method.compare_with`) that are registered and not named already."""
    methods = list(dict.fromkeys(named))
    for name in named:
        for other in registry.method(name).compare_with:
            if other not in methods and other in registry.providers["method"]:
                methods.append(other)
    return methods


def experiments_from_args(args: argparse.Namespace) -> list[Experiment]:
    """The experiments that ``--source``, ``--target``, ``--modality`` and ``--features`` ask for."""
    cli = _cli()
    sources = cli._split_list(args.source)
    if getattr(args, "matrix", None):
        if sources or args.target:
            raise cli.UsageError("--matrix replaces --source and --target; give one or the other")
        corpora = cli._split_list(args.matrix)
        if len(corpora) < 2 or len(set(corpora)) != len(corpora):
            raise cli.UsageError(f"--matrix {args.matrix!r}: expected two or more distinct corpora")
        modality = args.modality or "audio"
        features = args.features or DEFAULT_FEATURES[modality]
        return [Experiment((src,), tgt, modality, features) for src in corpora for tgt in corpora]
    if args.target is None:
        if sources:
            raise cli.UsageError("--source needs --target (the corpus to transfer into)")
        chosen = [e for e in cli.DEFAULT_EXPERIMENTS if args.modality in (None, e[2])]
        return [
            Experiment(src, tgt, modality, args.features or DEFAULT_FEATURES[modality])
            for src, tgt, modality in chosen
        ]
    if "," in args.target:
        raise cli.UsageError(f"--target {args.target!r}: expected one corpus")
    modality = args.modality or "audio"
    if len(set(sources)) != len(sources):
        raise cli.UsageError(f"--source {args.source!r}: a corpus is named twice")
    return [
        Experiment(
            tuple(sources) or (args.target,),
            args.target,
            modality,
            args.features or DEFAULT_FEATURES[modality],
        )
    ]


def config_from_args(args: argparse.Namespace, registry: Registry) -> BenchConfig:
    """The :class:`BenchConfig` that ``emokit bench``'s arguments ask for; usage errors name the flag."""
    cli = _cli()
    named = [m for value in (args.method or []) for m in cli._split_list(value)]
    methods = with_baselines(named, registry) if named and not args.no_baselines else named
    methods = methods or default_methods(registry)
    if not 0.0 < args.sim_scale <= 1.0:
        raise cli.UsageError(f"--sim-scale {args.sim_scale}: expected a number in (0, 1]")
    options = cli.parse_options(args.option)
    pretrained = getattr(args, "pretrained", None)
    if pretrained is not None:
        if not pretrained.is_file():
            raise cli.UsageError(f"--pretrained {pretrained}: no such file (expected a ResNet-34 state dict)")
        options["pretrained"] = str(pretrained.expanduser().resolve())
    data_root = args.data_root or data_root_from_env()
    if data_root is not None and not data_root.is_dir():
        raise cli.UsageError(f"--data-root {data_root}: no such folder")
    experiments = experiments_from_args(args)
    default_suite = args.target is None and not getattr(args, "matrix", None)
    try:
        folds = FoldScheme.parse(args.folds or (DEFAULT_SUITE_FOLDS if default_suite else "auto"))
        fractions, shots = args.target_budget, args.target_shots
        if default_suite and fractions is None and shots is None:
            fractions = DEFAULT_SUITE_BUDGETS  # the default suite: a scarce budget beside the full one
        budgets = parse_budgets(fractions, shots)
        option_norm = options.pop("norm", None)
        norm = check_scheme(args.norm or (str(option_norm) if option_norm is not None else "corpus"))
    except ValueError as exc:
        raise cli.UsageError(str(exc)) from None
    reference = args.reference
    if reference is None:
        reference = "target-only" if "target-only" in methods else None
    elif reference.lower() in ("none", "off"):
        reference = None
    elif reference not in methods:
        raise cli.UsageError(
            f"--reference {reference!r}: not a method of this run (methods: {', '.join(methods)}; "
            "none turns the comparison off)"
        )
    return BenchConfig(
        methods=methods,
        experiments=experiments,
        seeds=cli.parse_seeds(args.seeds or (DEFAULT_SUITE_REPEATS if default_suite else DEFAULT_REPEATS)),
        data_root=data_root,
        cache_dir=args.cache_dir or default_cache_dir(),
        sim_scale=args.sim_scale,
        sim_seed=args.sim_seed,
        options=options,
        folds=folds,
        fold_seed=args.fold_seed,
        budgets=budgets,
        norm=norm,
        reference=reference,
    )


class Execution:
    """Where and how a run's cells execute (none of it changes a cell's numbers except the runtime,
    which the result file records per cell and ``--resume`` checks)."""

    def __init__(self, runtime: CellRuntime, jobs: int, executor: str, address: str | None) -> None:
        self.runtime = runtime
        self.jobs = jobs
        self.executor = executor
        self.address = address

    def describe(self) -> str:
        where = "this process" if self.jobs == 1 and self.executor == "local" else f"{self.jobs} worker(s)"
        if self.executor == "ray":
            where = f"Ray ({self.address or 'local instance'})"
        return f"{where}, device {self.runtime.device}, {self.runtime.threads} torch thread(s) per cell"


def execution_from_args(args: argparse.Namespace, registry: Registry, methods: list[str]) -> Execution:
    """``--jobs``, ``--threads``, ``--device``, ``--executor`` and ``--address``, checked before any
    work: a bad value, a device this machine lacks, ray missing or an address that does not answer,
    and a method that cannot travel to worker processes are each one clear error."""
    cli = _cli()
    try:
        threads = parse_positive(getattr(args, "threads", None), "--threads") or DEFAULT_THREADS
        device = resolve_device(getattr(args, "device", None))
        jobs = parse_positive(getattr(args, "jobs", None), "--jobs")
        if jobs is None and os.environ.get(JOBS_ENV, "").strip():
            jobs = parse_positive(os.environ[JOBS_ENV], JOBS_ENV)
    except ValueError as exc:
        raise cli.UsageError(str(exc)) from None
    executor = getattr(args, "executor", None) or "local"
    address = getattr(args, "address", None)
    if address is not None and executor != "ray":
        raise cli.UsageError("--address is the Ray cluster of --executor ray; give --executor ray too")
    if executor == "ray":
        check_ray_address(address)
    jobs = jobs or default_jobs(threads, device)
    if jobs > 1 and executor == "local":  # (Ray pickles with cloudpickle, which takes more)
        check_picklable({name: registry.method(name) for name in methods}, jobs)
    return Execution(CellRuntime(device=device, threads=threads), jobs, executor, address)


def identity_differences(old: dict[str, Any] | None, new: dict[str, Any], *, corpora: bool) -> list[str]:
    """The keys in which two run identities differ, as ``key: old -> new`` lines (corpus
    fingerprints only with ``corpora``: they are known once the corpora are loaded)."""
    if not old:
        return ["the file records no run identity (written by an older emokit)"]
    lines: list[str] = []

    def walk(prefix: str, a: Any, b: Any) -> None:
        if a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                walk(f"{prefix}.{key}" if prefix else str(key), a.get(key), b.get(key))
        else:
            lines.append(f"{prefix}: {a!r} -> {b!r}")

    for key in sorted(set(old) | set(new)):
        if key == "corpora" and not corpora:
            continue
        if key == "raw_options":  # the typed, per-method options say it better
            continue
        walk(key, old.get(key), new.get(key))
    return lines


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
    """``emokit bench``: plan, check, run every cell (or the missing ones of ``--resume``), report."""
    cli = _cli()
    config = config_from_args(args, registry)
    execution = execution_from_args(args, registry, config.methods)
    runner = BenchRunner(registry, config, runtime=execution.runtime)
    for warning in runner.option_warnings:
        console.print(f"[yellow]![/] {warning}", highlight=False)
    previous = None
    if args.resume:
        previous = load_results(args.resume)
        _refuse_if_different(args.resume, previous, runner.identity(), corpora=False)
    else:
        check_writable_folder(args.out)
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
                results = ResultFile.create(args.out, stem, config.to_dict(), command=sys.argv)
            results.data["identity"] = identity
            results.data["config"] = config.to_dict()
            results.data["corpora"] = runner.corpus_summary()
            done = len(results.cells)
            reporter.planned(total, done)
            _print_plan(console, config, runner, results, total, done, execution)
            runner.run(results, jobs=execution.jobs, executor=execution.executor, address=execution.address)
        except KeyboardInterrupt:
            status, code = "interrupted", cli.EXIT_INTERRUPTED
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
        for table in matrix_tables(summary, cli._split_list(args.matrix)):
            console.print(table)
    if args.confusion:
        print_confusions(console, results.cells)
    failed_cells = results.failed_cells
    if failed_cells:
        _print_failures(console, failed_cells, results.path)
        if status == "complete":
            code = cli.EXIT_CELLS_FAILED
    if status == "interrupted":
        console.print(
            f"[yellow]interrupted[/]: {len(results.cells)} finished cell(s) kept in {results.path}; "
            f"continue with `emokit bench ... --resume {results.path}`",
            soft_wrap=True,
        )
    else:
        console.print(f"results: {results.path}", soft_wrap=True)  # a path must stay copyable
    return code


def _summary(results: ResultFile, config: BenchConfig) -> list[dict[str, Any]]:
    return summarise_run(
        in_run_order(results.cells, config), load_predictions(results.path), reference=config.reference
    )


def in_run_order(cells: list[dict[str, Any]], config: BenchConfig) -> list[dict[str, Any]]:
    """``cells`` in the order of the config (experiment, budget, method, fold, repeat), whatever
    order they finished in (workers finish in any order), so the summary's rows are too."""
    experiments = {e.label: i for i, e in enumerate(config.experiments)}
    budgets = {b.label: i for i, b in enumerate(config.budgets)}
    methods = {m: i for i, m in enumerate(config.methods)}

    def rank(cell: dict[str, Any]) -> tuple:
        budget = (cell.get("budget") or {}).get("label")
        return (
            experiments.get(cell.get("experiment"), len(experiments)),
            budgets.get(budget, len(budgets)),
            methods.get(cell["method"], len(methods)),
            cell.get("fold") or 0,
            cell.get("repeat") or 0,
        )

    return sorted(cells, key=rank)


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
