"""The ``emokit`` command.

emokit bench [--method M[,M...]] [--source A[,B...]] [--target T] [--modality audio|visual]
             [--features F] [--seeds N|a,b,c] [--data-root DIR] [--out DIR] ...
emokit list [datasets|features|methods|suites]
emokit plugins [--strict]
emokit new-plugin NAME [--dir DIR]
emokit data prepare NAME [--scale S] [--seed K] [--data-option KEY=VALUE] [--force]
emokit data info NAME [--data-root DIR]
emokit report RESULT.json [--format table|markdown|csv|latex] [--out FILE]
emokit compare A.json B.json [--threshold PCT]
emokit plot RESULT.json --out DIR
emokit config RESULT.json
emokit profile [--paths P] [--batch B,...] [--width D,...] [--modules M] [--slots K] [--layers L]
               [--convergence 0,0.5,0.9,1] [--repeats N] [--device cpu|cuda] [--out FILE.json]
               [--quick] [--require-ext] ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from emokit._version import __version__
from emokit.bench.results import ResultFileError
from emokit.cli.arguments import (
    EXIT_CELLS_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UsageError,
    parse_options,
    parse_seeds,
    split_list,
)
from emokit.cli.data import cmd_data
from emokit.cli.listing import cmd_list, cmd_plugins, method_options_table, warn_troubled_plugins
from emokit.cli.profile import cmd_profile
from emokit.data.provider import DataLayoutError
from emokit.registry import UnknownNameError, get_registry


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emokit", description="Cross-corpus emotion recognition: transfer methods, benchmarked."
    )
    parser.add_argument("--version", action="version", version=f"emokit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    bench = sub.add_parser("bench", help="run cross-corpus experiments and report UAR/WA/F1")
    bench.add_argument("--method", action="append", help="method name(s), comma-separated or repeated")
    bench.add_argument(
        "--suite", help="the experiments, methods and defaults to run when none are named (default: default)"
    )
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
    bench.add_argument("--features", help="feature extractor (default: the suite's for the modality)")
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
        "--fold-seed", type=int, help="seed of the fold assignment (separate from --seeds; default 0)"
    )
    bench.add_argument(
        "--split-by",
        choices=["speaker", "speaker+sentence"],
        help="speaker (the default): test speakers are never trained on; speaker+sentence: neither "
        "are test sentences (text-independent; for corpora that record sentences)",
    )
    bench.add_argument(
        "--label-map",
        action="append",
        metavar="NAME=FILE",
        help="replace corpus NAME's label map with FILE's (JSON object or two-column CSV of "
        "code,label; repeatable); codes the file lacks are reported and left out",
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
    bench.add_argument("--out", type=Path, help="folder for result files (default: emokit-results)")
    bench.add_argument(
        "--cache-dir", type=Path, help="cache folder (default: $EMOKIT_CACHE or the user cache)"
    )
    bench.add_argument(
        "--data-option",
        action="append",
        help="dataset option key=value, for every dataset that declares it (repeatable; see emokit list)",
    )
    bench.add_argument(
        "--sim-scale", type=float, help="size of simulated corpora (0 < s <= 1): --data-option scale=S"
    )
    bench.add_argument(
        "--sim-seed", type=int, help="seed of simulated-corpus generation: --data-option seed=K"
    )
    bench.add_argument("--option", action="append", help="method option key=value (repeatable)")
    bench.add_argument(
        "--pretrained",
        type=Path,
        help="pretrained weights for the methods that take them (see the method's options)",
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
    bench.add_argument(
        "--config",
        type=Path,
        help="a TOML file of these options (docs/results.md); flags given here override it",
    )
    bench.add_argument(
        "--rerun",
        type=Path,
        help="run the experiment recorded in a result file again, exactly (flags given here override it)",
    )
    bench.add_argument("--plots", type=Path, help="draw the run's figures into this folder when it ends")
    bench.add_argument("--confusion", action="store_true", help="also print summed confusion matrices")
    bench.add_argument(
        "--no-baselines",
        action="store_true",
        help="run only the methods named (not the baselines a method is compared with by default)",
    )
    bench.add_argument("--quiet", action="store_true", help="print only warnings and the final table")

    report = sub.add_parser("report", help="a result file's summary as a table, Markdown, CSV or LaTeX")
    report.add_argument("result", type=Path, help="a result file of emokit bench")
    report.add_argument("--format", default="table", help="table (default), markdown, csv or latex")
    report.add_argument("--out", type=Path, help="write the report to this file (default: print it)")

    compare = sub.add_parser(
        "compare", help="two result files cell by cell: UAR differences, paired tests, what changed"
    )
    compare.add_argument("baseline", type=Path, help="the result file compared against (A)")
    compare.add_argument("candidate", type=Path, help="the result file compared (B)")
    compare.add_argument(
        "--threshold",
        help="exit 1 when a matched result of B is worse than A's by more than this many UAR "
        "percentage points (default 0: any drop)",
    )

    plot = sub.add_parser(
        "plot", help="draw a result file's figures as PNG and SVG (pip install 'emokit[plot]')"
    )
    plot.add_argument("result", type=Path, help="a result file of emokit bench")
    plot.add_argument("--out", type=Path, required=True, help="folder for the figures")

    config = sub.add_parser("config", help="print the config of a result file as TOML (for --config)")
    config.add_argument("result", type=Path, help="a result file of emokit bench")

    lister = sub.add_parser("list", help="list datasets, features and methods")
    lister.add_argument("kind", nargs="?", choices=["datasets", "features", "methods", "suites"])

    plugins = sub.add_parser(
        "plugins", help="list plugins with origin, version, what they register, their problems or error"
    )
    plugins.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any plugin has a problem (misspelled hook, bad name...)",
    )

    new_plugin = sub.add_parser("new-plugin", help="write an installable plugin package to start from")
    new_plugin.add_argument("name", help="plugin name: lower-case words joined by hyphens, e.g. my-corpus")
    new_plugin.add_argument("--dir", type=Path, default=Path("."), help="folder to write it in (default .)")
    new_plugin.add_argument("--force", action="store_true", help="overwrite an existing folder")

    data = sub.add_parser("data", help="prepare, inspect or register corpora (manifests: docs/manifests.md)")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    prepare = data_sub.add_parser("prepare", help="generate a simulated corpus into the cache")
    prepare.add_argument("name")
    prepare.add_argument("--scale", type=float, help="simulated corpora: size relative to the real corpus")
    prepare.add_argument("--seed", type=int, help="simulated corpora: generation seed")
    prepare.add_argument("--data-option", action="append", default=[], help="dataset option key=value")
    prepare.add_argument("--cache-dir", type=Path)
    prepare.add_argument("--force", action="store_true", help="regenerate even if complete")
    info = data_sub.add_parser("info", help="load a corpus and show its speakers, classes and problems")
    info.add_argument("name")
    info.add_argument("--data-root", type=Path)
    info.add_argument("--cache-dir", type=Path)
    info.add_argument("--scale", type=float, help="simulated corpora: size")
    info.add_argument("--seed", type=int, help="simulated corpora: seed")
    info.add_argument("--data-option", action="append", default=[], help="dataset option key=value")
    info.add_argument(
        "--label-map",
        type=Path,
        metavar="FILE",
        help="harmonise the corpus with this file's map (JSON object or two-column CSV of code,label)",
    )
    add = data_sub.add_parser(
        "add", help="register a corpus from a manifest (CSV/TSV or EmoBox JSONL) and a label-map file"
    )
    add.add_argument("name", help="dataset name: lowercase words joined by dashes, e.g. my-corpus")
    add.add_argument("--manifest", type=Path, required=True, help="CSV/TSV or EmoBox JSONL manifest")
    add.add_argument(
        "--label-map", type=Path, required=True, help="JSON object or two-column CSV of code,label"
    )
    add.add_argument(
        "--root", type=Path, help="folder relative media paths start from (default: the manifest's)"
    )
    add.add_argument("--language", default="", help="ISO 639-1 code of the spoken language, e.g. en")
    add.add_argument("--description", default="", help="the line `emokit list` shows")
    add.add_argument("--cache-dir", type=Path)
    add.add_argument("--force", action="store_true", help="replace a manifest corpus added before")
    remove = data_sub.add_parser("remove", help="unregister a manifest corpus (its files are left alone)")
    remove.add_argument("name")
    data_sub.add_parser("list", help="the manifest corpora registered, with their files")

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
        if args.command in ("report", "compare", "plot", "config"):  # no plugin needed: read files only
            from emokit.cli.results import RESULT_COMMANDS

            return RESULT_COMMANDS[args.command](args, console)
        if args.command == "new-plugin":
            from emokit.cli.scaffold import cmd_new_plugin

            return cmd_new_plugin(args, console)
        registry = get_registry()
        if args.command != "plugins":
            warn_troubled_plugins(registry, err)
        if args.command == "bench":
            from emokit.cli.bench import run_bench_command

            return run_bench_command(args, registry, console)
        if args.command == "list":
            return cmd_list(registry, console, args.kind)
        if args.command == "plugins":
            return cmd_plugins(registry, console, strict=args.strict)
        if args.command == "data":
            return cmd_data(args, registry, console)
    except (UnknownNameError, UsageError, DataLayoutError, ResultFileError, ValueError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)  # one line
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        return EXIT_INTERRUPTED
    return EXIT_USAGE


__all__ = [
    "EXIT_CELLS_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "cmd_data",
    "cmd_list",
    "cmd_plugins",
    "cmd_profile",
    "main",
    "method_options_table",
    "parse_options",
    "parse_seeds",
    "split_list",
]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
