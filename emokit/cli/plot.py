"""``emokit plot RESULT.json --out DIR``: a result file's figures as PNG and SVG (docs/plots.md)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from emokit.cli.arguments import UsageError


def cmd_plot(args: argparse.Namespace, console: Console) -> int:
    """Draw every figure ``args.result`` allows into ``args.out``; one line per figure written.

    A file that is not a result file raises ``ResultFileError`` (one line, exit 2 in ``main``);
    missing matplotlib or an unwritable folder is a :class:`UsageError` (the same).
    """
    from emokit.results import load
    from emokit.results.plots import Plot, PlotDependencyError, PlotFolderError, save_plots

    started = time.perf_counter()
    results = load(args.result)
    folder = Path(args.out)
    figures = 0

    def saved(plot: Plot, paths: list[Path]) -> None:
        nonlocal figures
        figures += 1
        stem = paths[0].with_suffix("")
        files = f"{stem}.{{{','.join(p.suffix[1:] for p in paths)}}}" if len(paths) > 1 else str(paths[0])
        console.print(f"{plot.kind:<15} {files}  {plot.title}", markup=False, highlight=False, soft_wrap=True)

    try:
        written = save_plots(results, folder, on_saved=saved)
    except PlotDependencyError as exc:
        raise UsageError(str(exc)) from None
    except PlotFolderError as exc:
        raise UsageError(f"--out {exc}") from None
    if not figures:
        why = "no cell finished" if not results.ok_cells else "no cell of a method other than majority-class"
        console.print(
            f"{args.result}: nothing to draw ({why})", markup=False, highlight=False, soft_wrap=True
        )
        return 0
    seconds = time.perf_counter() - started
    console.print(
        f"{figures} figures ({len(written)} files) in {folder}, {seconds:.1f} s",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0
