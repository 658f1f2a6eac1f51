"""Feature-extractor interface and the on-disk feature cache."""

from emokit.data.media import MediaReadError
from emokit.features.cache import FeatureTable, FeatureWarning, compute_features
from emokit.features.extractor import FeatureExtractor

__all__ = ["FeatureExtractor", "FeatureTable", "FeatureWarning", "MediaReadError", "compute_features"]
