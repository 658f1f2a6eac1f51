"""emokit: measure how well emotion-recognition models transfer from one corpus to another."""

from emokit._version import __version__
from emokit.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]
