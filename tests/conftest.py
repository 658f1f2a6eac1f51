"""Shared fixtures: every test run uses its own emokit cache, never the user's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point EMOKIT_CACHE at a session temp folder (simulated corpora are generated once per run)."""
    cache = tmp_path_factory.mktemp("emokit-cache")
    old = os.environ.get("EMOKIT_CACHE")
    os.environ["EMOKIT_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("EMOKIT_CACHE", None)
    else:
        os.environ["EMOKIT_CACHE"] = old
