"""``emokit config RESULT.json``: the run a result file records, as a config file (TOML)."""

from __future__ import annotations

import argparse
import shlex

from rich.console import Console

from emokit.results import load
from emokit.results.config import to_toml


def cmd_config(args: argparse.Namespace, console: Console) -> int:
    """Print the recorded run as TOML: ``emokit bench --config`` of that text runs it again."""
    results = load(args.result)
    data = results.data
    command = data.get("command")
    header = [
        f"the run of {args.result}",
        f"recorded {data.get('created', '?')} by emokit {(data.get('versions') or {}).get('emokit', '?')}"
        + (f", git commit {data['git_commit']}" if data.get("git_commit") else ""),
        *([f"its command: {shlex.join(str(c) for c in command)}"] if isinstance(command, list) else []),
        "run it again: emokit bench --config THIS_FILE (flags given beside it override these keys)",
    ]
    if results.format < 3:
        header.append(f"format {results.format} file: rebuilt from its config and run identity")
    # plain print: rich would read [option.pathnet] as markup
    console.file.write(to_toml(results.run_config, header))
    return 0
