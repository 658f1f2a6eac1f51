"""``emokit plot``."""

from __future__ import annotations

import argparse

from rich.console import Console


def cmd_plot(args: argparse.Namespace, console: Console) -> int:
    raise NotImplementedError("emokit plot: being built")
