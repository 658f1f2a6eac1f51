"""Compute one feature vector per utterance, with an on-disk cache that survives interruptions.

:func:`compute_features` turns a corpus into a :class:`FeatureTable` (ids, float32 matrix, and
the files that failed). Results are cached per (corpus name, corpus fingerprint, extractor name,
version, params) under ``<cache_dir>/features/<corpus>/<extractor>-<hash>.npz``:

- the cache is filled incrementally and written every few seconds and on any exit (including
  Ctrl-C), so an interrupted extraction resumes where it stopped;
- a call whose utterances are all cached opens no media file;
- each row (and each cached failure) is stamped with the identity of the media file(s) its
  extractor reads: size and modification time (a ``stat``), and the SHA-256 of the bytes that were
  extracted. A file whose size or modification time changed is re-hashed: same bytes (touched,
  copied, regenerated identically) keep the row, other bytes drop it and it is extracted again,
  alone. A file that no longer exists keeps its row (there is nothing newer to extract from);
- files that fail with :class:`~emokit.features.MediaReadError` are cached as failures too, so a
  corrupt file is reported again without decoding it; a new corpus fingerprint, or a change to the
  file, retries them. Other exceptions (likely an extractor bug) are reported but not cached.

Extractors may flag a usable-but-doubtful result by issuing a :class:`FeatureWarning` (e.g. the
face extractor when it falls back to a centre crop); those come back as ``LoadProblem`` entries
with ``skipped=False``, cached like the vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from emokit.data.corpus import Corpus, LoadProblem, Utterance, modality_parts, provides
from emokit.data.media import MediaReadError
from emokit.features.extractor import FeatureExtractor

#: bump when the layout of the cache files changes (2: per-row media stamps and digests).
CACHE_FORMAT = 2
#: seconds between checkpoints of a running extraction.
CHECKPOINT_SECONDS = 10.0
#: below this many files a process pool costs more to start (~2 s) than it saves.
MIN_FILES_FOR_POOL = 16
#: unexpected (non-media) errors tolerated before the first success, before declaring a bug.
MAX_UNEXPECTED_BEFORE_SUCCESS = 5

ProgressCallback = Callable[[str, int, int], None]


class FeatureWarning(UserWarning):
    """Issued by an extractor (``warnings.warn(FeatureWarning(...))``) for a usable but doubtful
    vector; :func:`compute_features` records it against the utterance's file."""


class FeatureDimensionError(ValueError):
    """An extractor returned vectors of different lengths; the message names the file."""


@dataclass
class FeatureTable:
    """Feature vectors of a corpus's utterances.

    Attributes:
        ids: utterance ids (``str``), in corpus order, one per row of ``X``.
        X: float32 ``[n, d]``.
        problems: files that failed (``skipped=True``, not in ``ids``) and files whose vector
            was kept with a warning (``skipped=False``), each naming the file and the reason.
        extractor: the extractor's name.
        cache_file: where the rows are cached (``None`` when nothing could be written).
        n_computed: rows and failures computed by this call (the rest came from the cache).
        n_changed: of those, how many were cached but recomputed because their media file changed.
    """

    ids: np.ndarray
    X: np.ndarray
    problems: list[LoadProblem] = field(default_factory=list)
    extractor: str = ""
    cache_file: Path | None = None
    n_computed: int = 0
    n_changed: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        """Feature dimension ``d``."""
        return int(self.X.shape[1])

    @property
    def failed(self) -> list[LoadProblem]:
        """Files that produced no vector."""
        return [p for p in self.problems if p.skipped]

    @property
    def warnings(self) -> list[LoadProblem]:
        """Files whose vector was kept with a warning."""
        return [p for p in self.problems if not p.skipped]

    def rows(self, ids: list[str] | np.ndarray) -> np.ndarray:
        """The rows of ``X`` for ``ids`` (a ``KeyError`` names the first missing id)."""
        index = {u: i for i, u in enumerate(self.ids.tolist())}
        missing = [u for u in ids if u not in index]
        if missing:
            raise KeyError(f"{len(missing)} id(s) have no features in this table, e.g. {missing[0]!r}")
        return self.X[[index[u] for u in ids]]


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
    digest = hashlib.sha256(_key_json(cache_key(corpus, extractor)).encode()).hexdigest()[:16]
    return Path(cache_dir) / "features" / _safe(corpus.name) / f"{_safe(extractor.name)}-{digest}.npz"


