"""Suites and dataset options on the command line: `--suite`, `emokit list suites`, `--data-option`
(and `--sim-scale`/`--sim-seed` as its shorthands), each refused clearly when wrong."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from support.cli_runner import run_emokit

from emokit import cli
from emokit.api import Experiment, Suite, hookimpl
from emokit.cli.arguments import UsageError
from emokit.cli.bench import config_from_args
from emokit.options import OptionError
from emokit.registry import Registry

MINE = Suite(
    name="mine",
    description="two audio transfers, SVM only",
    experiments=(
        Experiment(("sim-emodb",), "sim-savee", "audio"),
        Experiment(("sim-savee",), "sim-emodb", "audio"),
    ),
    methods=("svm", "not-installed"),
    features={"audio": "mfcc"},
    reference=None,
    folds="loso",
    budgets="0.5,1",
    repeats=3,
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    @hookimpl
    def emokit_register_suites():
        return [MINE]

    return Registry.discover(
        extra=[("suites", types.SimpleNamespace(emokit_register_suites=emokit_register_suites))]
    )


def _config(registry: Registry, *argv: str):
    return config_from_args(cli.build_parser().parse_args(["bench", *argv]), registry)


def test_a_plugins_suite_sets_experiments_methods_features_and_protocol(registry: Registry) -> None:
    config = _config(registry, "--suite", "mine")
    assert config.suite == "mine"
    assert [(e.sources, e.target, e.features) for e in config.experiments] == [
        (("sim-emodb",), "sim-savee", "mfcc"),
        (("sim-savee",), "sim-emodb", "mfcc"),
    ]
    assert config.methods == ["svm"]  # a method no plugin registers is left out
    assert config.seeds == [0, 1, 2] and config.folds.kind == "loso"
    assert [b.label for b in config.budgets] == ["50%", "100%"]
    assert config.reference is None
    overridden = _config(registry, "--suite", "mine", "--seeds", "1", "--folds", "2", "--features", "egemaps")
    assert overridden.seeds == [0] and {e.features for e in overridden.experiments} == {"egemaps"}


def test_the_default_suite_comes_from_the_simulated_plugin(registry: Registry) -> None:
    config = _config(registry)
    assert config.suite == "default" and len(config.experiments) == 11
    assert registry.owner("suite", "default") == "simulated"
    assert config.reference == "target-only"


def test_suite_and_data_option_mistakes_are_refused_naming_the_flag(registry: Registry) -> None:
    with pytest.raises(UsageError, match="--suite mine runs its own experiments"):
        _config(registry, "--suite", "mine", "--target", "sim-savee")
    with pytest.raises(Exception, match=r"unknown suite 'nope'; valid suites: default, mine"):
        _config(registry, "--suite", "nope")
    with pytest.raises(UsageError, match=r"--sim-scale 2\.0: expected a number in \(0, 1\]"):
        _config(registry, "--sim-scale", "2")


def test_data_options_reach_the_datasets_that_declare_them(registry: Registry) -> None:
    config = _config(
        registry,
        "--source",
        "sim-emodb",
        "--target",
        "savee",
        "--data-option",
        "seed=3",
        "--sim-scale",
        "0.5",
    )
    assert config.data_options == {"seed": "3", "scale": 0.5}
    # a run whose datasets take no options ignores the shorthands, as it always has
    assert (
        _config(registry, "--source", "emodb", "--target", "savee", "--sim-scale", "0.5").data_options == {}
    )


def test_bad_data_options_are_refused_before_any_work(tmp_path: Path) -> None:
    unknown = run_emokit(["bench", "--method", "svm", "--data-option", "bogus=1", "--out", "out"], tmp_path)
    assert unknown.returncode == 2
    assert "--data-option bogus: no dataset of this run takes 'bogus'" in " ".join(unknown.stderr.split())
    assert not (tmp_path / "out").exists()
    bad = run_emokit(["data", "info", "sim-savee", "--data-option", "scale=big"], tmp_path)
    assert bad.returncode == 2 and "--data-option scale=big: expected a number in (0, 1]" in bad.stderr


def test_list_suites_shows_the_default_suite(tmp_path: Path) -> None:
    listed = run_emokit(["list", "suites"], tmp_path)
    assert listed.returncode == 0
    assert "default" in listed.stdout and "simulated" in listed.stdout and "11" in listed.stdout


def test_a_scoped_data_option_names_its_dataset() -> None:
    from emokit.api import LoadContext

    registry = Registry.discover()
    provider = registry.dataset("sim-savee")
    context = LoadContext(options={"scale": "0.5", "sim-savee.scale": "0.25"})
    assert context.option(provider, "scale") == 0.25  # the scoped key wins
    with pytest.raises(
        OptionError, match=r"--data-option sim-savee\.size: dataset 'sim-savee' has no option 'size'"
    ):
        LoadContext(options={"sim-savee.size": "1"}).option(provider, "scale")
