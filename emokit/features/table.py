"""What feature extraction gives back: a :class:`FeatureTable`, and the warnings and errors it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emokit.data.corpus import LoadProblem


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
