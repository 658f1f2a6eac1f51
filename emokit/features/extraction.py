"""Extracting utterances, one by one or in a process pool: each gives a vector, a media failure or a bug."""

from __future__ import annotations

import signal
import warnings
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from emokit.data.corpus import Utterance
from emokit.data.media import MediaReadError
from emokit.features.extractor import FeatureExtractor
from emokit.features.store import media_digest, media_paths
from emokit.features.table import FeatureWarning

#: below this many files a process pool costs more to start (~2 s) than it saves.
MIN_FILES_FOR_POOL = 16


# -- extraction of one utterance ---------------------------------------------------------------
@dataclass
class Outcome:
    uid: str
    path: str
    vector: np.ndarray | None = None
    error: str | None = None
    cacheable: bool = True  # media errors are; unexpected exceptions are not
    notes: list[str] = field(default_factory=list)
    digest: str = ""  # media_digest of the files read


def media_path(utterance: Utterance, modality: str) -> Path | None:
    """The file a problem is reported against (the video for audiovisual features)."""
    return utterance.audio_path if modality == "audio" else utterance.video_path


def _outcome(extractor: FeatureExtractor, utterance: Utterance) -> Outcome:
    path = str(media_path(utterance, extractor.modality))
    return Outcome(
        uid=utterance.id, path=path, digest=media_digest(media_paths(utterance, extractor.modality))
    )


def _media_error(out: Outcome, exc: MediaReadError) -> Outcome:
    out.error = str(exc).removeprefix(f"{out.path}: ")  # LoadProblem prints the path itself
    return out


def _bug(out: Outcome, extractor: FeatureExtractor, exc: Exception) -> Outcome:
    out.error = f"{extractor.name} failed: {type(exc).__name__}: {exc}"
    out.cacheable = False
    return out


def _notes(caught: list[warnings.WarningMessage]) -> list[str]:
    """The FeatureWarnings among ``caught``; other warnings go back to the caller's filters."""
    notes = []
    for w in caught:
        if issubclass(w.category, FeatureWarning):
            notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return notes


def extract_one(extractor: FeatureExtractor, utterance: Utterance) -> Outcome:
    out = _outcome(extractor, utterance)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FeatureWarning)
        try:
            vector = extractor.extract(utterance)
        except MediaReadError as exc:
            return _media_error(out, exc)
        except Exception as exc:
            return _bug(out, extractor, exc)
    out.notes = _notes(caught)
    return _checked(out, extractor, vector)


def extract_batch(extractor: FeatureExtractor, utterances: list[Utterance]) -> list[Outcome]:
    """The outcomes of one :meth:`FeatureExtractor.extract_batch` call. A FeatureWarning is noted
    against the utterance when the batch holds one; from a larger batch, where it cannot be
    attributed to a file, it is passed on as a warning."""
    outs = [_outcome(extractor, u) for u in utterances]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FeatureWarning)
        try:
            results = list(extractor.extract_batch(list(utterances)))
        except Exception as exc:  # the batch as a whole failed: a bug, not one bad file
            return [_bug(out, extractor, exc) for out in outs]
    notes = _notes(caught)
    if len(outs) > 1:
        for note in notes:
            message = f"{extractor.name}, batch of {len(outs)} files: {note}"
            warnings.warn(FeatureWarning(message), stacklevel=2)
        notes = []
    if len(results) != len(outs):
        error = ValueError(f"extract_batch returned {len(results)} entries for {len(outs)} utterances")
        return [_bug(out, extractor, error) for out in outs]
    checked = []
    for out, result in zip(outs, results, strict=True):
        if isinstance(result, MediaReadError):
            checked.append(_media_error(out, result))
        elif isinstance(result, BaseException):
            checked.append(_bug(out, extractor, result))  # type: ignore[arg-type]
        else:
            out.notes = list(notes)
            checked.append(_checked(out, extractor, result))
    return checked


def _checked(out: Outcome, extractor: FeatureExtractor, vector: np.ndarray) -> Outcome:
    """``out`` with ``vector`` if it is a finite, non-empty 1-D vector, else with the error."""
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


def init_worker(extractor: FeatureExtractor) -> None:
    global _WORKER_EXTRACTOR
    _WORKER_EXTRACTOR = extractor
    # Ctrl-C reaches the whole process group: let the parent alone stop, checkpoint and shut down
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def extract_in_worker(utterance: Utterance) -> Outcome:
    assert _WORKER_EXTRACTOR is not None
    return extract_one(_WORKER_EXTRACTOR, utterance)


def extract_all(extractor: FeatureExtractor, todo: list[Utterance], jobs: int) -> Iterator[Outcome]:
    """Outcomes in completion order (serial, in batches for an extractor with ``batch_size > 1``,
    or from a pool of ``jobs`` processes)."""
    if extractor.batch_size > 1:
        for start in range(0, len(todo), extractor.batch_size):
            yield from extract_batch(extractor, todo[start : start + extractor.batch_size])
        return
    if jobs <= 1 or len(todo) < max(2, MIN_FILES_FOR_POOL):
        for u in todo:
            yield extract_one(extractor, u)
        return
    # spawn, not fork: the parent may hold torch/OpenMP threads that do not survive a fork
    ctx = get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=init_worker, initargs=(extractor,)) as pool:
        pending: set[Future] = set()
        queue = iter(todo)
        try:
            for u in queue:  # keep a bounded window in flight so an interrupt cancels little
                pending.add(pool.submit(extract_in_worker, u))
                if len(pending) >= 4 * jobs:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.add(pool.submit(extract_in_worker, nxt))
        finally:
            for fut in pending:
                fut.cancel()
