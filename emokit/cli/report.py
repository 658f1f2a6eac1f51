"""``emokit report RESULT.json [--format table|markdown|csv|latex] [--out FILE]``: a result file's
facts, summary, per-class recall and train × test matrices (:mod:`emokit.results.report`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from emokit.cli.arguments import UsageError
from emokit.results import load
from emokit.results.report import FORMATS, render, table_renderables


def report_format(value: str | None) -> str:
    """The ``--format`` value checked: one of :data:`~emokit.results.report.FORMATS`."""
    fmt = (value or FORMATS[0]).strip().lower()
    if fmt not in FORMATS:
        raise UsageError(f"--format {value}: expected {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
    return fmt


def check_report_path(path: Path) -> Path:
    """``path`` if a report can be written there, else a :class:`UsageError` naming it (checked
    before the result file is read, so a typo costs nothing)."""
    path = Path(path).expanduser()
    folder = path.parent
    if path.is_dir():
        raise UsageError(f"--out {path}: is a folder; expected a file name for the report")
    if not folder.is_dir():
        raise UsageError(f"--out {path}: cannot write the report there (folder {folder} does not exist)")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"--out {path}: cannot write the report there (permission denied)")
    return path


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """Print the report of ``args.result`` in ``args.format``, or write it to ``args.out``."""
    fmt = report_format(getattr(args, "format", None))
    out = check_report_path(args.out) if getattr(args, "out", None) else None
    results = load(args.result)
    if out is None and fmt == "table":
        for renderable in table_renderables(results, width=console.width):
            console.print(renderable)
        return 0
    text = render(results, fmt)
    if out is None:
        console.file.write(text)  # as is: rich would read "[a, b]" as markup and wrap long lines
        console.file.flush()
        return 0
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write the report ({exc.strerror or exc})") from None
    console.print(f"report ({fmt}): {out}", highlight=False, soft_wrap=True, markup=False)
    return 0
