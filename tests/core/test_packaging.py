"""Packaging: one version, an sdist that carries the kernel sources, a wheel with the templates.

The full round trip (sdist -> fresh venv -> the extension compiles on install) takes minutes and is
measured by hand (docs/architecture.md says how); these tests check what makes it work.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import emokit

ROOT = Path(__file__).resolve().parents[2]
needs_source_tree = pytest.mark.skipif(
    not (ROOT / "setup.py").exists(), reason="needs the emokit source tree (setup.py)"
)


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, **env}, check=False
    )


@needs_source_tree
def test_one_version_everywhere() -> None:
    # setup.py must answer without torch: an isolated `python -m build --sdist` has none.
    blocked = "import sys, runpy; sys.modules['torch'] = None; sys.argv = ['setup.py', '--version']; "
    done = _run([sys.executable, "-c", blocked + "runpy.run_path('setup.py', run_name='__main__')"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == emokit.__version__
    assert importlib.metadata.version("emokit") == emokit.__version__


@needs_source_tree
def test_sdist_carries_the_sources_the_install_compiles(tmp_path: Path) -> None:
    done = _run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path)])
    assert done.returncode == 0, done.stderr[-3000:]
    (sdist,) = tmp_path.glob("emokit-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    tracked = _run(["git", "ls-files", "csrc", "emokit/cli/plugin_template", "docs"]).stdout.split()
    assert tracked, "git ls-files found nothing"
    missing = sorted(set(tracked) - names)
    assert not missing, f"the sdist lacks {missing}"
    for needed in ("setup.py", "pyproject.toml", "MANIFEST.in", "CMakeLists.txt", "emokit/py.typed"):
        assert needed in names
    assert not [n for n in names if n.endswith((".so", ".pyc"))], "build outputs in the sdist"


@needs_source_tree
def test_wheel_holds_the_plugin_templates_and_the_builtin_plugins(tmp_path: Path) -> None:
    done = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-w", str(tmp_path), "."],
        EMOKIT_NO_EXTENSION="1",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = tmp_path.glob("emokit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {
        str(p.relative_to(ROOT)) for p in (ROOT / "emokit" / "cli" / "plugin_template").rglob("*.tmpl")
    }
    assert templates and templates <= names
    assert "emokit/py.typed" in names
    assert {"emokit_plugins/pathnet/__init__.py", "emokit_plugins/simulated/__init__.py"} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "emokit = emokit.cli:main" in text and "pathnet = emokit_plugins.pathnet" in text
