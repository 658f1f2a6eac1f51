"""Run the ``emokit`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_emokit(args: list[str], cwd: Path, timeout: int = 900, **env: str) -> subprocess.CompletedProcess:
    """``python -m emokit.cli ARGS`` in ``cwd`` with extra environment variables, output captured."""
    environ = {**os.environ, "COLUMNS": "200", **env}
    return subprocess.run(
        [sys.executable, "-m", "emokit.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environ,
        timeout=timeout,
    )
