"""`emokit bench` and friends: bad input, interruption, resumption and result files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from support.cli_runner import run_emokit
from support.toy_plugin import toy_registry, write_tone_corpora

from emokit import cli
from emokit.api import Method
from emokit.cli.bench import run_bench_command
from emokit.registry import Registry


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone_corpora(tmp_path_factory.mktemp("tones"))


class InterruptOnSecondCall(Method):
    """Behaves like Ctrl-C arriving while the second cell runs."""

    name = "interrupting"
    description = "raises KeyboardInterrupt on its second call"

    def __init__(self) -> None:
        self.calls = 0

    def run(self, task):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return np.zeros(len(task.target.test), dtype=np.int64)


def _registry(method: Method | None = None) -> Registry:
    """The toy plugin plus ``method`` (default: one that is interrupted on its second call)."""
    return toy_registry(method or InterruptOnSecondCall())


def _args(*argv: str):
    return cli.build_parser().parse_args(["bench", *argv])


def _bench_args(tones: Path, out: Path, *extra: str):
    return _args(
        "--source",
        "toy-a",
        "--target",
        "toy-b",
        "--features",
        "toy-spectrum",
        "--data-root",
        str(tones),
        "--out",
        str(out),
        "--quiet",
        *extra,
    )


def test_interrupted_bench_keeps_finished_cells_and_resumes(tones: Path, tmp_path: Path) -> None:
    from rich.console import Console

    console = Console(record=True, width=200)
    args = _bench_args(
        tones, tmp_path, "--method", "nearest-centroid,interrupting", "--seeds", "2", "--folds", "split"
    )
    code = run_bench_command(args, _registry(), console)
    assert code == cli.EXIT_INTERRUPTED
    files = list(tmp_path.glob("bench-*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["status"] == "interrupted"
    # seed 0: nearest-centroid and interrupting (first call) finished; seed 1 nearest-centroid too,
    # each repeat with the runner's majority-class row first
    assert [(c["method"], c["seed"]) for c in data["cells"]] == [
        ("majority-class", 0),
        ("nearest-centroid", 0),
        ("interrupting", 0),
        ("majority-class", 1),
        ("nearest-centroid", 1),
    ]
    assert "--resume" in console.export_text()

    # resuming runs only the missing cell and completes the same file
    resumed = _bench_args(
        tones,
        tmp_path,
        "--method",
        "nearest-centroid,interrupting",
        "--seeds",
        "2",
        "--folds",
        "split",
        "--resume",
        str(files[0]),
    )
    method = InterruptOnSecondCall()
    method.calls = 5  # no longer interrupts
    assert run_bench_command(resumed, _registry(method), Console(width=200)) == 0
    data = json.loads(files[0].read_text())
    assert data["status"] == "complete"
    assert len(data["cells"]) == 6 and method.calls == 6


def test_result_file_records_config_versions_and_splits(tones: Path, tmp_path: Path) -> None:
    from rich.console import Console

    args = _bench_args(tones, tmp_path, "--method", "nearest-centroid", "--seeds", "0,5")
    assert run_bench_command(args, _registry(), Console(width=200)) == 0
    data = json.loads(next(tmp_path.glob("bench-*.json")).read_text())
    assert data["seeds"] == [0, 5]
    assert data["config"]["experiments"] == [
        {"sources": ["toy-a"], "target": "toy-b", "modality": "audio", "features": "toy-spectrum"}
    ]
    assert data["versions"]["torch"] and data["versions"]["scikit-learn"]
    assert "backend" in data["kernel_backend"]
    assert "git_commit" in data
    for cell in data["cells"]:
        split = cell["splits"]["toy-b"]
        assert not set(split["train"]) & set(split["test"])
        assert not set(split["val"]) & set(split["test"])
        assert np.asarray(cell["scores"]["confusion"]).shape == (3, 3)
    assert data["corpora"]["toy-b"]["utterances"] == 48
    row = data["summary"][0]
    assert set(row) >= {"uar", "wa", "macro_f1", "seeds", "classes", "time_s"}


def test_corrupt_file_is_reported_and_skipped(tones: Path, tmp_path: Path) -> None:
    from rich.console import Console

    data_root = tmp_path / "data"
    import shutil

    shutil.copytree(tones, data_root)
    bad = data_root / "toy-b" / "spk1" / "anger_0.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage, not a wave file")
    console = Console(record=True, width=200)
    args = _bench_args(data_root, tmp_path / "out", "--method", "nearest-centroid", "--seeds", "1")
    args.quiet = False
    assert run_bench_command(args, _registry(), console) == 0
    text = console.export_text()
    assert str(bad) in text
    data = json.loads(next((tmp_path / "out").glob("bench-*.json")).read_text())
    problems = data["corpora"]["toy-b"]["problems"]
    assert [p["path"] for p in problems] == [str(bad)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--method", "no-such-method"], "unknown method 'no-such-method'; valid methods: "),
        (["bench", "--method", "svm", "--target", "nope"], "unknown dataset 'nope'"),
        (
            ["bench", "--method", "svm", "--target", "sim-savee", "--features", "nope"],
            "unknown feature 'nope'",
        ),
        (["bench", "--source", "sim-savee"], "--source needs --target"),
        (["bench", "--seeds", "zero"], "--seeds 'zero': expected a count"),
        (["bench", "--seeds", "0"], "expected a positive count"),
        (["bench", "--sim-scale", "2"], "--sim-scale 2.0: expected a number in (0, 1]"),
        (["bench", "--option", "epochs"], "--option 'epochs': expected key=value"),
        (["bench", "--data-root", "/no/such/folder"], "--data-root /no/such/folder: no such folder"),
        (
            ["bench", "--method", "svm", "--target", "sim-emodb", "--modality", "visual"],
            "dataset 'sim-emodb' has no visual data",
        ),
        (
            [
                "bench",
                "--method",
                "svm",
                "--target",
                "sim-savee",
                "--modality",
                "visual",
                "--features",
                "mfcc",
            ],
            "features 'mfcc' are for audio data",
        ),
        (["list", "gadgets"], None),
    ],
)
def test_bad_input_gets_a_clear_error(argv: list[str], message: str | None, capsys) -> None:
    if message is None:  # argparse rejects it with its own usage message
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 2
        assert "invalid choice: 'gadgets'" in capsys.readouterr().err
        return
    assert cli.main(argv) == cli.EXIT_USAGE
    err = " ".join(capsys.readouterr().err.split())
    assert message in err


def test_data_root_without_layout_says_what_was_expected(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    code = cli.main(
        [
            "bench",
            "--method",
            "svm",
            "--source",
            "emodb",
            "--target",
            "savee",
            "--data-root",
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path),
        ]
    )
    assert code == cli.EXIT_USAGE
    err = " ".join(capsys.readouterr().err.split())
    assert str(tmp_path / "empty") in err and "expected" in err


def _run_cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return run_emokit(argv, cwd)


@pytest.mark.parametrize(
    ("method", "source", "target", "modality"),
    [
        ("source-only", "sim-emodb", "sim-savee", "audio"),
        ("finetune", "sim-savee", "sim-enterface", "visual"),
    ],
)
def test_bench_end_to_end_on_tiny_simulated_corpora(
    method: str, source: str, target: str, modality: str, tmp_path: Path
) -> None:
    result = _run_cli(
        [
            "bench",
            "--method",
            method,
            "--source",
            source,
            "--target",
            target,
            "--modality",
            modality,
            "--seeds",
            "2",
            "--sim-scale",
            "0.05",
            "--out",
            "out",
            "--option",
            "epochs=20",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert f"{source} -> {target}" in out and "shared classes" in out
    assert "±" in out  # UAR mean ± std over the seeds
    data = json.loads(next((tmp_path / "out").glob("bench-*.json")).read_text())
    assert data["status"] == "complete"
    cells = [c for c in data["cells"] if c["method"] == method]
    folds = cells[0]["folds"]
    assert len(cells) == 2 * folds and len(data["cells"]) == 2 * len(cells)  # beside the majority rows
    assert sorted((c["fold"], c["repeat"]) for c in cells) == [(f, r) for f in range(folds) for r in range(2)]
    for cell in data["cells"]:
        target_split = cell["splits"][target]
        assert not set(target_split["train"]) & set(target_split["test"])
        assert 0.0 <= cell["scores"]["uar"] <= 1.0
    assert data["config"]["data_options"] == {"scale": 0.05}


def test_matrix_runs_every_train_test_pair(tones: Path, tmp_path: Path) -> None:
    from rich.console import Console

    console = Console(record=True, width=200)
    args = _args(
        "--matrix", "toy-a,toy-b", "--features", "toy-spectrum", "--method", "nearest-centroid",
        "--seeds", "1", "--data-root", str(tones), "--out", str(tmp_path), "--quiet",
    )  # fmt: skip
    assert run_bench_command(args, _registry(), console) == 0
    data = json.loads(next(tmp_path.glob("bench-*.json")).read_text())
    pairs = {(tuple(c["sources"]), c["target"]) for c in data["cells"]}
    assert pairs == {
        (("toy-a",), "toy-a"),
        (("toy-a",), "toy-b"),
        (("toy-b",), "toy-a"),
        (("toy-b",), "toy-b"),
    }
    text = console.export_text()
    assert "test \\ train" in text  # the header of the train x test matrix


def test_matrix_excludes_source_and_target(capsys) -> None:
    assert cli.main(["bench", "--matrix", "sim-savee,sim-emodb", "--target", "sim-savee"]) == cli.EXIT_USAGE
    assert "--matrix replaces --source and --target" in capsys.readouterr().err


def test_data_prepare_and_info(tmp_path: Path, capsys) -> None:
    cache = tmp_path / "cache"
    argv = ["--scale", "0.05", "--cache-dir", str(cache)]
    assert cli.main(["data", "prepare", "sim-emodb", *argv]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "sim-emodb: ready in" in out and str(cache) in out and "MB" in out
    assert cli.main(["data", "info", "sim-emodb", *argv]) == 0
    out = capsys.readouterr().out
    assert "boredom"[:5] in out and "modalities: audio; language: de" in out
    assert cli.main(["data", "prepare", "emodb"]) == 0  # a real corpus: nothing to generate
    assert "nothing to prepare" in capsys.readouterr().out
    assert cli.main(["data", "info", "sim-nope"]) == cli.EXIT_USAGE
    assert "unknown dataset 'sim-nope'" in capsys.readouterr().err
