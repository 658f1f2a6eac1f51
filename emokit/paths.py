"""Deprecated: the cache and data folders moved to :mod:`emokit.folders`."""

from emokit import folders as _folders
from emokit._deprecated import forward_to

__getattr__ = forward_to(__name__, _folders)
