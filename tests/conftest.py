"""Shared set-up of the test suite (map: tests/README.md).

- Every test run uses its own emokit cache, never the user's.
- Bench runs default to one job (in the test process, where a test can look at its methods'
  state); the tests of worker processes and Ray say ``--jobs`` themselves.
- ``tests/`` is on ``sys.path``, so tests import their helpers as ``support.*`` (worker processes
  and Ray workers inherit the path).
- Two markers say what a test needs from the machine; without it the test is skipped, saying why:
  ``@pytest.mark.extension`` (emokit._C with kernels for ``device="cpu"``, the default, or
  ``device="cuda"``) and ``@pytest.mark.cuda`` (a visible GPU).
- ``registry``: every installed plugin, discovered once per test module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("EMOKIT_JOBS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.kernel_grid import extension_devices

BUILD_HINT = "pip install --no-build-isolation -e . builds it"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "extension(device='cpu'): needs emokit._C built with kernels for the device"
    )
    config.addinivalue_line("markers", "cuda: needs a visible CUDA GPU")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("extension"):
        device = marker.kwargs.get("device", marker.args[0] if marker.args else "cpu")
        if device not in extension_devices():
            pytest.skip(f"emokit._C has no {device} kernels here ({BUILD_HINT})")
    if item.get_closest_marker("cuda") is not None:
        import torch

        if not torch.cuda.is_available():
            pytest.skip("no CUDA GPU visible")


def _folder_in_env(tmp_path_factory: pytest.TempPathFactory, variable: str, prefix: str) -> Iterator[Path]:
    """A fresh session folder named by the environment ``variable`` while the session runs."""
    folder = tmp_path_factory.mktemp(prefix)
    old = os.environ.get(variable)
    os.environ[variable] = str(folder)
    yield folder
    if old is None:
        os.environ.pop(variable, None)
    else:
        os.environ[variable] = old


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point EMOKIT_CACHE at a session temp folder (simulated corpora are generated once per run)."""
    yield from _folder_in_env(tmp_path_factory, "EMOKIT_CACHE", "emokit-cache")


@pytest.fixture(scope="session", autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point EMOKIT_CONFIG at an empty session folder: the user's own manifest corpora
    (``emokit data add``) never enter the tests."""
    yield from _folder_in_env(tmp_path_factory, "EMOKIT_CONFIG", "emokit-config")


@pytest.fixture(scope="module")
def registry():
    """Every installed plugin (the built-ins at least), discovered once per test module (a method
    may keep state between runs, so modules do not share one)."""
    from emokit.registry import Registry

    return Registry.discover()


# -- every result file a test writes matches the result schema -----------------------------------
@pytest.fixture
def allow_invalid_results() -> None:
    """Ask for this in a test that writes a broken result file on purpose (a score out of range, a
    key deleted) that the loader still reads: the schema check below then leaves its files alone."""


def result_file_problems(folder: Path) -> list[str]:
    """Schema problems of the emokit result files (``bench-*.json`` holding ``format`` and cells)
    under ``folder``. A file the loader refuses (not JSON, a newer format, a cell without method) is
    skipped: tests write those on purpose, and the loader's own message is what they check. Files
    of formats 1 and 2 are checked as the loader upgrades them."""
    from emokit.bench.results import ResultFileError, load_results
    from emokit.results import RunResults
    from emokit.results.schema import validate

    problems: list[str] = []
    for path in sorted(folder.rglob("bench-*.json")):
        try:
            data = load_results(path)
        except ResultFileError:
            continue
        # no cell: a run stopped before its first one, or a test's placeholder with a toy config
        # (the top level of a file with cells is the same, and is checked there)
        if "format" not in data or not data["cells"]:
            continue
        # a format-3 file as written (the upgrade would fill in what it lacks), older ones upgraded
        found = validate(data if data["format"] == 3 else RunResults(path, data).data)
        problems += [f"{path}: {message}" for message in found[:20]]
        if len(found) > 20:
            problems.append(f"{path}: ... and {len(found) - 20} more")
    return problems


@pytest.fixture(autouse=True)
def _result_files_match_the_schema(request: pytest.FixtureRequest):
    """After a test that used ``tmp_path``, check every result file it left there against
    emokit/results/result.schema.json (milliseconds for the small files tests write)."""
    names = request.fixturenames
    if "tmp_path" not in names or "allow_invalid_results" in names:
        yield
        return
    # set up tmp_path before this fixture, so it is torn down after the check
    folder: Path = request.getfixturevalue("tmp_path")
    yield
    if folder.is_dir():
        problems = result_file_problems(folder)
        if problems:
            pytest.fail("result files do not match the result schema:\n" + "\n".join(problems), pytrace=False)
