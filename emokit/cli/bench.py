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
from emokit.bench.protocol import BenchConfig, BenchRunner, Experiment
from emokit.bench.report import RichReporter, confusion_table, summary_table, table_notes
from emokit.bench.results import (
    ResultFile,
    ResultFileError,
    check_writable_folder,
    load_predictions,
    load_results,
)
from emokit.bench.summary import summarise_run
from emokit.cli.arguments import (
    EXIT_CELLS_FAILED,
    EXIT_INTERRUPTED,
    UsageError,
    parse_options,
    parse_seeds,
    split_list,
)
from emokit.data.folds import FoldScheme, parse_budgets
from emokit.folders import cache_dir as default_cache_dir
from emokit.folders import data_root_from_env
from emokit.methods.normalisation import check_scheme
from emokit.options import OptionError
from emokit.registry import Registry
from emokit.suites import DEFAULT_SUITE, Suite

#: repeats of an experiment named with --target (or --matrix), when its suite sets none
DEFAULT_REPEATS = "2"
#: the default of --jobs when set (e.g. 1 on a shared machine)
JOBS_ENV = "EMOKIT_JOBS"


def defaults_suite(registry: Registry) -> Suite | None:
    """The suite whose methods, features and reference are every run's defaults, if a plugin gives one."""
    return registry.providers["suite"].get(DEFAULT_SUITE)


def run_suite(args: argparse.Namespace, registry: Registry) -> Suite | None:
    """The suite this command runs: ``--suite NAME``, or the default one when no experiment is named;
    ``None`` when the command names its own experiment (``--target``, ``--matrix``)."""
    named = getattr(args, "suite", None)
    own = args.target is not None or getattr(args, "matrix", None)
    if named:
        if own or args.source:
            raise UsageError(
                f"--suite {named} runs its own experiments: give it without --source/--target/--matrix"
            )
        return registry.suite(named)
    if own:
        return None
    suite = defaults_suite(registry)
    if suite is None:
        known = ", ".join(registry.names("suite")) or "none is registered"
        raise UsageError(
            f"no experiment named and no {DEFAULT_SUITE!r} suite registered (suites: {known}): give "
            "--source and --target, --matrix, or --suite NAME"
        )
    return suite


def default_methods(registry: Registry, suite: Suite | None) -> list[str]:
    """The methods of ``suite`` (else of the default suite) that are registered."""
    suite = suite or defaults_suite(registry)
    names = [m for m in (suite.methods if suite else ()) if m in registry.providers["method"]]
    if not names:
        raise UsageError(
            "--method: no default methods (no suite names registered ones); name them, e.g. "
            f"--method {','.join(registry.names('method')[:2])}"
        )
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


def _features_for(modality: str, args: argparse.Namespace, registry: Registry, suite: Suite | None) -> str:
    if args.features:
        return args.features
    for candidate in (suite, defaults_suite(registry)):
        feature = candidate.feature_for(modality) if candidate else None
        if feature:
            return feature
    raise UsageError(
        f"--features: no suite gives a default feature for {modality!r}; name one "
        f"({', '.join(registry.names('feature'))})"
    )


def experiments_from_args(
    args: argparse.Namespace, registry: Registry, suite: Suite | None = None
) -> list[Experiment]:
    """The experiments that ``--source``, ``--target``, ``--matrix``, ``--suite``, ``--modality`` and
    ``--features`` ask for."""
    sources = split_list(args.source)
    if getattr(args, "matrix", None):
        if sources or args.target:
            raise UsageError("--matrix replaces --source and --target; give one or the other")
        corpora = split_list(args.matrix)
        if len(corpora) < 2 or len(set(corpora)) != len(corpora):
            raise UsageError(f"--matrix {args.matrix!r}: expected two or more distinct corpora")
        modality = args.modality or "audio"
        features = _features_for(modality, args, registry, None)
        return [Experiment((src,), tgt, modality, features) for src in corpora for tgt in corpora]
    if args.target is None:
        if sources:
            raise UsageError("--source needs --target (the corpus to transfer into)")
        suite = suite or run_suite(args, registry)
        assert suite is not None
        chosen = [e for e in suite.experiments if args.modality in (None, e.modality)]
        if not chosen:
            raise UsageError(f"--modality {args.modality}: suite {suite.name!r} has no such experiment")
        return [
            Experiment(
                e.sources,
                e.target,
                e.modality,
                args.features or e.features or _features_for(e.modality, args, registry, suite),
            )
            for e in chosen
        ]
    if "," in args.target:
        raise UsageError(f"--target {args.target!r}: expected one corpus")
    modality = args.modality or "audio"
    if len(set(sources)) != len(sources):
        raise UsageError(f"--source {args.source!r}: a corpus is named twice")
    return [
        Experiment(
            tuple(sources) or (args.target,),
            args.target,
            modality,
            _features_for(modality, args, registry, None),
        )
    ]


