"""``emokit report``, ``compare``, ``plot`` and ``config``: what a result file holds, for people.

Each reads result files only (no plugin is loaded); a file that is not an emokit result file, is
truncated or of a newer format is one line of error (exit 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from rich.console import Console

from emokit.cli.compare import cmd_compare
from emokit.cli.config import cmd_config
from emokit.cli.plot import cmd_plot
from emokit.cli.report import cmd_report

RESULT_COMMANDS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
    "report": cmd_report,
    "compare": cmd_compare,
    "plot": cmd_plot,
    "config": cmd_config,
}