def _key_json(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=repr)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "_"


# -- the identity of an utterance's media files -----------------------------------------------
#: the stamp part of a file that could not be stat'ed
_MISSING = "-"


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
            parts.append(_MISSING)
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


def _same_files(recorded: str, current: str) -> bool:
    """Whether the files stamped ``recorded`` are still those stamped ``current``: the same stamps,
    except that a file that is gone keeps its outcome (nothing newer exists to extract from)."""
    if recorded == current:
        return True
    old, new = recorded.split("|"), current.split("|")
    return len(old) == len(new) and all(n in (o, _MISSING) for o, n in zip(old, new, strict=True))


@dataclass
class _Entries:
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


def _load_entries(path: Path, key: dict[str, Any]) -> _Entries:
    """Read a cache file; an unreadable or mismatched one is ignored (and later overwritten)."""
    if not path.exists():
        return _Entries()
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != _key_json(key):
                return _Entries()
            ids = z["ids"].tolist()
            X = z["X"]
            entries = _Entries(rows={u: X[i] for i, u in enumerate(ids)})
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
        return _Entries()


def _save_entries(path: Path, key: dict[str, Any], entries: _Entries) -> bool:
    """Write atomically (temp file + rename) so a crash mid-write never leaves a broken cache."""
    ids = list(entries.rows)
    dim = entries.dim or 0
    X = np.stack([entries.rows[u] for u in ids]) if ids else np.zeros((0, dim), np.float32)
    note_items = [(u, p, m) for u, ns in entries.notes.items() for p, m in ns]
    failed = list(entries.failures)
    arrays = {
        "key": np.array(_key_json(key)),
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


# -- extraction of one utterance ---------------------------------------------------------------
@dataclass
class _Outcome:
    uid: str
    path: str
    vector: np.ndarray | None = None
    error: str | None = None
    cacheable: bool = True  # media errors are; unexpected exceptions are not
    notes: list[str] = field(default_factory=list)
    digest: str = ""  # media_digest of the files read


def _media_path(utterance: Utterance, modality: str) -> Path | None:
    """The file a problem is reported against (the video for audiovisual features)."""
    return utterance.audio_path if modality == "audio" else utterance.video_path


def _extract_one(extractor: FeatureExtractor, utterance: Utterance) -> _Outcome:
    path = str(_media_path(utterance, extractor.modality))
    out = _Outcome(
        uid=utterance.id, path=path, digest=media_digest(media_paths(utterance, extractor.modality))
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FeatureWarning)
        try:
            vector = extractor.extract(utterance)
        except MediaReadError as exc:
            out.error = str(exc).removeprefix(f"{path}: ")  # LoadProblem prints the path itself
            return out
        except Exception as exc:
            out.error = f"{extractor.name} failed: {type(exc).__name__}: {exc}"
            out.cacheable = False
            return out
    for w in caught:
        if issubclass(w.category, FeatureWarning):
            out.notes.append(str(w.message))
        else:  # leave unrelated warnings to the caller's filters
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    vector = np.asarray(vector)
    if vector.ndim != 1 or vector.size == 0:
        out.error = f"{extractor.name} returned shape {vector.shape}, expected a non-empty 1-D vector"
        out.cacheable = False
    elif not np.all(np.isfinite(vector)):
        out.error = f"{extractor.name} produced {int(np.sum(~np.isfinite(vector)))} NaN/infinite values"
    else:
        out.vector = vector.astype(np.float32, copy=False)
    return out


_WORKER_EXTRACTOR: FeatureExtractor | None = None


def _init_worker(extractor: FeatureExtractor) -> None:
    global _WORKER_EXTRACTOR
    _WORKER_EXTRACTOR = extractor
    # Ctrl-C reaches the whole process group: let the parent alone stop, checkpoint and shut down
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _extract_in_worker(utterance: Utterance) -> _Outcome:
    assert _WORKER_EXTRACTOR is not None
    return _extract_one(_WORKER_EXTRACTOR, utterance)


def _outcomes(extractor: FeatureExtractor, todo: list[Utterance], jobs: int) -> Iterator[_Outcome]:
    """Outcomes in completion order (serial, or from a pool of ``jobs`` processes)."""
    if jobs <= 1 or len(todo) < max(2, MIN_FILES_FOR_POOL):
        for u in todo:
            yield _extract_one(extractor, u)
        return
    # spawn, not fork: the parent may hold torch/OpenMP threads that do not survive a fork
    ctx = get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(extractor,)) as pool:
        pending: set[Future] = set()
        queue = iter(todo)
        try:
            for u in queue:  # keep a bounded window in flight so an interrupt cancels little
                pending.add(pool.submit(_extract_in_worker, u))
                if len(pending) >= 4 * jobs:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.add(pool.submit(_extract_in_worker, nxt))
        finally:
            for fut in pending:
                fut.cancel()


