"""Decision-grade evaluation: speaker folds, target budgets, withheld labels, declared options,
statistics through the runner, runs that cannot mix, and the bad input around them."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from support.cli_runner import run_emokit
from support.toy_plugin import toy_registry, write_tone_corpora

from emokit import cli
from emokit.api import Method, MethodOption
from emokit.bench.protocol import BenchConfig, BenchRunner, Experiment
from emokit.bench.results import ResultFile, ResultFileError, load_predictions, load_results
from emokit.cli.bench import run_bench_command
from emokit.data.folds import (
    Budget,
    FoldError,
    FoldScheme,
    budget_masks,
    check_budgets,
    parse_budgets,
    speaker_folds,
)
from emokit.registry import Registry


# -- folds ---------------------------------------------------------------------------------------
def _rows(counts: dict[str, int]) -> list[str]:
    return [s for s, n in counts.items() for _ in range(n)]


@pytest.mark.parametrize("scheme", ["loso", "3", "5"])
def test_every_speaker_is_tested_exactly_once_per_repeat(scheme: str) -> None:
    rng = np.random.default_rng(0)
    counts = {f"s{i:02d}": int(rng.integers(5, 60)) for i in range(13)}
    for repeat in range(3):
        folds = speaker_folds(_rows(counts), FoldScheme.parse(scheme), fold_seed=7, repeat=repeat, corpus="c")
        tested = Counter(s for f in folds for s in f.test)
        assert tested == Counter(set(counts))  # each speaker once
        for fold in folds:
            parts = [set(fold.split.train), set(fold.split.val), set(fold.split.test)]
            assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
            assert parts[0] | parts[1] | parts[2] == set(counts)
        if scheme != "loso":  # balanced by utterances: no fold heavier than another by a whole speaker
            sizes = [sum(counts[s] for s in f.test) for f in folds]
            assert max(sizes) - min(sizes) <= max(counts.values())


def test_fold_seed_is_separate_from_the_repeat_and_changes_kfold() -> None:
    speakers = _rows({f"s{i}": 10 + i for i in range(12)})
    scheme = FoldScheme.parse("4")
    a = speaker_folds(speakers, scheme, fold_seed=0, repeat=0)
    assert [f.test for f in a] == [f.test for f in speaker_folds(speakers, scheme, fold_seed=0, repeat=0)]
    assert [f.test for f in a] != [f.test for f in speaker_folds(speakers, scheme, fold_seed=1, repeat=0)]
    assert [f.test for f in a] != [f.test for f in speaker_folds(speakers, scheme, fold_seed=0, repeat=1)]


def test_auto_folds_and_small_corpora() -> None:
    assert FoldScheme("auto").resolve(10) == FoldScheme("loso")
    assert FoldScheme("auto").resolve(11) == FoldScheme("kfold", 5)
    two = speaker_folds(_rows({"A": 8, "B": 8}), FoldScheme("loso"), fold_seed=0, repeat=0)
    assert [f.test for f in two] == [("A",), ("B",)]
    assert all(f.val_from_training_rows and len(f.split.train) == 1 for f in two)
    four = speaker_folds(_rows({s: 5 for s in "ABCD"}), FoldScheme("loso"), fold_seed=0, repeat=0)
    assert all(f.val_from_training_rows for f in four)  # 3 left: too few for validation speakers
    with pytest.raises(
        FoldError, match=r"sav: --folds 5 needs at least 5 speakers, but it has 4 \(A, B, C, D\)"
    ):
        speaker_folds(
            _rows({s: 5 for s in "ABCD"}), FoldScheme("kfold", 5), fold_seed=0, repeat=0, corpus="sav"
        )
    with pytest.raises(FoldError, match="at least 2 speakers"):
        speaker_folds(["A"] * 4, FoldScheme("loso"), fold_seed=0, repeat=0)


@pytest.mark.parametrize("value", ["x", "1", "0", "-3", ""])
def test_bad_folds_values(value: str) -> None:
    with pytest.raises(ValueError, match="--folds"):
        FoldScheme.parse(value)


# -- budgets -------------------------------------------------------------------------------------
def test_budgets_are_nested_and_stratified() -> None:
    labels = np.array(["a"] * 40 + ["b"] * 20 + ["c"] * 7)
    budgets = parse_budgets("0.05,0.1,0.25,1", "2")
    assert [b.label for b in budgets] == ["2-shot", "5%", "10%", "25%", "100%"]
    masks = budget_masks(labels, budgets, seed=3)
    shares = [b for b in budgets if b.fraction is not None]
    for small, large in itertools.pairwise(shares):  # each share is a subset of the next
        assert not (masks[small.label] & ~masks[large.label]).any(), (small.label, large.label)
    assert not (masks["2-shot"] & ~masks["25%"]).any()  # shots are the first rows of the same order
    for budget in budgets:
        picked = Counter(labels[masks[budget.label]].tolist())
        for label, n in Counter(labels.tolist()).items():
            assert picked[label] == budget.count(n)
    assert Counter(labels[masks["10%"]].tolist()) == {"a": 4, "b": 2, "c": 1}
    assert masks["100%"].all()
    other = budget_masks(labels, budgets, seed=4)
    assert not np.array_equal(other["10%"], masks["10%"])  # the draw follows the seed
    val = budget_masks(labels[:45], [Budget(fraction=0.01)], seed=0, at_least_one=True)
    assert Counter(labels[:45][val["1%"]].tolist()) == {"a": 1, "b": 1}


def test_impossible_budgets_name_the_corpus_class_and_what_works() -> None:
    labels = np.array(["anger"] * 10 + ["sadness"] * 3)
    with pytest.raises(FoldError, match=r"emo: --target-budget 0.1 leaves class 'sadness' .*at least 0.167"):
        check_budgets(
            labels, [Budget(fraction=0.1)], ["anger", "sadness"], corpus="emo", fold="test speaker 03"
        )
    with pytest.raises(FoldError, match=r"--target-shots 5 .*'sadness'.* only 3; use --target-shots 3"):
        check_budgets(labels, [Budget(shots=5)], ["anger", "sadness"], corpus="emo", fold="test speaker 03")
    with pytest.raises(FoldError, match="no 'fear' utterance"):
        check_budgets(labels, [Budget(fraction=1.0)], ["anger", "fear"], corpus="emo", fold="x")
    for bad, flag in (("0", "--target-budget"), ("1.5", "--target-budget"), ("abc", "--target-budget")):
        with pytest.raises(ValueError, match=flag):
            parse_budgets(bad, None)
    with pytest.raises(ValueError, match="--target-shots"):
        parse_budgets(None, "0")


# -- the runner on the toy corpora ---------------------------------------------------------------
@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone_corpora(tmp_path_factory.mktemp("tones"))


class PeekAtTest(Method):
    name = "peek"
    description = "reads the test labels"
    options = ()

    def run(self, task):
        return task.target.test.y


class SourceOnlyPeeking(Method):
    name = "sneaky-source"
    description = "claims to use no target labels, then reads them"
    uses_target_labels = False
    options = ()

    def run(self, task):
        return np.full(len(task.target.test), int(task.target.train.y[0]))


class Constant(Method):
    """Predicts one class; records what it was given."""

    name = "constant"
    description = "predicts class k"
    uses_target_labels = False
    options = (MethodOption("k", int, 0, "the class predicted"),)

    def __init__(self) -> None:
        self.seen: list = []

    def run(self, task):
        self.seen.append((task.budget, task.target.train.labelled, len(task.target.train)))
        task.report_validation(0.5, on="nothing")
        return np.full(len(task.target.test), task.options["k"], dtype=np.int64)


def _registry(*methods: Method) -> Registry:
    return toy_registry(*methods)


def _args(tones: Path, out: Path, *extra: str):
    return cli.build_parser().parse_args(
        ["bench", "--source", "toy-a", "--target", "toy-b", "--features", "toy-spectrum",
         "--data-root", str(tones), "--out", str(out), "--quiet", *extra]
    )  # fmt: skip


def _result(out: Path) -> dict:
    (path,) = list(out.glob("bench-*.json"))
    return json.loads(path.read_text())


def test_loso_with_budgets_records_speakers_budgets_validation_and_predictions(
    tones: Path, tmp_path: Path
) -> None:
    constant = Constant()
    args = _args(tones, tmp_path, "--method", "nearest-centroid,constant", "--folds", "loso", "--seeds", "2",
                 "--target-budget", "0.25,1", "--reference", "nearest-centroid", "--show-val")  # fmt: skip
    console = Console(record=True, width=100)
    assert run_bench_command(args, _registry(constant), console) == 0
    data = _result(tmp_path)
    cells = [c for c in data["cells"] if c["method"] == "nearest-centroid"]
    assert len(cells) == 4 * 2 * 2  # 4 speakers x 2 repeats x 2 budgets
    for budget in ("25%", "100%"):
        for repeat in (0, 1):
            tested = [s for c in cells if c["budget"]["label"] == budget and c["repeat"] == repeat
                      for s in c["test_speakers"]]  # fmt: skip
            assert sorted(tested) == ["spk0", "spk1", "spk2", "spk3"]
    small = {(c["fold"], c["repeat"]): c for c in cells if c["budget"]["label"] == "25%"}
    full = {(c["fold"], c["repeat"]): c for c in cells if c["budget"]["label"] == "100%"}
    for key, cell in small.items():
        assert cell["labelled_target"]["train"] < full[key]["labelled_target"]["train"]
        assert (
            cell["labelled_target"]["train"] + cell["labelled_target"]["unlabelled_train"]
            == (full[key]["labelled_target"]["train"])
        )
        assert cell["val_from_training_rows"] and cell["normalisation"]["scheme"] == "corpus"
    # a method that uses no target labels sees none, and runs once for both budgets
    assert all(labelled is False for _, labelled, _ in constant.seen) and len(constant.seen) == 8
    constants = [c for c in data["cells"] if c["method"] == "constant"]
    assert sum(bool(c.get("same_as_budget")) for c in constants) == 8
    assert all(c["validation"] == {"uar": 0.5, "on": "nothing"} for c in constants)
    predictions = load_predictions(Path(next(tmp_path.glob("bench-*.json"))))
    assert len(predictions) == len(data["cells"])
    record = next(iter(predictions.values()))
    assert set(record) >= {"ids", "true", "pred"} and len(record["ids"]) == len(record["pred"])
    rows = {(r["method"], r["budget"]["label"]): r for r in data["summary"]}
    row = rows[("constant", "100%")]
    assert row["comparison"]["reference"] == "nearest-centroid"
    assert row["comparison"]["fold_test"]["test"].startswith("paired permutation test")
    assert 0 < row["comparison"]["fold_test"]["p"] <= 1 and "p_holm" in row["comparison"]["bootstrap"]
    assert row["comparison"]["verdict"] == "worse"  # a constant against 92% UAR on 8 matched cells
    assert row["uar"]["ci95"] is not None and row["chance"] == pytest.approx(1 / 3)
    assert ("majority-class", "25%") in rows
    text = console.export_text()
    assert "▼" in text and "val" in text and "toy-a" in text


def test_methods_never_get_labels_they_may_not_see(tones: Path, tmp_path: Path, capsys) -> None:
    for method in (PeekAtTest(), SourceOnlyPeeking()):
        args = _args(tones, tmp_path / method.name, "--method", method.name, "--seeds", "1")
        # the cells fail (recorded, named), the run goes on and its exit status says so
        assert run_bench_command(args, _registry(method), Console(width=200)) == cli.EXIT_CELLS_FAILED
        cells = [c for c in _result(tmp_path / method.name)["cells"] if c["method"] == method.name]
        assert cells and all(c["status"] == "failed" for c in cells)
        for cell in cells:
            assert cell["error"]["type"] == "MethodContractError"
            expected = rf"method '{method.name}' read labels it may not see .*withheld"
            assert re.search(expected, cell["error"]["message"])


def test_a_source_list_naming_the_target_is_refused_but_within_corpus_stays(
    tones: Path, tmp_path: Path
) -> None:
    argv = ["bench", "--source", "toy-a,toy-b", "--target", "toy-b", "--features", "toy-spectrum"]
    args = cli.build_parser().parse_args([*argv, "--data-root", str(tones)])
    with pytest.raises(ValueError, match="names the target 'toy-b' beside other corpora"):
        run_bench_command(args, _registry(), Console(width=200))
    args = _args(tones, tmp_path, "--method", "nearest-centroid", "--seeds", "1")
    args.source = "toy-b"
    assert run_bench_command(args, _registry(), Console(width=200)) == 0
    data = _result(tmp_path)
    assert all(c["within_corpus"] and c["experiment"] == "toy-b (within-corpus)" for c in data["cells"])


def test_unknown_and_ill_typed_option_keys_are_refused(tones: Path) -> None:
    registry = _registry(Constant())
    for option, message in (
        ("constant.kk=1", "method 'constant' has no option 'kk'; constant takes k"),
        ("constant.k=many", "--option constant.k=many: expected a whole number"),
        ("coral.wieght=1", "'coral' is not a method of this run"),
        ("epochs=3", "no method of this run takes 'epochs'"),
    ):
        args = _args(tones, tones, "--method", "constant", "--option", option)
        with pytest.raises(ValueError, match=re.escape(message)):
            run_bench_command(args, registry, Console(width=200))


def test_option_keys_are_checked_for_the_built_in_methods(capsys) -> None:
    for argv, message in (
        (
            ["--method", "pathnet", "--no-baselines", "--option", "epochs=5"],
            "no method of this run takes 'epochs'",
        ),
        (
            ["--method", "target-only", "--option", "epochs=many"],
            "--option epochs=many: expected a whole number",
        ),
        (["--method", "target-only", "--option", "hidden=wide"], "--option hidden=wide"),
    ):
        assert cli.main(["bench", "--target", "sim-savee", "--source", "sim-emodb", *argv]) == cli.EXIT_USAGE
        assert message in " ".join(capsys.readouterr().err.split())


# -- result files that cannot mix or lose cells --------------------------------------------------
def test_resume_with_another_identity_is_refused(tones: Path, tmp_path: Path) -> None:
    registry = _registry(Constant())
    args = _args(tones, tmp_path, "--method", "constant", "--seeds", "1", "--option", "k=1")
    assert run_bench_command(args, registry, Console(width=200)) == 0
    (path,) = list(tmp_path.glob("bench-*.json"))
    before = path.read_text()
    for change, named in (
        (["--option", "k=2"], "options.constant.k: 1 -> 2"),
        (["--option", "k=1", "--folds", "2"], "folds: 'auto' -> '2'"),
        (["--option", "k=1", "--target-budget", "0.5"], "budgets"),
    ):
        again = _args(tones, tmp_path, "--method", "constant", "--seeds", "1", *change, "--resume", str(path))
        with pytest.raises(ResultFileError, match=named):
            run_bench_command(again, registry, Console(width=200))
    assert path.read_text() == before  # a refused resume writes nothing
    same = _args(
        tones, tmp_path, "--method", "constant", "--seeds", "1", "--option", "k=1", "--resume", str(path)
    )
    assert run_bench_command(same, registry, Console(width=200)) == 0
    assert len(json.loads(path.read_text())["cells"]) == len(json.loads(before)["cells"])


def test_a_new_run_never_takes_an_existing_file_and_a_locked_file_is_not_resumed(tmp_path: Path) -> None:
    first = ResultFile.create(tmp_path, "bench-x", {"seeds": [0]})
    second = ResultFile.create(tmp_path, "bench-x", {"seeds": [0]})
    assert first.path != second.path and first.path.exists() and second.path.exists()
    with pytest.raises(ResultFileError, match="exists already"):
        ResultFile(first.path, {})
    with pytest.raises(ResultFileError, match="being written by another emokit bench"):
        ResultFile.resume(first.path)
    first.finish("complete")
    second.finish("complete")
    ResultFile.resume(first.path).close()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"cells": 5}', "is not an emokit result file"),
        ("not json", "not valid JSON"),
        ('{"format": 99, "config": {}, "cells": []}', "result format 99"),
        ("[1, 2]", "is not an emokit result file"),
    ],
)
def test_resume_of_something_that_is_not_a_result_file(
    tmp_path: Path, content: str, message: str, capsys
) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    assert (
        cli.main(["bench", "--target", "sim-savee", "--method", "svm", "--resume", str(path)])
        == cli.EXIT_USAGE
    )
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and str(path) in err and "Traceback" not in err


def test_bad_out_and_missing_resume_are_one_line(tmp_path: Path, capsys) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    cases = [
        (["--out", str(a_file)], "is a file; expected a folder"),
        (["--out", "/proc/emokit-out"], "cannot write result files there"),
        (["--resume", str(tmp_path / "missing.json")], "does not exist"),
        (["--folds", "1"], "--folds '1'"),
        (["--target-budget", "2"], "--target-budget"),
        (["--target-shots", "x"], "--target-shots"),
        (["--reference", "pathnet"], "--reference 'pathnet': not a method of this run"),
        (["--norm", "global"], "--norm 'global'"),
    ]
    for extra, message in cases:
        code = cli.main(
            ["bench", "--target", "sim-savee", "--source", "sim-emodb", "--method", "svm", *extra]
        )
        err = " ".join(capsys.readouterr().err.split())
        assert code == cli.EXIT_USAGE and message in err and "Traceback" not in err, (extra, err)


def test_impossible_folds_are_refused_before_features(tones: Path, tmp_path: Path) -> None:
    registry = _registry()
    cache = tmp_path / "cache"
    for extra, message in (
        (["--folds", "6"], "toy-b: --folds 6 needs at least 6 speakers, but it has 4"),
        (["--target-budget", "0.01"], "toy-b: --target-budget 0.01 leaves class"),
        (["--target-shots", "40"], "toy-b: --target-shots 40 asks for 40"),
    ):
        args = _args(tones, tmp_path, "--method", "nearest-centroid", "--cache-dir", str(cache), *extra)
        with pytest.raises(FoldError, match=message):
            run_bench_command(args, registry, Console(width=200))
    assert not (cache / "features").exists()  # nothing was extracted
    assert not list(tmp_path.glob("bench-*.json"))  # and no empty result file was left


# -- processes: kills and concurrent runs, as a user would meet them -------------------------------
TINY = ["bench", "--method", "target-only,source-only", "--source", "sim-emodb", "--target", "sim-savee",
        "--modality", "audio", "--sim-scale", "0.05", "--seeds", "3",
        "--option", "epochs=3", "--quiet"]  # fmt: skip


def test_a_kill_during_a_resumed_run_loses_nothing(tmp_path: Path) -> None:
    result = run_emokit([*TINY, "--out", "out"], tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (path,) = list((tmp_path / "out").glob("bench-*.json"))
    data = json.loads(path.read_text())
    total = len(data["cells"])
    data["cells"] = data["cells"][:3]  # as if the run had been stopped after three cells
    path.write_text(json.dumps(data))
    kept = 3
    env = {**os.environ, "COLUMNS": "200"}
    for delay in (0.5, 1.5, 2.5, 3.5, 5.0, 7.0):
        process = subprocess.Popen(
            [sys.executable, "-m", "emokit.cli", *TINY, "--out", "out", "--resume", str(path)],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        now = len(load_results(path)["cells"])  # always a whole, valid file
        assert now >= kept
        kept = now
        if kept == total:
            break
    final = run_emokit([*TINY, "--out", "out", "--resume", str(path)], tmp_path)
    assert final.returncode == 0, final.stderr[-2000:]
    data = load_results(path)
    assert len(data["cells"]) == total and data["status"] == "complete"
    assert len(load_predictions(path)) == total  # every cell's predictions survived the kills


def test_two_runs_into_one_out_at_once_both_keep_their_cells(tmp_path: Path) -> None:
    warm = run_emokit([*TINY, "--out", "warm"], tmp_path)  # corpora and features cached first
    assert warm.returncode == 0, warm.stderr[-2000:]
    env = {**os.environ, "COLUMNS": "200"}
    runs = [
        subprocess.Popen([sys.executable, "-m", "emokit.cli", *TINY, "--out", "out"], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    for run in runs:
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err[-2000:]
    files = sorted((tmp_path / "out").glob("bench-*.json"))
    assert len(files) == 2
    expected = len(load_results(next((tmp_path / "warm").glob("bench-*.json")))["cells"])
    for path in files:
        data = load_results(path)
        assert data["status"] == "complete" and len(data["cells"]) == expected
        assert len(load_predictions(path)) == expected


# -- simulated is said --------------------------------------------------------------------------
def test_simulated_corpora_are_labelled_and_a_real_loader_on_a_generated_folder_says_so(
    tmp_path: Path,
) -> None:
    from emokit.bench.protocol import Reporter
    from emokit_plugins.simulated import prepare_corpus

    folder = prepare_corpus("sim-savee", cache_dir=None, scale=0.05, seed=0)
    warnings: list[str] = []

    class Recording(Reporter):
        def warn(self, message: str) -> None:
            warnings.append(message)

    registry = Registry.discover()
    experiment = Experiment(("sim-savee",), "savee", "audio", "egemaps")
    config = BenchConfig(
        methods=["svm"], experiments=[experiment], seeds=[0], data_root=folder, data_options={"scale": 0.05}
    )
    runner = BenchRunner(registry, config, Recording())
    real = runner.corpus("savee")
    assert real.simulation is not None and real.simulation["name"] == "sim-savee"
    assert any("written by emokit's corpus simulator" in w and "not the real corpus" in w for w in warnings)
    simulated = runner.corpus("sim-savee")
    from emokit_plugins.simulated.specs import GENERATOR_VERSION

    assert simulated.simulation["generator_version"] == GENERATOR_VERSION
    assert simulated.simulation["scale"] == 0.05
    summary = runner.corpus_summary()
    assert summary["savee"]["simulated"] and summary["sim-savee"]["simulated"]


def test_list_shows_each_methods_options(capsys) -> None:
    assert cli.main(["list", "methods"]) == 0
    out = capsys.readouterr().out
    for expected in ("pathnet options", "population", "target-only options", "256x128", "svm_c", "0.1,1,10"):
        assert expected in out, expected


def test_the_folds_follow_the_fold_seed_not_the_initialisation_seeds(tones: Path, tmp_path: Path) -> None:
    def folds(out: str, *extra: str) -> dict:
        args = _args(tones, tmp_path / out, "--method", "nearest-centroid", "--folds", "2", *extra)
        assert run_bench_command(args, _registry(), Console(width=200)) == 0
        cells = [c for c in _result(tmp_path / out)["cells"] if c["method"] == "nearest-centroid"]
        return {(c["fold"], c["repeat"]): (c["test_speakers"], c["seed"]) for c in cells}

    a = folds("a", "--seeds", "0,1")
    b = folds("b", "--seeds", "5,6")
    c = folds("c", "--seeds", "0,1", "--fold-seed", "3")
    assert {k: v[0] for k, v in a.items()} == {k: v[0] for k, v in b.items()}  # same speakers tested
    assert {v[1] for v in a.values()} == {0, 1} and {v[1] for v in b.values()} == {5, 6}
    assert {k: v[0] for k, v in a.items()} != {k: v[0] for k, v in c.items()}
