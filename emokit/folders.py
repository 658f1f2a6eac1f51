"""Where emokit keeps its folders on disk: the cache (generated corpora, features) and the data root."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    """The user cache directory (``EMOKIT_CACHE`` overrides the platform default)."""
    override = os.environ.get("EMOKIT_CACHE")
    root = Path(override).expanduser() if override else Path(platformdirs.user_cache_dir("emokit"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def data_root_from_env() -> Path | None:
    """The folder holding real corpora, from ``EMOKIT_DATA``, or ``None``."""
    value = os.environ.get("EMOKIT_DATA")
    return Path(value).expanduser() if value else None
