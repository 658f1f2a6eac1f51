"""``emokit report``."""

from __future__ import annotations

import argparse

from rich.console import Console


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    raise NotImplementedError("emokit report: being built")
