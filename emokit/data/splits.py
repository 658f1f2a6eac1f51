"""Speaker-independent splits: no speaker is ever in two of train, validation and test.

Model selection happens on the validation speakers, carved out of the training side; the test
speakers are touched only to score the final model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class SplitError(ValueError):
    """A corpus has too few speakers for the requested split."""


@dataclass(frozen=True)
class SpeakerSplit:
    """Disjoint speaker sets of one corpus."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        groups = {"train": set(self.train), "val": set(self.val), "test": set(self.test)}
        names = list(groups)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                shared = groups[a] & groups[b]
                if shared:
                    raise SplitError(f"speakers {sorted(shared)} are in both {a} and {b}")

    def part_of(self, speaker: str) -> str:
        """``"train"``, ``"val"`` or ``"test"`` for ``speaker``; ``KeyError`` if in none."""
        for part in ("train", "val", "test"):
            if speaker in getattr(self, part):
                return part
        raise KeyError(speaker)


def _count(n: int, fraction: float) -> int:
    return max(1, round(n * fraction))


def split_speakers(
    speakers: Sequence[str],
    *,
    seed: int,
    test_fraction: float = 0.25,
    val_fraction: float = 0.2,
    with_test: bool = True,
    corpus: str = "corpus",
    min_train_speakers: int = 3,
) -> SpeakerSplit:
    """Split ``speakers`` at random (seeded) into train, validation and (optionally) test.

    Each part gets at least one speaker; the fractions are of all speakers. A target corpus is
    split three ways; a source corpus (``with_test=False``) into train and validation only.

    A corpus too small to keep ``min_train_speakers`` training speakers beside a validation
    speaker (SAVEE has four speakers in all) gets no validation speakers (``val == ()``): its
    validation rows are then carved from the training speakers' utterances
    (:func:`validation_rows`), since two training speakers are too few to learn anything that
    generalises to a new speaker. Train and test speakers stay disjoint either way.

    Raises:
        SplitError: fewer speakers than parts (3 with a test split, 2 without), naming ``corpus``.
    """
    unique = sorted(set(speakers))
    parts = 3 if with_test else 2
    if len(unique) < parts:
        raise SplitError(
            f"{corpus}: a speaker-independent split needs at least {parts} speakers, found "
            f"{len(unique)} ({', '.join(unique) or 'none'})"
        )
    for name, value in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {value}")
    order = list(np.random.default_rng(seed).permutation(len(unique)))
    shuffled = [unique[i] for i in order]
    n = len(unique)
    n_test = _count(n, test_fraction) if with_test else 0
    n_val = _count(n, val_fraction)
    # keep at least one training speaker whatever the fractions say
    while n - n_test - n_val < 1:
        if n_test > 1 and n_test >= n_val:
            n_test -= 1
        elif n_val > 1:
            n_val -= 1
        else:  # pragma: no cover - excluded by the speaker-count check above
            raise SplitError(f"{corpus}: cannot split {n} speakers")
    if n - n_test - n_val < min_train_speakers:
        n_val = 0
    test = tuple(sorted(shuffled[:n_test]))
    val = tuple(sorted(shuffled[n_test : n_test + n_val]))
    train = tuple(sorted(shuffled[n_test + n_val :]))
    return SpeakerSplit(train=train, val=val, test=test)


def validation_rows(labels: np.ndarray, *, seed: int, fraction: float = 0.2) -> np.ndarray:
    """A seeded, class-stratified boolean mask picking ``fraction`` of the rows for validation.

    Used when a split has no validation speakers (see :func:`split_speakers`): every class keeps
    at least one training row and, where it has two or more rows, gives one to validation.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        if len(rows) < 2:
            continue
        take = min(len(rows) - 1, max(1, round(len(rows) * fraction)))
        mask[rng.choice(rows, size=take, replace=False)] = True
    return mask
