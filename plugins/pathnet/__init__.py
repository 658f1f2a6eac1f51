"""PathNet meta-transfer as the ``pathnet`` method (the model and search live in :mod:`emokit.pathnet`)."""

from __future__ import annotations

from emokit import hookimpl
from emokit_plugins.pathnet.method import PathNetMethod


@hookimpl
def emokit_register_methods() -> list:
    return [PathNetMethod()]
