"""``emokit data prepare`` and ``emokit data info``: make a corpus available, and show what it holds."""

from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path

from rich.console import Console
from rich.table import Table

from emokit.cli.arguments import UsageError, parse_options
from emokit.data.provider import LoadContext
from emokit.folders import cache_dir as default_cache_dir
from emokit.folders import data_root_from_env
from emokit.options import check_option_keys
from emokit.registry import Registry


def _load_context(args: argparse.Namespace, registry: Registry, progress=None) -> LoadContext:
    options = parse_options(args.data_option or [], flag="--data-option")
    for flag, key in (("scale", "scale"), ("seed", "seed")):  # shorthands of --data-option scale=/seed=
        value = getattr(args, flag, None)
        if value is not None:
            options[key] = value
    provider = registry.dataset(args.name)
    check_option_keys([provider], options, flag="--data-option", kind="dataset")
    return LoadContext(
        data_root=getattr(args, "data_root", None) or data_root_from_env(),
        cache_dir=args.cache_dir or default_cache_dir(),
        options=options,
        progress=progress,
        providers=dict(registry.providers["dataset"]),
        regenerate=bool(getattr(args, "force", False)),
    )


def cmd_data(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    from emokit.bench.report import RichReporter

    if args.data_command is None:
        raise UsageError("emokit data: expected an action, 'prepare' or 'info'")
    provider = registry.dataset(args.name)
    if args.data_command == "prepare":
        import warnings

        with RichReporter(console, total_cells=0) as reporter, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reporter.progress_bar.remove_task(reporter._cells)
            started = _dt.datetime.now()
            context = _load_context(args, registry, reporter.progress)
            folder = provider.prepare(context)
        repaired: list[tuple[str, str]] = []
        for w in caught:  # a simulated corpus's damaged files, found and regenerated: say which
            regenerated = getattr(w.message, "regenerated", None)
            if regenerated is None:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                continue
            repaired.extend(regenerated)
            console.print(f"[yellow]![/] {w.message}", highlight=False)
        if folder is None:
            console.print(f"{args.name}: nothing to prepare (real corpora are read from --data-root)")
            return 0
        size = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
        seconds = (_dt.datetime.now() - started).total_seconds()
        state = f"{len(repaired)} damaged file(s) regenerated, ready" if repaired else "ready"
        console.print(f"{args.name}: {state} in {folder} ({size / 1e6:.1f} MB, {seconds:.1f} s)")
        return 0
    with RichReporter(console, total_cells=0) as reporter:
        reporter.progress_bar.remove_task(reporter._cells)
        corpus = provider.load(_load_context(args, registry, reporter.progress))
    table = Table(title=f"{corpus.name}: {len(corpus)} utterances from {corpus.root}")
    table.add_column("speaker")
    for label in corpus.labels:
        table.add_column(label[:5], justify="right")
    for speaker in corpus.speakers:
        counts = [
            sum(u.speaker == speaker and u.label == label for u in corpus.utterances)
            for label in corpus.labels
        ]
        table.add_row(speaker, *(str(c) for c in counts))
    console.print(table)
    console.print(f"modalities: {', '.join(corpus.modalities)}; language: {corpus.language}")
    if corpus.problems:
        console.print(f"[yellow]{len(corpus.problems)} problem(s):[/]")
        for problem in corpus.problems:
            console.print(f"  {problem}", highlight=False)
    return 0
