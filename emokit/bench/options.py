"""Deprecated: moved to :mod:`emokit.methods.options` (plugins import from :mod:`emokit.api`)."""

from emokit._deprecated import forward_to
from emokit.methods import options as _new

__getattr__ = forward_to(__name__, _new)
