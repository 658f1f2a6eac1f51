"""FDAN (cross-modal feature distribution adaptation, Li et al. 2024) as the ``fdan`` method."""

from __future__ import annotations

from emokit.api import hookimpl
from emokit_plugins.fdan.method import FDAN


@hookimpl
def emokit_register_methods() -> list:
    return [FDAN()]
