"""Feature-extractor interface and the on-disk feature cache."""

from emokit.features.base import FeatureExtractor, MediaReadError

__all__ = ["FeatureExtractor", "MediaReadError"]
