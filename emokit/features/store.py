"""The feature cache on disk: its key, its file, and the identity of each utterance's media files
(see :mod:`emokit.features.cache` for the rules)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emokit.data.corpus import Corpus, Utterance, modality_parts
from emokit.features.extractor import FeatureExtractor
from emokit.features.table import *  # noqa: F403

#: bump when the layout of the cache files changes (2: per-row media stamps and digests).
CACHE_FORMAT = 2

ProgressCallback = Callable[[str, int, int], None]


# -- cache key and file ------------------------------------------------------------------------
def corpus_fingerprint(corpus: Corpus) -> str:
    """``corpus.fingerprint``, or, when a loader left it empty, one made from the media files'
    paths, sizes and modification times (a stat, never an open), so stale vectors are not reused."""
    if corpus.fingerprint:
        return corpus.fingerprint
    digest = hashlib.sha256()
    for u in corpus.utterances:
        for path in (u.audio_path, u.video_path):
            if path is None:
                continue
            try:
                st = Path(path).stat()
                digest.update(f"{u.id}\0{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            except OSError:
                digest.update(f"{u.id}\0{path}\0missing\n".encode())
    return "files:" + digest.hexdigest()[:16]


def cache_key(corpus: Corpus, extractor: FeatureExtractor) -> dict[str, Any]:
    """Everything the cached vectors depend on."""
    return {
        "format": CACHE_FORMAT,
        "corpus": corpus.name,
        "fingerprint": corpus_fingerprint(corpus),
        "extractor": extractor.name,
        "version": str(extractor.version),
        "modality": extractor.modality,
        "params": extractor.params(),
    }


def cache_path(corpus: Corpus, extractor: FeatureExtractor, cache_dir: Path | None = None) -> Path:
    """The cache file for this corpus and extractor configuration."""
    if cache_dir is None:
        from emokit.folders import cache_dir as default_cache_dir

        cache_dir = default_cache_dir()
    digest = hashlib.sha256(key_json(cache_key(corpus, extractor)).encode()).hexdigest()[:16]
    return Path(cache_dir) / "features" / safe_name(corpus.name) / f"{safe_name(extractor.name)}-{digest}.npz"


def key_json(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=repr)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "_"


# -- the identity of an utterance's media files -----------------------------------------------
#: the stamp part of a file that could not be stat'ed
MISSING = "-"


def media_paths(utterance: Utterance, modality: str) -> tuple[Path, ...]:
    """The files an extractor of ``modality`` reads: the audio file, the video, or both (each once)."""
    parts = {"audio": utterance.audio_path, "visual": utterance.video_path}
    paths: list[Path] = []
    for part in modality_parts(modality):
        path = parts[part]
        if path is not None and Path(path) not in paths:
            paths.append(Path(path))
    return tuple(paths)


def media_stamp(paths: tuple[Path, ...]) -> str:
    """``size:mtime_ns`` of each file (``-`` for one that cannot be stat'ed), joined by ``|``; a stat,
    never an open."""
    parts = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            parts.append(MISSING)
        else:
            parts.append(f"{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def media_digest(paths: tuple[Path, ...]) -> str:
    """The SHA-256 of the files' bytes, in order (hex); ``""`` when one cannot be read."""
    digest = hashlib.sha256()
    try:
        for path in paths:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            digest.update(b"\0")
    except OSError:
        return ""
    return digest.hexdigest()


def same_files(recorded: str, current: str) -> bool:
    """Whether the files stamped ``recorded`` are still those stamped ``current``: the same stamps,
    except that a file that is gone keeps its outcome (nothing newer exists to extract from)."""
    if recorded == current:
        return True
    old, new = recorded.split("|"), current.split("|")
    return len(old) == len(new) and all(n in (o, MISSING) for o, n in zip(old, new, strict=True))


@dataclass
class Entries:
    """The cached outcome of every utterance processed so far (id -> row / failure / warnings),
    with the stamp and digest of the media it came from."""

    rows: dict[str, np.ndarray] = field(default_factory=dict)
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (path, reason)
    notes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # id -> [(path, msg)]
    stamps: dict[str, str] = field(default_factory=dict)  # id -> media_stamp when extracted
    digests: dict[str, str] = field(default_factory=dict)  # id -> media_digest of what was extracted

    def __contains__(self, uid: str) -> bool:
        return uid in self.rows or uid in self.failures

    def drop(self, uid: str) -> None:
        for table in (self.rows, self.failures, self.notes, self.stamps, self.digests):
            table.pop(uid, None)

    @property
    def dim(self) -> int | None:
        return next((len(v) for v in self.rows.values()), None)


def load_entries(path: Path, key: dict[str, Any]) -> Entries:
    """Read a cache file; an unreadable or mismatched one is ignored (and later overwritten)."""
    if not path.exists():
        return Entries()
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key_json(key):
                return Entries()
            ids = z["ids"].tolist()
            X = z["X"]
            entries = Entries(rows={u: X[i] for i, u in enumerate(ids)})
            entries.stamps = dict(zip(ids, z["stamps"].tolist(), strict=True))
            entries.digests = dict(zip(ids, z["digests"].tolist(), strict=True))
            col = {name: z[name].tolist() for name in z.files if name.startswith(("fail_", "note_"))}
            failed = zip(
                col["fail_ids"],
                col["fail_paths"],
                col["fail_reasons"],
                col["fail_stamps"],
                col["fail_digests"],
                strict=True,
            )
            for u, p, r, stamp, digest in failed:
                entries.failures[u] = (p, r)
                entries.stamps[u], entries.digests[u] = stamp, digest
            for u, p, m in zip(col["note_ids"], col["note_paths"], col["note_msgs"], strict=True):
                entries.notes.setdefault(u, []).append((p, m))
            return entries
    except Exception as exc:  # a damaged cache costs a recomputation, never a crash
        warnings.warn(f"ignoring unreadable feature cache {path}: {exc}", RuntimeWarning, stacklevel=3)
        return Entries()


def save_entries(path: Path, key: dict[str, Any], entries: Entries) -> bool:
    """Write atomically (temp file + rename) so a crash mid-write never leaves a broken cache."""
    ids = list(entries.rows)
    dim = entries.dim or 0
    X = np.stack([entries.rows[u] for u in ids]) if ids else np.zeros((0, dim), np.float32)
    note_items = [(u, p, m) for u, ns in entries.notes.items() for p, m in ns]
    failed = list(entries.failures)
    arrays = {
        "key": np.array(key_json(key)),
        "ids": np.array(ids, dtype=str),
        "X": X.astype(np.float32, copy=False),
        "stamps": np.array([entries.stamps.get(u, "") for u in ids], dtype=str),
        "digests": np.array([entries.digests.get(u, "") for u in ids], dtype=str),
        "fail_ids": np.array(failed, dtype=str),
        "fail_paths": np.array([p for p, _ in entries.failures.values()], dtype=str),
        "fail_reasons": np.array([r for _, r in entries.failures.values()], dtype=str),
        "fail_stamps": np.array([entries.stamps.get(u, "") for u in failed], dtype=str),
        "fail_digests": np.array([entries.digests.get(u, "") for u in failed], dtype=str),
        "note_ids": np.array([u for u, _, _ in note_items], dtype=str),
        "note_paths": np.array([p for _, p, _ in note_items], dtype=str),
        "note_msgs": np.array([m for _, _, m in note_items], dtype=str),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp.npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True
    except OSError as exc:
        warnings.warn(f"could not write feature cache {path}: {exc}", RuntimeWarning, stacklevel=3)
        return False
