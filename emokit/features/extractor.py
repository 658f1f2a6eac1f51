"""The feature-extractor interface that feature plugins implement (:class:`FeatureExtractor`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from emokit.data.corpus import Utterance


class FeatureExtractor(ABC):
    """Turns one utterance into a fixed-length float32 vector.

    Subclasses set the class attributes and implement :meth:`extract`. The feature cache
    (:mod:`emokit.features.cache`) keys on :attr:`name`, :attr:`version` and :meth:`params`, so
    any change to what the extractor computes must show in one of them.
    """

    #: the name users type (``--features NAME``).
    name: str = ""
    #: ``"audio"``, ``"visual"`` or ``"audiovisual"`` (it reads both media of an utterance).
    modality: str = "audio"
    #: one line shown by ``emokit list``.
    description: str = ""
    #: bump when the computation changes, to invalidate cached features.
    version: str = "1"

    def params(self) -> dict[str, Any]:
        """The parameters that determine the output (part of the cache key)."""
        return {}

    def layout(self) -> dict[str, tuple[int, ...]] | None:
        """How the vector is made of parts, for methods that need its structure: each part's name
        and shape in order (e.g. ``{"face": (1, 48, 48), "logmel": (1, 64, 128)}``), or ``None``
        for a plain feature vector (the default). Methods get it as ``TransferTask.feature_layout``.
        """
        return None

    @abstractmethod
    def extract(self, utterance: Utterance) -> np.ndarray:
        """Return a 1-D float32 feature vector for ``utterance``.

        Raise :class:`MediaReadError` (naming the file) when its media cannot be read; the
        caller reports the file and skips it.
        """
