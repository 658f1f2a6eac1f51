"""Feature-extractor interface and the on-disk feature cache."""

from emokit.features.base import FeatureExtractor, MediaReadError
from emokit.features.cache import FeatureTable, FeatureWarning, compute_features

__all__ = ["FeatureExtractor", "FeatureTable", "FeatureWarning", "MediaReadError", "compute_features"]
