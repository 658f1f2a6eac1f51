"""Shared fixtures: every test run uses its own emokit cache, never the user's; bench runs default
to one job (in the test process, where a test can look at its methods' state), and the tests of
worker processes and Ray say ``--jobs`` themselves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("EMOKIT_JOBS", "1")


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
