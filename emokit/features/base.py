"""Deprecated: the extractor interface moved to :mod:`emokit.features.extractor`, and
:class:`MediaReadError` to :mod:`emokit.data.media` (both are in :mod:`emokit.api`)."""

from emokit._deprecated import forward_to
from emokit.data import media as _media
from emokit.features import extractor as _extractor

__getattr__ = forward_to(__name__, (_extractor, _media))
