"""Corpus model, label harmonisation, speaker-independent splits and media reading."""

from emokit.data.corpus import SIMULATED_MARKER, Corpus, LoadProblem, Utterance, simulation_marker
from emokit.data.labels import COMMON_LABELS, harmonise, shared_labels
from emokit.data.provider import DataLayoutError, DatasetProvider, LoadContext

__all__ = [
    "COMMON_LABELS",
    "SIMULATED_MARKER",
    "Corpus",
    "DataLayoutError",
    "DatasetProvider",
    "LoadContext",
    "LoadProblem",
    "Utterance",
    "harmonise",
    "shared_labels",
    "simulation_marker",
]
