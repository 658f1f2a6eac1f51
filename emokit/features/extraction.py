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


def extract_one(extractor: FeatureExtractor, utterance: Utterance) -> Outcome:
    path = str(media_path(utterance, extractor.modality))
    out = Outcome(
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


def init_worker(extractor: FeatureExtractor) -> None:
    global _WORKER_EXTRACTOR
    _WORKER_EXTRACTOR = extractor
    # Ctrl-C reaches the whole process group: let the parent alone stop, checkpoint and shut down
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def extract_in_worker(utterance: Utterance) -> Outcome:
    assert _WORKER_EXTRACTOR is not None
    return extract_one(_WORKER_EXTRACTOR, utterance)


def extract_all(extractor: FeatureExtractor, todo: list[Utterance], jobs: int) -> Iterator[Outcome]:
    """Outcomes in completion order (serial, or from a pool of ``jobs`` processes)."""
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
