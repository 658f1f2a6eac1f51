"""emokit: measure how well emotion-recognition models transfer from one corpus to another."""

from emokit.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
