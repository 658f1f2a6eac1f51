"""The ``emokit`` command.

emokit bench [--method M[,M...]] [--source A[,B...]] [--target T] [--modality audio|visual]
             [--features F] [--seeds N|a,b,c] [--data-root DIR] [--out DIR] ...
emokit list [datasets|features|methods]
emokit plugins
emokit data prepare NAME [--scale S] [--seed K] [--force]
emokit data info NAME [--data-root DIR]
emokit profile [--paths P] [--batch B,...] [--width D,...] [--modules M] [--slots K] [--layers L]
               [--convergence 0,0.5,0.9,1] [--repeats N] [--device cpu|cuda] [--out FILE.json]
               [--quick] [--require-ext] ...
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from emokit import __version__
from emokit.bench.options import declared
from emokit.bench.results import ResultFileError
from emokit.data.datasets import DataLayoutError, LoadContext
from emokit.paths import cache_dir as default_cache_dir
from emokit.paths import data_root_from_env
from emokit.registry import Registry, UnknownNameError, get_registry

#: methods run by ``emokit bench`` when none is named (PathNet leads once a plugin provides it)
BASELINE_METHODS = ["source-only", "target-only", "finetune", "svm"]

#: the PathNet emotion papers' experiments (Nguyen et al.), on the simulated corpora: visual SAVEE <->
#: eNTERFACE, audio single-source between every pair of the three audio corpora, and audio
#: multi-source (two corpora in sequence) into the third
DEFAULT_EXPERIMENTS: list[tuple[tuple[str, ...], str, str]] = [
    (("sim-savee",), "sim-enterface", "visual"),
    (("sim-enterface",), "sim-savee", "visual"),
    (("sim-savee",), "sim-enterface", "audio"),
    (("sim-enterface",), "sim-savee", "audio"),
    (("sim-savee",), "sim-emodb", "audio"),
    (("sim-emodb",), "sim-savee", "audio"),
    (("sim-emodb",), "sim-enterface", "audio"),
    (("sim-enterface",), "sim-emodb", "audio"),
    (("sim-savee", "sim-emodb"), "sim-enterface", "audio"),
    (("sim-savee", "sim-enterface"), "sim-emodb", "audio"),
    (("sim-emodb", "sim-enterface"), "sim-savee", "audio"),
]

EXIT_CELLS_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    """A bad command-line argument; the message names it and what was expected."""


def _split_list(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def parse_seeds(value: str) -> list[int]:
    """``"3"`` -> ``[0, 1, 2]``; ``"0,5,7"`` -> ``[0, 5, 7]``."""
    try:
        if "," in value:
            seeds = [int(v) for v in _split_list(value)]
        else:
            count = int(value)
            if count < 1:
                raise UsageError(f"--seeds {value}: expected a positive count or a comma-separated list")
            seeds = list(range(count))
    except ValueError as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"--seeds {value!r}: expected a count (e.g. 3) or seeds (e.g. 0,5,7)") from None
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {value!r}: seeds repeat")
    return seeds


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["epochs=50", "lr=1e-3"]`` -> ``{"epochs": "50", "lr": "1e-3"}`` (methods convert)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option {pair!r}: expected key=value")
        options[key.strip()] = value.strip()
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emokit", description="Cross-corpus emotion recognition: transfer methods, benchmarked."
    )
    parser.add_argument("--version", action="version", version=f"emokit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    bench = sub.add_parser("bench", help="run cross-corpus experiments and report UAR/WA/F1")
    bench.add_argument("--method", action="append", help="method name(s), comma-separated or repeated")
    bench.add_argument("--source", help="source corpus, or several comma-separated (in sequence)")
    bench.add_argument("--target", help="target corpus (default experiments when omitted)")
    bench.add_argument(
        "--matrix",
        help="corpora A,B,C: every train -> test pair among them, within-corpus included (a matrix)",
    )
    bench.add_argument(
        "--modality",
        choices=["audio", "visual", "audiovisual"],
        help="audio, visual, or audiovisual (both, for cross-modal methods such as fdan)",
    )
    bench.add_argument("--features", help="feature extractor (default: egemaps for audio, face for visual)")
    bench.add_argument(
        "--seeds",
        help="repeats: a count (2 -> initialisation seeds 0,1) or a list of seeds (0,5,7); default 2 "
        "(the default suite: 1)",
    )
    bench.add_argument(
        "--folds",
        help="target speaker folds: loso (leave one speaker out), K (speaker-grouped K-fold), split "
        "(one random split per repeat) or auto (the default: loso up to 10 speakers, else 5-fold; "
        "the default suite runs 4)",
    )
    bench.add_argument(
        "--fold-seed", type=int, default=0, help="seed of the fold assignment (separate from --seeds)"
    )
    bench.add_argument(
        "--target-budget",
        help="shares of the target's labelled training utterances, per class and nested, e.g. "
        "0.05,0.1,0.25,1 (default 1; the default suite runs 0.1,1)",
    )
    bench.add_argument("--target-shots", help="labelled target utterances per class, e.g. 5 or 1,5,10")
    bench.add_argument(
        "--reference",
        help="the method every other is compared with on matched cells (default target-only; none: off)",
    )
    bench.add_argument(
        "--norm",
        help="feature normalisation before any method: corpus (default), speaker, source or none",
    )
    bench.add_argument("--show-val", action="store_true", help="print validation UAR beside test UAR")
    bench.add_argument("--data-root", type=Path, help="folder with real corpora (default: $EMOKIT_DATA)")
    bench.add_argument("--out", type=Path, default=Path("emokit-results"), help="folder for result files")
    bench.add_argument(
        "--cache-dir", type=Path, help="cache folder (default: $EMOKIT_CACHE or the user cache)"
    )
    bench.add_argument("--sim-scale", type=float, default=1.0, help="size of simulated corpora (0 < s <= 1)")
    bench.add_argument("--sim-seed", type=int, default=0, help="seed of simulated-corpus generation")
    bench.add_argument("--option", action="append", default=[], help="method option key=value (repeatable)")
    bench.add_argument(
        "--pretrained",
        type=Path,
        help="a torchvision-compatible ResNet-34 state dict for methods with ResNet extractors (fdan)",
    )
    bench.add_argument(
        "--jobs",
        help="cells run at once, each in its own worker process (default: as many as the cores and the "
        "memory hold; 1 runs every cell in this process)",
    )
    bench.add_argument(
        "--threads",
        help="torch threads of each cell (default 1 on every machine: a cell's numbers depend on it)",
    )
    bench.add_argument("--device", help="auto (the default: the GPU when there is one), cpu, cuda or cuda:N")
    bench.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local worker processes (default) or Ray tasks (pip install 'emokit[ray]')",
    )
    bench.add_argument(
        "--address",
        help="with --executor ray: the Ray cluster to run on (HOST:PORT or auto; default: start a local "
        "Ray instance of --jobs CPUs)",
    )
    bench.add_argument(
        "--resume", type=Path, help="continue an interrupted run's result file (failed cells run again)"
    )
    bench.add_argument("--confusion", action="store_true", help="also print summed confusion matrices")
    bench.add_argument(
        "--no-baselines",
        action="store_true",
        help="run only the methods named (not the baselines a method is compared with by default)",
    )
    bench.add_argument("--quiet", action="store_true", help="print only warnings and the final table")

    lister = sub.add_parser("list", help="list datasets, features and methods")
    lister.add_argument("kind", nargs="?", choices=["datasets", "features", "methods"])

    sub.add_parser("plugins", help="list plugins with origin, version, what they register or their error")

    data = sub.add_parser("data", help="prepare or inspect corpora")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    prepare = data_sub.add_parser("prepare", help="generate a simulated corpus into the cache")
    prepare.add_argument("name")
    prepare.add_argument("--scale", type=float, default=1.0, help="size relative to the real corpus")
    prepare.add_argument("--seed", type=int, default=0)
    prepare.add_argument("--cache-dir", type=Path)
    prepare.add_argument("--force", action="store_true", help="regenerate even if complete")
    info = data_sub.add_parser("info", help="load a corpus and show its speakers, classes and problems")
    info.add_argument("name")
    info.add_argument("--data-root", type=Path)
    info.add_argument("--cache-dir", type=Path)
    info.add_argument("--scale", type=float, default=1.0, help="simulated corpora: size")
    info.add_argument("--seed", type=int, default=0, help="simulated corpora: seed")

    profile = sub.add_parser(
        "profile", help="time the multi-path kernels against the fallback and dense torch.mm"
    )
    for option, what in [
        ("--paths", "population sizes P"),
        ("--batch", "batch sizes B"),
        ("--width", "layer widths D (Din = Dout = D)"),
        ("--din", "input widths Din (with --dout, replaces --width)"),
        ("--dout", "output widths Dout"),
        ("--modules", "modules per layer M"),
        ("--slots", "slots per layer K"),
        ("--layers", "layers L"),
        ("--convergence", "fractions of elite copies in the population, 0 (random) to 1 (converged)"),
    ]:
        profile.add_argument(option, help=f"{what}, comma-separated")
    profile.add_argument("--classes", type=int, help="classes C of the task head (default 6)")
    profile.add_argument("--repeats", type=int, help="timed rounds per measurement (default 5)")
    profile.add_argument("--warmup", type=int, help="untimed calls first, the check's included (default 1)")
    profile.add_argument("--budget", type=float, help="seconds per measurement: fewer repeats (>= 3) if slow")
    profile.add_argument("--device", help="cpu (default) or cuda")
    profile.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    profile.add_argument("--seed", type=int, help="seed of inputs and populations (default 0)")
    profile.add_argument("--out", type=Path, help="JSON file (default: ./emokit-profile-<time>.json)")
    profile.add_argument("--quick", action="store_true", help="a tiny grid that runs in seconds")
    profile.add_argument("--require-ext", action="store_true", help="stop if the extension cannot run")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    err = Console(stderr=True)
    if args.command is None:
        build_parser().print_help()
        return EXIT_USAGE
    try:
        if args.command == "profile":
            return cmd_profile(args, console, err)
        registry = get_registry()
        if args.command != "plugins" and registry.failed:
            names = ", ".join(p.name for p in registry.failed)
            err.print(
                f"[yellow]![/] plugin(s) failed to load and were skipped: {names} (see `emokit plugins`)"
            )
        if args.command == "bench":
            from emokit.bench.run import run_bench_command

            return run_bench_command(args, registry, console)
        if args.command == "list":
            return cmd_list(registry, console, args.kind)
        if args.command == "plugins":
            return cmd_plugins(registry, console)
        if args.command == "data":
            return cmd_data(args, registry, console)
    except (UnknownNameError, UsageError, DataLayoutError, ResultFileError, ValueError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)  # one line
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        return EXIT_INTERRUPTED
    return EXIT_USAGE


def cmd_list(registry: Registry, console: Console, kind: str | None) -> int:
    kinds = {"datasets": "dataset", "features": "feature", "methods": "method"}
    for plural, singular in kinds.items():
        if kind and kind != plural:
            continue
        table = Table(title=plural)
        table.add_column("name", style="bold")
        table.add_column("description")
        table.add_column("modality" if singular != "dataset" else "modalities")
        table.add_column("plugin")
        for name in registry.names(singular):
            provider = registry.get(singular, name)
            modality = getattr(provider, "modalities", None) or (getattr(provider, "modality", ""),)
            table.add_row(
                name, provider.description, ", ".join(modality), registry.owner(singular, name) or ""
            )
        console.print(table)
        if singular == "method":
            for name in registry.names("method"):
                console.print(method_options_table(registry.method(name)))
    return 0


def method_options_table(method: Any) -> Table | str:
    """The options a method declares (``--option [METHOD.]KEY=VALUE``), as a table."""
    options = declared(method)
    if options is None:
        return f"[dim]{method.name}: declares no options (its --option keys are not checked)[/]"
    if not options:
        return f"[dim]{method.name}: no options[/]"
    table = Table(title=f"{method.name} options (--option {method.name}.KEY=VALUE, or KEY=VALUE for all)")
    table.add_column("option", style="bold")
    table.add_column("type")
    table.add_column("default")
    table.add_column("help")
    for option in options:
        kind = (
            option.type_name if option.expects is None and not option.choices else option.describe_expected()
        )
        table.add_row(option.name, kind, option.shown_default, option.help)
    return table


def cmd_plugins(registry: Registry, console: Console) -> int:
    table = Table(title="emokit plugins")
    table.add_column("plugin", style="bold")
    table.add_column("origin")
    table.add_column("version")
    table.add_column("registers / error")
    for info in registry.plugins:
        if info.error:
            what = f"[red]{info.error}[/]" if not info.disabled else f"[dim]{info.error}[/]"
        else:
            what = "; ".join(f"{kind}s: {', '.join(names)}" for kind, names in info.registers.items()) or "-"
        table.add_row(info.name, info.origin, info.version, what)
    console.print(table)
    return 0


def _load_context(args: argparse.Namespace, registry: Registry, progress=None) -> LoadContext:
    return LoadContext(
        data_root=getattr(args, "data_root", None) or data_root_from_env(),
        cache_dir=args.cache_dir or default_cache_dir(),
        sim_scale=args.scale,
        sim_seed=args.seed,
        progress=progress,
        providers=dict(registry.providers["dataset"]),
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
            context.regenerate = args.force
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


def cmd_profile(args: argparse.Namespace, console: Console, err: Console) -> int:
    """``emokit profile``: time the kernels over a grid (emokit.kernels.profile), print, write JSON."""
    from emokit.kernels import KernelBackendError, profile

    lists = {name: getattr(args, option.lstrip("-")) for name, (option, _) in profile.LIST_OPTIONS.items()}
    scalars = ("classes", "repeats", "warmup", "device", "threads", "seed")
    try:
        config = profile.config_from_options(
            quick=args.quick, budget_s=args.budget, **lists, **{name: getattr(args, name) for name in scalars}
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = args.out or profile.default_output_path()
    try:
        report = profile.run_profile(config, console, require_ext=args.require_ext)
    except KernelBackendError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return 1
    profile.print_report(report, console)
    console.print(f"results written to {profile.write_report(report, out)}", highlight=False)
    return 1 if any(r["status"] != "ok" for r in report["results"]) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
