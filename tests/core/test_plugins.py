"""The plugin system: hook docs, a third-party plugin installed from a temporary directory and used
by `emokit list` and `emokit bench`, broken plugins isolated, external plugins disabled by env."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.cli_runner import run_emokit

from emokit import hookspecs
from emokit.registry import Registry, UnknownNameError

# the toy plugin is tests/support/toy_plugin.py, copied into a package of its own
TOY_PLUGIN = (Path(__file__).resolve().parents[1] / "support" / "toy_plugin.py").read_text()

BROKEN_IMPORT = "raise ImportError('this plugin needs a package that is not installed')\n"
CLASH = """
from emokit import hookimpl
from emokit.api import Method

class FakeSVM(Method):
    name = "svm"
    description = "clashes with the built-in svm"
    def run(self, task):
        raise AssertionError("never called")

@hookimpl
def emokit_register_methods():
    return [FakeSVM()]
"""
RAISING = """
from emokit import hookimpl

@hookimpl
def emokit_register_features():
    raise RuntimeError("feature registration blew up")
"""


def _package(root: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> Path:
    pkg = root / dist
    (pkg / dist.replace("-", "_")).mkdir(parents=True)
    (pkg / dist.replace("-", "_") / "__init__.py").write_text("")
    for module, source in modules.items():
        (pkg / dist.replace("-", "_") / f"{module}.py").write_text(textwrap.dedent(source))
    eps = "\n".join(f'{name} = "{target}"' for name, target in entry_points.items())
    (pkg / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{dist}"
            version = "1.2.3"

            [project.entry-points.emokit]
            """
        )
        + eps
        + "\n"
    )
    return pkg


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and install (with pip, into a target folder) a good and a broken plugin package."""
    root = tmp_path_factory.mktemp("plugins")
    site = root / "site"
    good = _package(root, "emokit-toy", {"plugin": TOY_PLUGIN}, {"toy": "emokit_toy.plugin"})
    broken = _package(
        root,
        "emokit-broken",
        {"missing_dep": BROKEN_IMPORT, "clash": CLASH, "raising": RAISING},
        {
            "missing-dep": "emokit_broken.missing_dep",
            "clash": "emokit_broken.clash",
            "raising": "emokit_broken.raising",
            "no-such-module": "emokit_broken.does_not_exist",
        },
    )
    for pkg in (good, broken):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "--target",
                str(site),
                str(pkg),
            ],
            check=True,
            capture_output=True,
        )
    return site


@pytest.fixture(scope="module")
def tone_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from support.toy_plugin import write_tone_corpora

    return write_tone_corpora(tmp_path_factory.mktemp("tones"))


def _emokit(args: list[str], site: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return run_emokit(args, tmp_path, timeout=300, PYTHONPATH=str(site), **env)


def test_every_hook_is_documented() -> None:
    hooks = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("emokit_")]
    assert {h.__name__ for h in hooks} >= {
        "emokit_register_datasets",
        "emokit_register_features",
        "emokit_register_methods",
    }
    for hook in hooks:
        doc = inspect.getdoc(hook) or ""
        assert len(doc) > 80 and "Returns" in doc, f"hook {hook.__name__} lacks documentation"


def test_builtins_load_through_entry_points() -> None:
    registry = Registry.discover()
    builtin = [p for p in registry.plugins if p.origin == "builtin"]
    assert {p.name for p in builtin} >= {"corpora", "simulated", "features", "baselines"}
    assert all(p.ok for p in builtin), [p.error for p in builtin if p.error]
    assert {"source-only", "target-only", "finetune", "svm"} <= set(registry.names("method"))
    assert registry.owner("method", "svm") == "baselines"


def test_unknown_names_list_the_valid_ones() -> None:
    registry = Registry.discover()
    with pytest.raises(UnknownNameError, match=r"unknown method 'fine-tune' \(did you mean 'finetune'\?\)"):
        registry.method("fine-tune")
    with pytest.raises(UnknownNameError, match=r"valid datasets: .*sim-savee"):
        registry.dataset("nope")


def test_third_party_plugin_is_listed(plugin_site: Path, tmp_path: Path) -> None:
    result = _emokit(["list"], plugin_site, tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("toy-a", "toy-b", "toy-spectrum", "nearest-centroid", "svm", "sim-savee"):
        assert name in result.stdout
    plugins = _emokit(["plugins"], plugin_site, tmp_path)
    assert plugins.returncode == 0, plugins.stderr
    assert "emokit-toy" in plugins.stdout and "1.2.3" in plugins.stdout


def test_broken_plugins_are_reported_and_skipped(plugin_site: Path, tmp_path: Path) -> None:
    result = _emokit(["plugins"], plugin_site, tmp_path)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "missing-dep" in out and "this plugin needs a package" in out
    assert "already registered by plugin 'baselines'" in out
    assert "feature registration blew up" in out
    assert "no-such-module" in out
    # the CLI still works, warns once, and the clashing plugin did not replace the built-in svm
    listed = _emokit(["list", "methods"], plugin_site, tmp_path)
    assert listed.returncode == 0
    assert "failed to load and were skipped" in listed.stderr
    assert "clashes with the built-in" not in listed.stdout


def test_isolation_in_process(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(plugin_site))
    registry = Registry.discover()
    errors = {p.name: p.error for p in registry.plugins}
    assert errors["toy"] is None
    assert "ImportError" in errors["missing-dep"]
    assert "RuntimeError" in errors["raising"]
    assert registry.method("svm").description.startswith("RBF SVM")


def test_external_plugins_can_be_disabled(plugin_site: Path, tmp_path: Path) -> None:
    result = _emokit(["list"], plugin_site, tmp_path, EMOKIT_DISABLE_EXTERNAL_PLUGINS="1")
    assert result.returncode == 0
    assert "nearest-centroid" not in result.stdout
    assert "failed to load" not in result.stderr
    plugins = _emokit(["plugins"], plugin_site, tmp_path, EMOKIT_DISABLE_EXTERNAL_PLUGINS="1")
    assert "disabled by EMOKIT_DISABLE_EXTERNAL_PLUGINS" in " ".join(plugins.stdout.split())


def test_third_party_plugin_runs_in_bench(plugin_site: Path, tone_data: Path, tmp_path: Path) -> None:
    result = _emokit(
        [
            "bench",
            "--method",
            "nearest-centroid",
            "--source",
            "toy-a",
            "--target",
            "toy-b",
            "--features",
            "toy-spectrum",
            "--seeds",
            "2",
            "--data-root",
            str(tone_data),
            "--out",
            "out",
        ],
        plugin_site,
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nearest-centroid" in result.stdout and "toy-a -> toy-b" in result.stdout
    files = list((tmp_path / "out").glob("bench-*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["status"] == "complete"
    cells = [c for c in data["cells"] if c["method"] == "nearest-centroid"]
    assert len(cells) == 2 * 4 and data["seeds"] == [0, 1]  # 2 repeats x 4 speakers (leave one out)
    assert cells[0]["classes"] == ["anger", "neutral", "sadness"]
    assert data["summary"][0]["uar"]["mean"] > 0.9  # tones are trivially separable
