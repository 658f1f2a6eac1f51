"""Deprecated: the dataset-provider interface moved to :mod:`emokit.data.provider` (and :mod:`emokit.api`)."""

from emokit._deprecated import forward_to
from emokit.data import provider as _provider

__getattr__ = forward_to(__name__, _provider)
