"""Deprecated: moved to :mod:`emokit.methods.normalisation` (plugins import from :mod:`emokit.api`)."""

from emokit._deprecated import forward_to
from emokit.methods import normalisation as _new

__getattr__ = forward_to(__name__, _new)
