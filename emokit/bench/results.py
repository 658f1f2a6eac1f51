"""The JSON result file of a bench run: every number, the config, seeds, versions, commit, backend.

The file is rewritten atomically after every finished cell (write a temporary file of this
process, then rename; compact JSON while the run goes, indented once it ends), so an interrupted
run, or a crash, or a kill, leaves a valid file holding every finished cell; a resumed run starts
from the file's own cells, so the file never holds fewer cells than before. Each cell's
predictions (utterance ids, true and predicted labels) go to a sidecar beside it,
``<name>.predictions.jsonl``, one line per cell, appended before the cell is written to the result
file. A run holds a lock on its file while it writes, and a new run never takes the name of an
existing file, so two runs cannot write one file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from emokit.measure import git_commit, package_versions

#: format 3: training curves per cell and the run config (format 2: speaker folds, budgets,
#: predictions sidecar, run identity and statistics; format 1: cells and config only)
RESULT_FORMAT = 3
PREDICTIONS_SUFFIX = ".predictions.jsonl"


def kernel_backend() -> dict[str, Any]:
    """The kernel backend in use (extension or pure-PyTorch fallback)."""
    try:
        from emokit import kernels

        return kernels.backend_info()
    except Exception as exc:
        return {"backend": "unknown", "error": f"{type(exc).__name__}: {exc}"}


class ResultFileError(ValueError):
    """A result file that cannot be read, written or resumed; the message names the file."""


def cell_key(cell: dict[str, Any]) -> tuple:
    """A cell's identity in a run: (sources, target, modality, features, budget, method, fold, repeat)."""
    budget = cell.get("budget")
    return (
        tuple(cell["sources"]),
        cell["target"],
        cell["modality"],
        cell["features"],
        budget["label"] if isinstance(budget, dict) else budget,
        cell["method"],
        cell.get("fold"),
        cell.get("repeat"),
    )


def _key_json(key: tuple) -> list:
    return [list(k) if isinstance(k, tuple) else k for k in key]


def predictions_path(path: Path) -> Path:
    """The predictions sidecar of result file ``path``."""
    path = Path(path)
    return path.with_name(path.stem + PREDICTIONS_SUFFIX)


class _Lock:
    """An advisory lock on ``<file>.lock`` for as long as a run writes the file (POSIX; elsewhere
    a no-op)."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._fh = None

    def acquire(self, target: Path) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks
            return
        self._fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.seek(0)
            holder = self._fh.read().strip() or "another process"
            self._fh.close()
            self._fh = None
            raise ResultFileError(
                f"{target} is being written by another emokit bench ({holder}); wait for it to finish "
                "or resume a different file"
            ) from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"pid {os.getpid()}")
        self._fh.flush()

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            with contextlib.suppress(OSError):
                self.path.unlink()


def check_writable_folder(folder: Path, option: str = "--out") -> Path:
    """``folder`` created if needed and writable, else a :class:`ResultFileError` naming it."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ResultFileError(f"{option} {folder}: is a file; expected a folder for result files")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".emokit-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ResultFileError(
            f"{option} {folder}: cannot write result files there ({exc.strerror or exc})"
        ) from None
    return folder