def data_options_from_args(
    args: argparse.Namespace, registry: Registry, experiments: list[Experiment]
) -> dict[str, Any]:
    """``--data-option KEY=VALUE`` pairs, plus ``--sim-scale S`` and ``--sim-seed K``: the shorthands of
    ``--data-option scale=S`` / ``seed=K`` that they have always been, for the datasets of the run
    that take those options (ignored, as they always were, by a run whose datasets take none)."""
    options = parse_options(getattr(args, "data_option", None) or [], flag="--data-option")
    names = dict.fromkeys(n for e in experiments for n in (*e.sources, e.target))
    taken = {o.name: o for n in names for o in registry.dataset(n).options}
    for flag, key in (("sim_scale", "scale"), ("sim_seed", "seed")):
        value = getattr(args, flag, None)
        if value is not None and key in taken:
            try:
                taken[key].parse(value, key)
            except OptionError:
                shown = "--" + flag.replace("_", "-")
                raise UsageError(f"{shown} {value}: expected {taken[key].describe_expected()}") from None
            options.setdefault(key, value)
    return options


def config_from_args(args: argparse.Namespace, registry: Registry) -> BenchConfig:
    """The :class:`BenchConfig` that ``emokit bench``'s arguments ask for; usage errors name the flag."""
    suite = run_suite(args, registry)
    named = [m for value in (args.method or []) for m in split_list(value)]
    methods = with_baselines(named, registry) if named and not args.no_baselines else named
    methods = methods or default_methods(registry, suite)
    options = parse_options(args.option)
    pretrained = getattr(args, "pretrained", None)
    if pretrained is not None:
        if not pretrained.is_file():
            raise UsageError(f"--pretrained {pretrained}: no such file (expected a model state dict)")
        options["pretrained"] = str(pretrained.expanduser().resolve())
    data_root = args.data_root or data_root_from_env()
    if data_root is not None and not data_root.is_dir():
        raise UsageError(f"--data-root {data_root}: no such folder")
    experiments = experiments_from_args(args, registry, suite)
    try:
        folds = FoldScheme.parse(args.folds or (suite.folds if suite and suite.folds else "auto"))
        fractions, shots = args.target_budget, args.target_shots
        if suite is not None and suite.budgets and fractions is None and shots is None:
            fractions = suite.budgets
        budgets = parse_budgets(fractions, shots)
        option_norm = options.pop("norm", None)
        norm = check_scheme(args.norm or (str(option_norm) if option_norm is not None else "corpus"))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    reference = args.reference
    if reference is None:
        preferred = (suite or defaults_suite(registry) or Suite("", "", ())).reference
        reference = preferred if preferred in methods else None
    elif reference.lower() in ("none", "off"):
        reference = None
    elif reference not in methods:
        raise UsageError(
            f"--reference {reference!r}: not a method of this run (methods: {', '.join(methods)}; "
            "none turns the comparison off)"
        )
    repeats = str(suite.repeats) if suite is not None and suite.repeats else DEFAULT_REPEATS
    return BenchConfig(
        methods=methods,
        experiments=experiments,
        seeds=parse_seeds(args.seeds or repeats),
        data_root=data_root,
        cache_dir=args.cache_dir or default_cache_dir(),
        data_options=data_options_from_args(args, registry, experiments),
        options=options,
        folds=folds,
        fold_seed=args.fold_seed,
        budgets=budgets,
        norm=norm,
        reference=reference,
        suite=suite.name if suite is not None else None,
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
    try:
        threads = parse_positive(getattr(args, "threads", None), "--threads") or DEFAULT_THREADS
        device = resolve_device(getattr(args, "device", None))
        jobs = parse_positive(getattr(args, "jobs", None), "--jobs")
        if jobs is None and os.environ.get(JOBS_ENV, "").strip():
            jobs = parse_positive(os.environ[JOBS_ENV], JOBS_ENV)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    executor = getattr(args, "executor", None) or "local"
    address = getattr(args, "address", None)
    if address is not None and executor != "ray":
        raise UsageError("--address is the Ray cluster of --executor ray; give --executor ray too")
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
