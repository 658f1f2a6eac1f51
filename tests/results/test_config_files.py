"""Config files (``emokit bench --config``), exact re-runs (``--rerun``) and ``emokit config``."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from rich.console import Console

from emokit import cli
from emokit.cli.bench import run_bench_command
from emokit.cli.bench_args import apply_config, config_from_args
from emokit.registry import Registry
from emokit.results import load
from emokit.results.config import check_config, read_config_file, run_config_of, to_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXPERIMENT = """\
method = "pathnet"
source = "sim-savee"
target = "sim-emodb"
seeds = 1
folds = 2
target-budget = [0.5, 1]
quiet = true

[data-option]
scale = 0.08

[option]
epochs = 4

[option.pathnet]
generations = 3
population = 8
steps = 2
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


def _bench(registry: Registry, *argv: str) -> tuple[int, str]:
    console = Console(record=True, width=250)
    args = cli.build_parser().parse_args(["bench", *argv])
    code = run_bench_command(args, registry, console)
    return code, console.export_text()


def _only_result(folder: Path) -> Path:
    (path,) = folder.glob("bench-*.json")
    return path


def _cells_by_key(path: Path) -> dict[tuple, dict]:
    """Each cell without what differs between two runs of one experiment (timing, file names)."""
    from emokit.bench.results import cell_key

    def untimed(value):  # wall times (and the note quoting paths/s) differ between any two runs
        if isinstance(value, dict):
            return {k: untimed(v) for k, v in value.items() if k not in TIMING}
        return value

    return {cell_key(cell): untimed(cell) for cell in json.loads(path.read_text())["cells"]}


TIMING = {"time_s", "seconds", "paths_per_s", "note", "predictions"}


def test_toml_run_json_rerun_gives_identical_cells(registry: Registry, tmp_path: Path) -> None:
    config = tmp_path / "experiment.toml"
    config.write_text(EXPERIMENT)
    code, _ = _bench(registry, "--config", str(config), "--out", str(tmp_path / "first"))
    assert code == 0
    first = _only_result(tmp_path / "first")
    data = json.loads(first.read_text())
    recorded = data["run_config"]
    # resolved: the baselines pathnet brings, the one experiment, every option value the methods used
    assert recorded["method"] == ["pathnet", "source-only", "target-only", "finetune"]
    assert recorded["no-baselines"] is True
    assert recorded["experiments"] == [
        {"sources": ["sim-savee"], "target": "sim-emodb", "modality": "audio", "features": "egemaps"}
    ]
    assert recorded["seeds"] == [0] and recorded["target-budget"] == [0.5, 1.0]
    assert recorded["option"]["pathnet"]["generations"] == 3 and recorded["option"]["finetune"]["epochs"] == 4
    assert recorded == run_config_of(data["config"], data["identity"])
    checked = check_config(recorded, "recorded")  # the same schema as a config file
    assert checked["option"]["pathnet.generations"] == 3 and checked["method"] == recorded["method"]

    # the recording says it was made elsewhere: the re-run says what differs, and still reproduces
    data["versions"]["numpy"] = "0.0.1"
    data["git_commit"] = "0123abc"
    first.write_text(json.dumps(data))
    code, text = _bench(registry, "--rerun", str(first), "--out", str(tmp_path / "again"))
    assert code == 0
    assert "numpy 0.0.1 ->" in text and "git commit 0123abc ->" in text
    again = _only_result(tmp_path / "again")
    assert _cells_by_key(again) == _cells_by_key(first)
    assert (
        f"{len(data['cells'])} of {len(data['cells'])} recorded cells gave the recorded scores exactly"
        in text
    )

    # emokit config prints it as TOML; that file runs the same cells again
    printed = tmp_path / "printed.toml"
    printed.write_text(to_toml(load(first).run_config, ["a comment"]))
    assert tomllib.loads(printed.read_text()) == recorded
    code, _ = _bench(registry, "--config", str(printed), "--out", str(tmp_path / "third"))
    assert code == 0
    assert _cells_by_key(_only_result(tmp_path / "third")) == _cells_by_key(first)