class ResultFile:
    """A result file being written; :meth:`add_cell` saves after every cell.

    ``ResultFile(path, config)`` starts a new file at ``path`` (refused if it exists);
    :meth:`create` picks a new name in a folder; :meth:`resume` continues an existing file.
    """

    def __init__(
        self,
        path: Path,
        config: dict[str, Any],
        command: list[str] | None = None,
        *,
        _data: dict[str, Any] | None = None,
    ):
        self.path = Path(path)
        self.predictions_path = predictions_path(self.path)
        self._lock = _Lock(self.path)
        if _data is None:
            check_writable_folder(self.path.parent, "result folder")
            try:  # claim the name: two runs never write one file
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                raise ResultFileError(
                    f"{self.path} exists already; resume it with --resume or pick another"
                ) from None
            os.close(fd)
            self._lock.acquire(self.path)
            self.data: dict[str, Any] = {
                "format": RESULT_FORMAT,
                "status": "running",
                "created": _now(),
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
                "predictions_file": self.predictions_path.name,
                "identity": None,
                "run_config": None,  # the run as a config file holds it (set by emokit bench)
                "corpora": {},
                "cells": [],
                "summary": [],
            }
            self.save()
        else:
            self._lock.acquire(self.path)
            self.data = _data
        self._keys = {cell_key(c) for c in self.data["cells"] if c.get("status", "ok") == "ok"}
        self._recorded = {cell_key(c) for c in self.data["cells"]}  # ok or failed

    @classmethod
    def create(
        cls, folder: Path, stem: str, config: dict[str, Any], command: list[str] | None = None
    ) -> ResultFile:
        """A new file ``<folder>/<stem>-<time>.json`` (``-2``, ``-3`` ... when that name is taken)."""
        folder = check_writable_folder(folder)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        for attempt in range(1, 1000):
            suffix = "" if attempt == 1 else f"-{attempt}"
            path = folder / f"{stem}-{stamp}{suffix}.json"
            if path.exists() or predictions_path(path).exists():
                continue
            try:
                return cls(path, config, command)
            except ResultFileError:
                if path.exists():  # taken by a run that started in the same instant
                    continue
                raise
        raise ResultFileError(f"{folder}: no free result file name for {stem}-{stamp}")  # pragma: no cover

    @classmethod
    def resume(cls, path: Path, command: list[str] | None = None) -> ResultFile:
        """Continue the run of ``path``: its finished cells are kept, and nothing is saved until
        a new cell finishes (the file on disk never holds fewer cells than before)."""
        data = load_results(path)
        if not os.access(path, os.W_OK) or not os.access(Path(path).parent, os.W_OK):
            raise ResultFileError(f"--resume {path}: the file or its folder is not writable")
        data.setdefault("resumed", []).append(
            {"at": _now(), "command": command if command is not None else sys.argv}
        )
        data["status"] = "running"
        return cls(Path(path), data.get("config", {}), command, _data=data)

    @property
    def cells(self) -> list[dict[str, Any]]:
        return self.data["cells"]

    def has(self, key: tuple) -> bool:
        """Whether the cell with this :func:`cell_key` finished (a failed cell does not count: a
        resumed run runs it again)."""
        return key in self._keys

    @property
    def failed_cells(self) -> list[dict[str, Any]]:
        """The cells recorded as failed (``status == "failed"``)."""
        return [c for c in self.data["cells"] if c.get("status") == "failed"]

    def add_cell(self, cell: dict[str, Any], predictions: dict[str, Any] | None = None) -> None:
        """Record a finished cell (its predictions to the sidecar first), then save."""
        key = cell_key(cell)
        if predictions is not None:
            self._append_predictions({"key": _key_json(key), **predictions})
            cell = {**cell, "predictions": self.predictions_path.name}
        # the same cell recorded again (a failed cell run again by --resume): the new one replaces it
        if key in self._recorded:
            self.data["cells"] = [c for c in self.data["cells"] if cell_key(c) != key]
        self._recorded.add(key)
        self.data["cells"].append(cell)
        if cell.get("status", "ok") == "ok":
            self._keys.add(key)
        self.save()

    def _append_predictions(self, record: dict[str, Any]) -> None:
        path = self.predictions_path
        with open(path, "a+b") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() > 0:  # a kill mid-line leaves a partial line: never glue a record to it
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")
            fh.write((json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())

    def set_corpora(self, corpora: dict[str, Any]) -> None:
        self.data["corpora"] = corpora
        self.save()

    def finish(
        self, status: str, error: str | None = None, summary: list[dict[str, Any]] | None = None
    ) -> None:
        """Mark the run ``complete``, ``interrupted`` or ``failed``, store the summary, save, unlock."""
        self.data["status"] = status
        self.data["finished"] = _now()
        if error:
            self.data["error"] = error
        if summary is not None:
            self.data["summary"] = summary
        self.save(readable=True)
        self.close()

    def close(self) -> None:
        """Release the file's lock (also done by :meth:`finish`)."""
        self._lock.release()

    def save(self, *, readable: bool = False) -> None:
        """Write the file atomically. While a run goes, compactly: json's C encoder writes a
        compact file about 4x faster than an indented one, and the file is rewritten after every
        cell (a 2 MB file 440 times in the default suite); :meth:`finish` writes it indented."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        text = (
            json.dumps(self.data, indent=1, default=str)
            if readable
            else json.dumps(self.data, separators=(",", ":"), default=str)
        )
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise ResultFileError(f"cannot write {self.path}: {exc.strerror or exc}") from None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def load_results(path: Path) -> dict[str, Any]:
    """Read a result file, with a clear :class:`ResultFileError` when it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultFileError(f"result file {path} does not exist") from None
    except IsADirectoryError:
        raise ResultFileError(f"{path} is a folder, not an emokit result file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"{path} is not an emokit result file (not valid JSON: {exc})") from None
    if not isinstance(data, dict):
        raise ResultFileError(f"{path} is not an emokit result file (expected a JSON object)")
    # the format first: a newer emokit may have changed the file's shape
    version = data.get("format", 1)
    if isinstance(version, int) and version > RESULT_FORMAT:
        raise ResultFileError(
            f"{path} has result format {version!r}; this emokit reads formats up to {RESULT_FORMAT} "
            "(upgrade emokit)"
        )
    if not isinstance(data.get("cells"), list) or not isinstance(data.get("config"), dict):
        raise ResultFileError(
            f"{path} is not an emokit result file (expected an object with 'config' and 'cells')"
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ResultFileError(
            f"{path} has result format {version!r}; expected a whole number 1 to {RESULT_FORMAT}"
        )
    for index, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or not {"method", "sources", "target"} <= set(cell):
            raise ResultFileError(
                f"{path} is not an emokit result file (cell {index} lacks method, sources or target)"
            )
        scores = cell.get("scores")
        if cell.get("status", "ok") == "ok" and not (
            isinstance(scores, dict) and {"uar", "confusion"} <= set(scores)
        ):
            raise ResultFileError(
                f"{path}: cell {index} ({cell['method']}, {cell.get('experiment', cell['target'])}) is "
                "recorded as finished but has no scores (uar, confusion): the file is damaged"
            )
    return data


def load_predictions(path: Path) -> dict[tuple, dict[str, Any]]:
    """The predictions sidecar of result file ``path``, by cell key (the last record of a key wins;
    a partial line left by a kill is ignored). Empty when there is no sidecar."""
    out: dict[tuple, dict[str, Any]] = {}
    sidecar = predictions_path(path)
    if not sidecar.is_file():
        return out
    with open(sidecar, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
                key = tuple(tuple(k) if isinstance(k, list) else k for k in record["key"])
            except (ValueError, KeyError, TypeError):
                continue
            out[key] = record
    return out
