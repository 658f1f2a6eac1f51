"""``emokit bench``: turn command-line arguments into a :class:`BenchConfig`, run it, report."""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from emokit.bench.protocol import DEFAULT_FEATURES, BenchConfig, BenchRunner, Experiment
from emokit.bench.report import RichReporter, confusion_table, summary_table
from emokit.bench.results import ResultFile, load_results
from emokit.paths import cache_dir as default_cache_dir
from emokit.paths import data_root_from_env
from emokit.registry import Registry


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
    return BenchConfig(
        methods=methods,
        experiments=experiments_from_args(args),
        seeds=cli.parse_seeds(args.seeds),
        data_root=data_root,
        cache_dir=args.cache_dir or default_cache_dir(),
        sim_scale=args.sim_scale,
        sim_seed=args.sim_seed,
        options=options,
    )


def _cell_key(cell: dict[str, Any]) -> tuple:
    return (
        cell["method"],
        tuple(cell["sources"]),
        cell["target"],
        cell["modality"],
        cell["features"],
        cell["seed"],
    )


def run_bench_command(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    config = config_from_args(args, registry)
    runner = BenchRunner(registry, config)
    total = len(config.experiments) * len(config.seeds) * len(config.methods)
    done: set[tuple] = set()
    if args.resume:
        previous = load_results(args.resume)
        results = ResultFile(args.resume, config.to_dict(), command=sys.argv)
        results.data["cells"] = list(previous["cells"])
        results.data["resumed_from"] = previous.get("created")
        done = {_cell_key(c) for c in previous["cells"]}
        console.print(f"resuming {args.resume}: {len(done)} finished cell(s) kept")
    else:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = Path(args.out) / f"bench-{stamp}-{'+'.join(config.methods)}.json"
        results = ResultFile(path, config.to_dict(), command=sys.argv)
    kernels = results.data["kernel_backend"]
    console.print(
        f"emokit bench: {len(config.methods)} method(s) x {len(config.experiments)} experiment(s) x "
        f"{len(config.seeds)} seed(s) = {total} cells; kernels: {kernels.get('backend')}; "
        f"results -> {results.path}",
        highlight=False,
        soft_wrap=True,
    )
    status, code = "complete", 0
    with RichReporter(console, total_cells=total, verbose=not args.quiet) as reporter:
        runner.reporter = reporter
        if done:
            reporter.progress_bar.update(reporter._cells, completed=len(done))
        try:
            runner.run(results, should_skip=lambda key: _cell_key(key) in done)
        except KeyboardInterrupt:
            status, code = "interrupted", _cli().EXIT_INTERRUPTED
        except Exception as exc:
            results.data["corpora"] = corpus_summary(runner)
            results.finish("failed", error=f"{type(exc).__name__}: {exc}")
            raise
    results.data["corpora"] = corpus_summary(runner)
    results.finish(status)
    if results.data["summary"]:
        console.print(summary_table(results.data["summary"], title=f"emokit bench ({status})"))
        console.print("UAR = unweighted average recall (balanced accuracy), mean ± std over seeds.")
    if getattr(args, "matrix", None) and results.data["summary"]:
        for table in matrix_tables(results.data["summary"], _cli()._split_list(args.matrix)):
            console.print(table)
    if args.confusion:
        print_confusions(console, results.cells)
    if status == "interrupted":
        console.print(
            f"[yellow]interrupted[/]: {len(results.cells)} finished cell(s) kept in {results.path}; "
            f"continue with `emokit bench ... --resume {results.path}`"
        )
    else:
        console.print(f"results: {results.path}", soft_wrap=True)  # a path must stay copyable
    return code


def corpus_summary(runner: BenchRunner) -> dict[str, Any]:
    """Per corpus: size, speakers, classes and every problem file, for the result file."""
    out = {}
    for name, corpus in runner._corpora.items():
        out[name] = {
            "root": str(corpus.root),
            "utterances": len(corpus),
            "speakers": corpus.speakers,
            "label_counts": corpus.label_counts(),
            "fingerprint": corpus.fingerprint,
            "problems": [
                {"path": str(p.path), "reason": p.reason, "skipped": p.skipped}
                for p in runner.problems.get(name, [])
            ],
        }
    return out


def print_confusions(console: Console, cells: list[dict[str, Any]]) -> None:
    """Confusion matrices summed over seeds, one per (method, experiment)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["method"], cell["experiment"], cell["modality"]), []).append(cell)
    for (method, experiment, modality), group in groups.items():
        matrix = np.sum([np.asarray(c["scores"]["confusion"]) for c in group], axis=0).tolist()
        console.print(confusion_table(group[0]["classes"], matrix, f"{method}: {experiment} ({modality})"))


def matrix_tables(summary: list[dict[str, Any]], corpora: list[str]) -> list[Table]:
    """One train x test UAR table per method (rows: test corpus, columns: training corpus)."""
    tables = []
    for method in dict.fromkeys(row["method"] for row in summary):
        cells = {row["experiment"]: row for row in summary if row["method"] == method}
        table = Table(title=f"{method}: UAR % (rows: test corpus, columns: trained on)")
        table.add_column("test \\ train", style="bold")
        for source in corpora:
            table.add_column(source, justify="right")
        for target in corpora:
            values = []
            for source in corpora:
                row = cells.get(f"{source} -> {target}")
                values.append(
                    f"{100 * row['uar']['mean']:.1f} ± {100 * row['uar']['std']:.1f}" if row else "-"
                )
            table.add_row(target, *values)
        tables.append(table)
    return tables
