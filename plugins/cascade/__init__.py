"""Cascade fine-tuning (``cascade``) and its single-stage comparison on pooled data (``pooled``)."""

from __future__ import annotations

from emokit.api import hookimpl
from emokit_plugins.cascade.method import Cascade, Pooled


@hookimpl
def emokit_register_methods() -> list:
    return [Cascade(), Pooled()]