# -- the public entry point --------------------------------------------------------------------
def compute_features(
    corpus: Corpus,
    extractor: FeatureExtractor,
    *,
    cache_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    jobs: int = 1,
    use_cache: bool = True,
) -> FeatureTable:
    """Extract ``extractor``'s features for every utterance of ``corpus`` carrying its modality.

    Args:
        corpus: the utterances (pass a filtered corpus, e.g. ``corpus.with_modality("visual")``,
            to process a subset; cached rows of other utterances are kept on disk).
        extractor: a registered :class:`FeatureExtractor`.
        cache_dir: root of the cache (``emokit.folders.cache_dir()`` by default); the file lives
            under ``cache_dir/"features"``.
        progress: called as ``progress(description, done, total)`` as utterances finish; it
            may raise ``KeyboardInterrupt`` to stop (what finished is kept).
        jobs: worker processes; 1 (the default) extracts in this process. More uses a pool of
            spawned processes, which takes about 2 s to start and pays off from a few hundred
            files (eGeMAPS and face crops ran 1.2-1.5x faster with 2 jobs on a busy 2-core
            machine); a script that sets it must guard its entry point with
            ``if __name__ == "__main__":``.
        use_cache: ``False`` computes everything and writes nothing.

    Returns:
        A :class:`FeatureTable` in corpus order; utterances that failed, or that lack the
        extractor's modality, are listed in ``problems`` and have no row.

    Raises:
        ValueError: the corpus provides no data of the extractor's modality, ids repeat, or
            ``jobs < 1``.
        FeatureDimensionError: the extractor returned vectors of different lengths.
        RuntimeError: every attempt so far failed with an unexpected exception (a bug in the
            extractor rather than bad files).
    """
    modality = extractor.modality
    if not provides(corpus.modalities, modality):
        raise ValueError(
            f"feature {extractor.name!r} needs {modality} data, but corpus {corpus.name!r} provides "
            f"only {', '.join(corpus.modalities) or 'nothing'}; choose a feature for "
            f"{' or '.join(corpus.modalities)}"
        )
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    seen: set[str] = set()
    for u in corpus.utterances:
        if u.id in seen:
            raise ValueError(f"corpus {corpus.name!r} has two utterances with id {u.id!r} (must be unique)")
        seen.add(u.id)

    problems: list[LoadProblem] = []
    usable = []
    for u in corpus.utterances:
        if u.has(modality):
            usable.append(u)
        else:
            where = u.audio_path or u.video_path or Path(u.id)
            problems.append(LoadProblem(Path(where), f"utterance {u.id!r} has no {modality} file"))

    key = cache_key(corpus, extractor)
    path = cache_path(corpus, extractor, cache_dir) if use_cache else None
    entries = _load_entries(path, key) if path is not None else _Entries()
    stamps = {u.id: media_stamp(media_paths(u, modality)) for u in usable}
    n_changed, refreshed = _revalidate(entries, usable, modality, stamps)
    todo = [u for u in usable if u.id not in entries]
    description = f"{extractor.name} features of {corpus.name}"
    n_computed = 0
    if todo:
        n_computed = _run(
            extractor, todo, entries, stamps, path, key, description, progress, jobs, problems, refreshed
        )
    else:
        if path is not None and refreshed:
            _save_entries(path, key, entries)
        if progress is not None:
            progress(description, len(usable), len(usable))

    ids, rows = [], []
    for u in usable:
        for p, msg in entries.notes.get(u.id, []):
            problems.append(LoadProblem(Path(p), msg, skipped=False))
        if u.id in entries.rows:
            ids.append(u.id)
            rows.append(entries.rows[u.id])
        elif u.id in entries.failures:
            p, reason = entries.failures[u.id]
            problems.append(LoadProblem(Path(p), reason))
    dim = entries.dim or 0
    X = np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, dim), np.float32)
    return FeatureTable(
        ids=np.array(ids, dtype=str),
        X=X,
        problems=problems,
        extractor=extractor.name,
        cache_file=path if path is not None and path.exists() else None,
        n_computed=n_computed,
        n_changed=n_changed,
    )


