"""``emokit data prepare | info | add | remove | list``: make a corpus available, show what it holds,
and register corpora described by a manifest and a label-map file (docs/manifests.md)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from emokit.cli.arguments import UsageError, parse_options
from emokit.data.corpus import Corpus
from emokit.data.labels import LabelMap, read_label_map, relabel
from emokit.data.provider import DatasetProvider, LoadContext
from emokit.folders import CORPUS_ENTRY_KEYS, corpora_config_file, data_root_from_env, read_corpora_config
from emokit.folders import cache_dir as default_cache_dir
from emokit.options import check_option_keys
from emokit.registry import Registry, check_name
from emokit.results.config import to_toml

#: the first lines of corpora.toml
CONFIG_HEADER = [
    "emokit's manifest corpora: written by `emokit data add` and `emokit data remove` (docs/manifests.md)",
]


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
        raise UsageError("emokit data: expected an action: prepare, info, add, remove or list")
    if args.data_command in MANIFEST_COMMANDS:
        return MANIFEST_COMMANDS[args.data_command](args, registry, console)
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
    label_map = provider.label_map
    if getattr(args, "label_map", None) is not None:  # the override emokit bench --label-map applies
        label_map = read_label_map(args.label_map, corpus=args.name)
        corpus = relabel(corpus, label_map)
    show_corpus(console, corpus, label_map)
    return 0


def show_corpus(console: Console, corpus: Corpus, label_map: LabelMap | None) -> None:
    """What ``emokit data info`` prints: utterances per speaker and class, the label map, the problems."""
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
    console.print(
        f"{len(corpus)} utterances, {len(corpus.speakers)} speakers, classes {', '.join(corpus.labels)}; "
        f"modalities: {', '.join(corpus.modalities)}; language: {corpus.language or '?'}",
        highlight=False,
    )
    if label_map is None:
        console.print("label map: none (the dataset harmonises its labels its own way)")
    else:
        source = label_map.source or "the dataset's own (built in)"
        codes = ", ".join(f"{code} -> {label}" for code, label in label_map.codes.items())
        console.print(f"label map ({escape(source)}): {escape(codes)}", highlight=False, soft_wrap=True)
    if corpus.problems:
        console.print(f"[yellow]{len(corpus.problems)} problem(s):[/]")
        for problem in corpus.problems:
            console.print(f"  {escape(str(problem))}", highlight=False, soft_wrap=True)


# -- manifest corpora: add, remove, list --------------------------------------------------------
def cmd_data_add(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """Validate a manifest corpus by loading it once, show it, and record it in ``corpora.toml``."""
    name = args.name
    why = check_name("dataset", name)
    if why is not None:
        raise UsageError(f"emokit data add: {why}")
    config = corpora_config_file()
    entries = read_corpora_config(config)
    _check_name_free(name, entries, registry, config, force=args.force)
    entry = _entry(args)
    with _only_entry(name, entry) as trial:  # load it the way every later command will
        provider = trial.dataset(name)
        corpus = provider.load(
            LoadContext(
                cache_dir=args.cache_dir or default_cache_dir(),
                providers=dict(trial.providers["dataset"]),
            )
        )
    show_corpus(console, corpus, provider.label_map)
    replaced = name in entries
    _write_config(config, {**entries, name: entry})
    console.print(
        f"{'replaced' if replaced else 'added'} {name} in {config}: use it as "
        f"`emokit bench --source {name} ...` or `--target {name}`",
        highlight=False,
        soft_wrap=True,
    )
    return 0


def cmd_data_remove(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """Unregister a manifest corpus (``corpora.toml`` only: its files are left alone)."""
    config = corpora_config_file()
    entries = read_corpora_config(config)
    if args.name not in entries:
        added = ", ".join(entries) or "none"
        raise UsageError(
            f"emokit data remove {args.name}: not a manifest corpus added with `emokit data add` "
            f"(those in {config}: {added})"
        )
    _write_config(config, {k: v for k, v in entries.items() if k != args.name})
    console.print(
        f"removed {args.name} from {config} (its manifest, label map and media are left alone)",
        highlight=False,
        soft_wrap=True,
    )
    return 0


def cmd_data_list(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """The manifest corpora of ``corpora.toml``, with their files and whether those still exist."""
    config = corpora_config_file()
    entries = read_corpora_config(config)
    if not entries:
        console.print(
            f"no manifest corpora in {config} "
            "(add one: emokit data add NAME --manifest FILE --label-map FILE)",
            highlight=False,
            soft_wrap=True,
        )
        return 0
    console.print(f"manifest corpora in {config}:", highlight=False, soft_wrap=True)
    for name, entry in entries.items():  # one block each: paths are long and meant to be copied
        manifest = Path(entry["manifest"])
        missing = [
            key for key in ("manifest", "label-map", "root") if key in entry and not Path(entry[key]).exists()
        ]
        state = f"[red]missing: {', '.join(missing)}[/]" if missing else "[green]files ok[/]"
        language = f", language {entry['language']}" if entry.get("language") else ""
        console.print(f"[bold]{name}[/]{language}: {state}", highlight=False)
        lines = [
            f"manifest: {manifest}",
            f"label map: {entry['label-map']}",
            f"root: {entry.get('root') or f'{manifest.parent} (the manifest folder)'}",
        ]
        if entry.get("description"):
            lines.append(f"description: {entry['description']}")
        for line in lines:
            console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
    return 0


MANIFEST_COMMANDS = {"add": cmd_data_add, "remove": cmd_data_remove, "list": cmd_data_list}


def _check_name_free(
    name: str, entries: Mapping[str, Mapping[str, str]], registry: Registry, config: Path, *, force: bool
) -> None:
    """Refuse a name another dataset has, and a manifest corpus's name without ``--force``."""
    provider = registry.providers["dataset"].get(name)
    ours = name in entries and (provider is None or _is_entry(provider, entries[name]))
    if provider is not None and not ours:
        owner = registry.owner("dataset", name) or "?"
        raise UsageError(
            f"emokit data add {name}: the name is taken by dataset {name!r} of plugin {owner!r}; "
            "choose another"
        )
    if ours and not force:
        raise UsageError(
            f"emokit data add {name}: already added (manifest {entries[name]['manifest']}, in {config}); "
            "--force replaces it"
        )


