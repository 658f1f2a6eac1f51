"""Helpers of the result-file tests (``tests/results``)."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_result(result: Path, folder: Path) -> Path:
    """A copy of a result file and its predictions sidecar in ``folder`` (for tests that edit it)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in result.parent.glob(result.stem + "*"):
        shutil.copy(path, folder / path.name)
    return folder / result.name
