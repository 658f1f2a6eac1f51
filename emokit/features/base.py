"""Deprecated: the extractor interface moved to :mod:`emokit.features.extractor` (and :mod:`emokit.api`)."""

from emokit._deprecated import forward_to
from emokit.features import extractor as _extractor

__getattr__ = forward_to(__name__, _extractor)
