"""The JSON result file of a bench run: every number, the config, seeds, versions, commit, backend.

The file is rewritten atomically after every finished cell (write a temporary file, then rename),
so an interrupted run, or a crash, leaves a valid file holding every finished cell.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as metadata
import json
import os
import platform
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from emokit.bench.metrics import METRIC_NAMES, summarise

RESULT_FORMAT = 1
_PACKAGES = ("emokit", "torch", "numpy", "scipy", "scikit-learn", "librosa", "opensmile", "av", "pluggy")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape results."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """The commit of the emokit source tree, when it is a git checkout (``+dirty`` if modified)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def kernel_backend() -> dict[str, Any]:
    """The kernel backend in use (extension or pure-PyTorch fallback)."""
    try:
        from emokit import kernels

        return kernels.backend_info()
    except Exception as exc:
        return {"backend": "unknown", "error": f"{type(exc).__name__}: {exc}"}


def summarise_cells(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds of each metric, per (method, experiment, modality, features)."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        key = (cell["method"], cell["experiment"], cell["modality"], cell["features"])
        groups[key].append(cell)
    rows = []
    for (method, experiment, modality, features), group in groups.items():
        row: dict[str, Any] = {
            "method": method,
            "experiment": experiment,
            "modality": modality,
            "features": features,
            "classes": group[0]["classes"],
            "seeds": [c["seed"] for c in group],
            "time_s": round(sum(c["time_s"] for c in group), 3),
        }
        for metric in METRIC_NAMES:
            s = summarise([c["scores"][metric] for c in group])
            row[metric] = {"mean": s.mean, "std": s.std}
        rows.append(row)
    return rows


class ResultFile:
    """A result file being written; :meth:`add_cell` saves after every cell."""

    def __init__(self, path: Path, config: dict[str, Any], command: list[str] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data: dict[str, Any] = {
            "format": RESULT_FORMAT,
            "status": "running",
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": command if command is not None else sys.argv,
            "config": config,
            "seeds": config.get("seeds"),
            "versions": package_versions(),
            "git_commit": git_commit(),
            "kernel_backend": kernel_backend(),
            "platform": {
                "system": platform.platform(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
            },
            "corpora": {},
            "cells": [],
            "summary": [],
        }
        self.save()

    @property
    def cells(self) -> list[dict[str, Any]]:
        return self.data["cells"]

    def add_cell(self, cell: dict[str, Any]) -> None:
        self.data["cells"].append(cell)
        self.data["summary"] = summarise_cells(self.data["cells"])
        self.save()

    def set_corpora(self, corpora: dict[str, Any]) -> None:
        self.data["corpora"] = corpora
        self.save()

    def finish(self, status: str, error: str | None = None) -> None:
        """Mark the run ``complete``, ``interrupted`` or ``failed`` and save."""
        self.data["status"] = status
        self.data["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        if error:
            self.data["error"] = error
        self.save()

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.data, fh, indent=1, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def load_results(path: Path) -> dict[str, Any]:
    """Read a result file, with a clear error when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"result file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not a valid emokit result file: {exc}") from None
    if not isinstance(data, dict) or "cells" not in data or "config" not in data:
        raise ValueError(f"{path} is not an emokit result file (no 'cells' or 'config')")
    return data
