"""The kit for plugin authors: `emokit new-plugin` writes a package that installs and passes its own
tests; `emokit plugins --strict` catches misspelled hooks and bad names; a failing component does
not take its plugin's other components down; old import paths still work, with a warning."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from support.cli_runner import run_emokit

from emokit.api import Method, hookimpl
from emokit.cli.listing import cmd_plugins
from emokit.cli.scaffold import render_plugin
from emokit.registry import Registry


def test_new_plugin_writes_a_package_that_installs_registers_cleanly_and_passes_its_tests(
    tmp_path: Path,
) -> None:
    made = run_emokit(["new-plugin", "demo", "--dir", str(tmp_path)], tmp_path)
    assert made.returncode == 0, made.stderr
    package = tmp_path / "emokit-demo"
    assert (package / "src/emokit_demo/method.py").is_file()
    assert (package / "tests/test_emokit_demo.py").is_file()
    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*install, "--target", str(site), str(package)], check=True, capture_output=True)
    strict = run_emokit(["plugins", "--strict"], tmp_path, PYTHONPATH=str(site))
    assert strict.returncode == 0, strict.stdout + strict.stderr
    assert "demo-coral" in strict.stdout and "every plugin loaded cleanly" in strict.stdout
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
        capture_output=True,
        text=True,
        cwd=package,
        env={**__import__("os").environ, "PYTHONPATH": str(site)},
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "6 passed" in tests.stdout


def test_new_plugin_refuses_a_bad_name_and_an_existing_folder(tmp_path: Path) -> None:
    bad = run_emokit(["new-plugin", "Deep CORAL", "--dir", str(tmp_path)], tmp_path)
    assert bad.returncode == 2
    assert "plugin name 'Deep CORAL' is not valid" in " ".join(bad.stderr.split())
    render_plugin("demo", tmp_path)
    again = run_emokit(["new-plugin", "demo", "--dir", str(tmp_path)], tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    assert render_plugin("demo", tmp_path, force=True).is_dir()


class _Majority(Method):
    name = "majority-class"
    description = "the most frequent target training class"
    options = ()

    def run(self, task):
        counts = np.bincount(task.target.train.y, minlength=task.num_classes)
        task.report_validation(0.0)
        return np.full(len(task.target.test), counts.argmax())


class _BadlyNamed(_Majority):
    name = "Deep CORAL"


class _Clashing(_Majority):
    name = "svm"


def _plugin(**hooks: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(**hooks)


def test_one_bad_component_is_skipped_alone_and_strict_reports_it() -> None:
    @hookimpl
    def emokit_register_methods():
        return [_Majority(), _BadlyNamed(), _Clashing()]

    def emokit_register_method():  # misspelled: pluggy alone would ignore it silently
        return [_Majority()]

    registry = Registry.discover(
        extra=[
            (
                "mixed",
                _plugin(
                    emokit_register_methods=emokit_register_methods,
                    emokit_register_method=emokit_register_method,
                ),
            )
        ]
    )
    info = next(p for p in registry.plugins if p.name == "mixed")
    assert info.ok and info.registers == {"method": ["majority-class"]}
    problems = " | ".join(info.problems)
    assert "emokit_register_method" in problems and "emokit_register_methods" in problems  # the hint
    assert "method name 'Deep CORAL' is not valid" in problems and "'deep-coral'" in problems
    assert "method name 'svm' is already registered by plugin 'baselines'" in problems
    assert registry.owner("method", "svm") == "baselines"
    console = Console(width=300, record=True)
    assert cmd_plugins(registry, console, strict=True) == 1
    assert "--strict: 1 plugin(s) with problems: mixed" in console.export_text()
    assert cmd_plugins(Registry.discover(), Console(width=300), strict=True) == 0


def test_a_hook_returning_a_bare_object_is_blamed_on_the_plugin_not_on_emokit() -> None:
    @hookimpl
    def emokit_register_methods():
        return _Majority()

    registry = Registry.discover(extra=[("bare", _plugin(emokit_register_methods=emokit_register_methods))])
    info = next(p for p in registry.plugins if p.name == "bare")
    assert info.error is not None
    assert "emokit_register_methods() returned" in info.error and "return [_Majority()]" in info.error


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        ("emokit.bench", "Method", "emokit.methods"),
        ("emokit.bench", "TransferTask", "emokit.methods"),
        ("emokit.bench.task", "SplitData", "emokit.methods.task"),
        ("emokit.bench.normalisation", "normalise_task", "emokit.methods.normalisation"),
        ("emokit.bench.options", "MethodOption", "emokit.methods.options"),
        ("emokit.data.datasets", "DatasetProvider", "emokit.data.provider"),
        ("emokit.features.base", "FeatureExtractor", "emokit.features.extractor"),
        ("emokit.features.base", "MediaReadError", "emokit.data.media"),
        ("emokit.paths", "cache_dir", "emokit.folders"),
    ],
)
def test_old_import_paths_still_work_with_a_deprecation_warning(old: str, name: str, new: str) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=name):
        value = getattr(module, name)
    assert value is getattr(importlib.import_module(new), name)


def test_the_current_paths_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        import emokit.api as api

        for name in api.__all__:
            getattr(api, name)
