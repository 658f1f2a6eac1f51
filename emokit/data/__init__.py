"""Corpus model, label harmonisation, speaker-independent splits and media reading."""

from emokit.data.corpus import Corpus, LoadProblem, Utterance
from emokit.data.datasets import DataLayoutError, DatasetProvider, LoadContext
from emokit.data.labels import COMMON_LABELS, harmonise, shared_labels

__all__ = [
    "COMMON_LABELS",
    "Corpus",
    "DataLayoutError",
    "DatasetProvider",
    "LoadContext",
    "LoadProblem",
    "Utterance",
    "harmonise",
    "shared_labels",
]