def test_emokit_config_prints_a_toml_file_that_reads_back(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "small.toml"
    config.write_text(
        'method = "target-only"\nno-baselines = true\nsource = "sim-savee"\ntarget = "sim-emodb"\n'
        "seeds = [3]\nfolds = 2\nquiet = true\n[data-option]\nscale = 0.08\n[option]\nepochs = 2\n"
    )
    assert _bench(registry, "--config", str(config), "--out", str(tmp_path))[0] == 0
    result = _only_result(tmp_path)
    capsys.readouterr()
    assert cli.main(["config", str(result)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# the run of ")
    parsed = tomllib.loads(printed)
    assert parsed == json.loads(result.read_text())["run_config"]
    assert parsed["seeds"] == [3]  # one seed stays a seed, not a count
    # a format-2 file (no run_config) is rebuilt from its config and identity
    data = json.loads(result.read_text())
    del data["run_config"]
    data["format"] = 2
    old = tmp_path / "old" / result.name
    old.parent.mkdir()
    old.write_text(json.dumps(data))
    assert cli.main(["config", str(old)]) == 0
    rebuilt = capsys.readouterr().out
    assert "format 2 file" in rebuilt and tomllib.loads(rebuilt) == parsed


def test_command_line_flags_override_the_file(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "experiment.toml"
    path.write_text(EXPERIMENT)
    args = cli.build_parser().parse_args(
        [
            "bench",
            "--config",
            str(path),
            "--seeds",
            "0,4",
            "--option",
            "epochs=7",
            "--target",
            "sim-enterface",
        ]
    )
    overridden = apply_config(args, read_config_file(path))
    assert set(overridden) >= {"seeds", "source", "target"}
    config = config_from_args(args, registry)
    assert config.seeds == [0, 4]
    assert config.options["epochs"] == "7"  # the command line's --option wins over [option]
    assert config.options["pathnet.generations"] == 3  # the file's typed value where the line is silent
    # the command line's --target names the experiment: the file's source goes with the file's target
    assert [(e.sources, e.target) for e in config.experiments] == [(("sim-enterface",), "sim-enterface")]
    assert config.budgets[0].fraction == 0.5 and config.data_options == {"scale": 0.08}


def test_experiments_listed_one_by_one(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "two.toml"
    path.write_text(
        'method = ["target-only"]\n'
        '[[experiments]]\nsources = ["sim-savee"]\ntarget = "sim-emodb"\n'
        '[[experiments]]\nsources = "sim-emodb"\ntarget = "sim-savee"\nmodality = "visual"\n'
    )
    args = cli.build_parser().parse_args(["bench", "--config", str(path)])
    apply_config(args, read_config_file(path))
    config = config_from_args(args, registry)
    assert [(e.sources, e.target, e.modality) for e in config.experiments] == [
        (("sim-savee",), "sim-emodb", "audio"),
        (("sim-emodb",), "sim-savee", "visual"),
    ]
    assert config.experiments[1].features == "face"  # the default feature of the modality
    assert config.suite is None and config.seeds == [0, 1]  # named experiments: no suite's defaults


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sedes = 2\n", "unknown key 'sedes'; did you mean 'seeds'?"),
        ('fold-seed = "x"\n', "fold-seed: expected an integer, got a string ('x')"),
        ("seeds = 0\n", "seeds: expected a count of repeats"),
        ('modality = "smell"\n', "modality: expected one of audio, visual, audiovisual"),
        ('quiet = "yes"\n', "quiet: expected true or false"),
        ("option = 3\n", "option: expected a table of key = value"),
        ("[option.pathnet]\nlayers = {a = 1}\n", "option.pathnet.layers: expected a string, number"),
        ('[[experiments]]\nsourcse = ["a"]\ntarget = "b"\n', "unknown key 'experiments[0].sourcse'"),
        ('[[experiments]]\nsources = ["a"]\n', "experiments[0]: no target"),
        ('resume = "x.json"\n', "resume: not a config-file key"),
        ('target = "sim-emodb"\n[[experiments]]\ntarget = "sim-savee"\n', "experiments and target"),
        ("seeds = \n", "not valid TOML"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_key(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert cli.main(["bench", "--config", str(path)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert str(path) in err and message in err, err
    assert len(err.splitlines()) == 1


def test_a_method_option_no_method_takes_names_the_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "typo.toml"
    path.write_text('method = "pathnet"\ntarget = "sim-emodb"\n[option.pathnet]\ngeneratons = 3\n')
    assert cli.main(["bench", "--config", str(path)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert str(path) in err and "generatons" in err


def test_config_and_rerun_errors(tmp_path: Path, capsys) -> None:
    assert cli.main(["bench", "--config", str(tmp_path / "none.toml")]) == cli.EXIT_USAGE
    assert "none.toml: no such file" in capsys.readouterr().err
    (tmp_path / "x.toml").write_text("")
    (tmp_path / "r.json").write_text("{}")
    assert cli.main(["bench", "--config", str(tmp_path / "x.toml"), "--rerun", "r.json"]) == cli.EXIT_USAGE
    assert "give one" in capsys.readouterr().err
    assert cli.main(["bench", "--rerun", str(tmp_path / "r.json")]) == cli.EXIT_USAGE
    assert "is not an emokit result file" in capsys.readouterr().err
    assert cli.main(["config", str(tmp_path / "r.json")]) == cli.EXIT_USAGE


def test_the_config_file_of_the_docs_is_a_good_one(registry: Registry, tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "results.md"
    (example,) = re.findall(r"```toml\n(.*?)```", docs.read_text(encoding="utf-8"), flags=re.S)
    path = tmp_path / "experiment.toml"
    path.write_text(example)
    args = cli.build_parser().parse_args(["bench", "--config", str(path)])
    apply_config(args, read_config_file(path))
    config = config_from_args(args, registry)
    assert config.methods[0] == "pathnet" and len(config.seeds) == 3
    assert config.options["pathnet.generations"] == 50 and args.out == Path("results/pathnet-emodb-savee")


def test_every_flag_of_emokit_bench_is_a_config_key() -> None:
    import argparse

    from emokit.results.config import COMMAND_LINE_ONLY, KEYS

    (subcommands,) = [a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    bench = subcommands.choices["bench"]
    flags = {
        next(o for o in action.option_strings if o.startswith("--"))[2:]
        for action in bench._actions
        if action.option_strings and action.dest != "help"
    }
    assert flags - set(COMMAND_LINE_ONLY) == set(KEYS) - {"experiments"}
    assert all(name.replace("-", "_") in {a.dest for a in bench._actions} for name in flags)
