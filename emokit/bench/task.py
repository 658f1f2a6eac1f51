"""Deprecated: moved to :mod:`emokit.methods.task` (plugins import from :mod:`emokit.api`)."""

from emokit import methods as _new
from emokit._deprecated import forward_to

__getattr__ = forward_to(__name__, _new)