def _is_entry(provider: DatasetProvider, entry: Mapping[str, str]) -> bool:
    # the core cannot import the plugins' ManifestProvider: it is the one reading this manifest
    manifest = getattr(provider, "manifest", None)
    return manifest is not None and Path(manifest) == Path(entry["manifest"])


def _entry(args: argparse.Namespace) -> dict[str, str]:
    """The ``[corpora.NAME]`` entry for ``emokit data add``'s arguments, paths made absolute."""
    entry = {
        "manifest": str(args.manifest.expanduser().resolve()),
        "label-map": str(args.label_map.expanduser().resolve()),
        "root": str(args.root.expanduser().resolve()) if args.root else None,
        "language": args.language or None,
        "description": args.description or None,
    }
    return {key: value for key, value in entry.items() if value is not None and key in CORPUS_ENTRY_KEYS}


@contextlib.contextmanager
def _only_entry(name: str, entry: Mapping[str, str]) -> Iterator[Registry]:
    """A registry whose manifest corpora are ``name`` alone (from a temporary config folder), so that a
    new corpus is checked through the same plugin hook that registers it afterwards."""
    previous = os.environ.get("EMOKIT_CONFIG")
    with tempfile.TemporaryDirectory(prefix="emokit-config-") as folder:
        _write_config(Path(folder) / corpora_config_file().name, {name: entry})
        os.environ["EMOKIT_CONFIG"] = folder
        try:
            trial = Registry.discover()
        finally:
            if previous is None:
                os.environ.pop("EMOKIT_CONFIG", None)
            else:
                os.environ["EMOKIT_CONFIG"] = previous
        if name not in trial.providers["dataset"]:
            problems = (
                "; ".join(p for info in trial.plugins for p in info.problems) or "no plugin registered it"
            )
            raise UsageError(f"emokit data add {name}: the corpus could not be registered ({problems})")
        yield trial


def _write_config(path: Path, entries: Mapping[str, Mapping[str, str]]) -> None:
    """Write ``corpora.toml`` whole, through a temporary file, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = to_toml({"corpora": {name: dict(entry) for name, entry in entries.items()}}, header=CONFIG_HEADER)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