def _revalidate(
    entries: _Entries, usable: list[Utterance], modality: str, stamps: dict[str, str]
) -> tuple[int, bool]:
    """Drop the cached outcomes of ``usable`` utterances whose media changed since extraction.

    A stamp that differs costs a hash of the file: the same bytes keep the outcome (with the new
    stamp), other bytes drop it. Returns how many were dropped and whether a stamp was renewed.
    """
    dropped, refreshed = 0, False
    for u in usable:
        if u.id not in entries or _same_files(entries.stamps.get(u.id, ""), stamps[u.id]):
            continue
        digest = media_digest(media_paths(u, modality))
        if digest and digest == entries.digests.get(u.id):
            entries.stamps[u.id] = stamps[u.id]
            refreshed = True
        else:
            entries.drop(u.id)
            dropped += 1
    return dropped, refreshed


def _run(
    extractor: FeatureExtractor,
    todo: list[Utterance],
    entries: _Entries,
    stamps: dict[str, str],
    path: Path | None,
    key: dict[str, Any],
    description: str,
    progress: ProgressCallback | None,
    jobs: int,
    problems: list[LoadProblem],
    dirty: bool = False,
) -> int:
    """Extract ``todo`` into ``entries``, checkpointing; returns how many were processed.

    ``stamps`` are the media stamps taken before extraction, recorded with each outcome (a file that
    changes meanwhile is re-checked next time); ``dirty``: ``entries`` already differ from the file.
    """
    total = len(todo)
    done = 0
    unexpected = 0
    last_save = time.monotonic()
    if progress is not None:
        progress(description, 0, total)
    outcomes = _outcomes(extractor, todo, jobs)
    try:
        for out in outcomes:
            done += 1
            if out.vector is not None:
                dim = entries.dim
                if dim is not None and len(out.vector) != dim:
                    raise FeatureDimensionError(
                        f"{out.path}: {extractor.name} returned {len(out.vector)} values, but earlier "
                        f"files gave {dim}; an extractor must return vectors of one length"
                    )
                entries.rows[out.uid] = out.vector
                if out.notes:
                    entries.notes[out.uid] = [(out.path, m) for m in out.notes]
                entries.stamps[out.uid], entries.digests[out.uid] = stamps[out.uid], out.digest
                dirty = True
            elif out.cacheable:
                entries.failures[out.uid] = (out.path, out.error or "unknown error")
                entries.stamps[out.uid], entries.digests[out.uid] = stamps[out.uid], out.digest
                dirty = True
            else:
                problems.append(LoadProblem(Path(out.path), out.error or "unknown error"))
                unexpected += 1
                if not entries.rows and unexpected >= MAX_UNEXPECTED_BEFORE_SUCCESS:
                    raise RuntimeError(
                        f"feature extractor {extractor.name!r} failed on the first {unexpected} files "
                        f"with unexpected errors (not unreadable media), last: {out.error}; this looks "
                        "like a bug in the extractor"
                    )
            if path is not None and dirty and time.monotonic() - last_save > CHECKPOINT_SECONDS:
                _save_entries(path, key, entries)
                dirty, last_save = False, time.monotonic()
            if progress is not None:
                progress(description, done, total)
    finally:  # also on Ctrl-C: keep everything finished so far
        outcomes.close()  # stops a worker pool now rather than at garbage collection
        if path is not None and dirty:
            _save_entries(path, key, entries)
    return done


__all__ = [
    "CACHE_FORMAT",
    "FeatureDimensionError",
    "FeatureTable",
    "FeatureWarning",
    "ProgressCallback",
    "cache_key",
    "cache_path",
    "compute_features",
    "corpus_fingerprint",
    "media_digest",
    "media_paths",
    "media_stamp",
]
