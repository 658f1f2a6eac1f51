"""``emokit compare``."""

from __future__ import annotations

import argparse

from rich.console import Console


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    raise NotImplementedError("emokit compare: being built")
