"""Feature normalisation, applied by the runner before any method sees the data.

Every method of a run gets the same inputs, so differences come from the transfer method. The
schemes (``--norm``, or ``--option norm=...``):

- ``corpus`` (default): each corpus z-scored with the mean and std of its own training rows
  (features only, no labels): the usual cross-corpus strategy, which removes channel and
  speaker-pool offsets. For the target this uses every training speaker's features, also the rows
  outside a target budget; never the validation or test speakers.
- ``speaker``: each speaker z-scored with the statistics of its own utterances (unlabelled), the
  usual practice of speech emotion papers. A test speaker is standardised with its own test
  features: the method sees no label of it, but does see all of its features at once
  (transductive over the test speaker).
- ``source``: one scaler fitted on the sources' training rows applied to every corpus (the target
  included): uses no target data at all.
- ``none``: the features as extracted.

A method that declares ``raw_features = True`` gets ``none`` whatever the run asks for; each cell
records the scheme its method got.
"""

from __future__ import annotations

import numpy as np

from emokit.methods.task import CorpusSplits, SplitData, TransferTask

NORMALISATIONS = ("corpus", "speaker", "source", "none")

#: what each scheme takes from the target's unlabelled features (recorded per cell)
TARGET_DATA_USED = {
    "corpus": "mean and std of the target's training speakers' features (all of them, budgeted or not)",
    "speaker": "each target speaker's own features, the test speakers' included (unlabelled)",
    "source": "none (the sources' scaler is applied to the target)",
    "none": "none",
}


def check_scheme(scheme: str) -> str:
    """``scheme`` if it is one of :data:`NORMALISATIONS`, else a ``ValueError`` naming them."""
    if scheme not in NORMALISATIONS:
        raise ValueError(f"--norm {scheme!r}: expected one of {', '.join(NORMALISATIONS)}")
    return scheme


class _Scaler:
    """Per-feature z-scoring with statistics of the rows it was fitted on (float64 arithmetic)."""

    def __init__(self, X: np.ndarray) -> None:
        X = np.asarray(X, dtype=np.float64)
        if len(X) == 0:
            raise ValueError("cannot fit a normaliser on no rows")
        self.mean = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale = np.where(std > 1e-8, std, 1.0)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)


def _apply(split: SplitData | None, scaler: _Scaler) -> SplitData | None:
    return None if split is None else split.with_features(scaler(split.X))


def _per_speaker(split: SplitData | None) -> SplitData | None:
    if split is None or len(split) == 0:
        return split
    out = np.empty(split.X.shape, dtype=np.float32)
    for speaker in np.unique(split.speakers):
        rows = split.speakers == speaker
        out[rows] = _Scaler(split.X[rows])(split.X[rows])
    return split.with_features(out)


def _speaker_normalised(parts: list[SplitData | None]) -> list[SplitData | None]:
    """Speaker-normalise splits that may share speakers (train, val, unlabelled of one corpus):
    statistics over all of a speaker's rows in these parts together."""
    present = [p for p in parts if p is not None and len(p)]
    if not present:
        return parts
    X = np.concatenate([p.X for p in present])
    speakers = np.concatenate([p.speakers for p in present])
    out = np.empty(X.shape, dtype=np.float32)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        out[rows] = _Scaler(X[rows])(X[rows])
    result, start = [], 0
    for p in parts:
        if p is None or not len(p):
            result.append(p)
            continue
        result.append(p.with_features(out[start : start + len(p)]))
        start += len(p)
    return result


def normalise_task(task: TransferTask, scheme: str) -> TransferTask:
    """A copy of ``task`` whose features are normalised by ``scheme`` (see the module docstring).

    The corpus statistics come from each corpus's training rows (for the target, its labelled
    training rows and :attr:`TransferTask.unlabelled_target` together: all training speakers).
    """
    check_scheme(scheme)
    if scheme == "none":
        return _replace(task, task.sources, task.target, task.unlabelled_target, scheme)
    t = task.target
    if scheme == "speaker":
        sources = []
        for s in task.sources:
            train, val = _speaker_normalised([s.train, s.val])
            sources.append(CorpusSplits(train=train, val=val, test=_per_speaker(s.test)))
        train, val, unlabelled = _speaker_normalised([t.train, t.val, task.unlabelled_target])
        target = CorpusSplits(train=train, val=val, test=_per_speaker(t.test))
        return _replace(task, sources, target, unlabelled, scheme)
    if scheme == "source":
        scaler = _Scaler(np.concatenate([s.train.X for s in task.sources]))
        sources = [CorpusSplits(_apply(s.train, scaler), _apply(s.val, scaler)) for s in task.sources]
    else:
        sources = []
        for s in task.sources:
            scaler = _Scaler(s.train.X)
            sources.append(CorpusSplits(_apply(s.train, scaler), _apply(s.val, scaler)))
        target_rows = [t.train.X] + ([task.unlabelled_target.X] if task.unlabelled_target is not None else [])
        scaler = _Scaler(np.concatenate(target_rows))
    target = CorpusSplits(_apply(t.train, scaler), _apply(t.val, scaler), _apply(t.test, scaler))
    return _replace(task, sources, target, _apply(task.unlabelled_target, scaler), scheme)


def _replace(
    task: TransferTask,
    sources: list[CorpusSplits],
    target: CorpusSplits,
    unlabelled: SplitData | None,
    scheme: str,
) -> TransferTask:
    from dataclasses import replace

    return replace(task, sources=sources, target=target, unlabelled_target=unlabelled, normalisation=scheme)
