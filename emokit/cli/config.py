"""``emokit config``."""

from __future__ import annotations

import argparse

from rich.console import Console


def cmd_config(args: argparse.Namespace, console: Console) -> int:
    raise NotImplementedError("emokit config: being built")
