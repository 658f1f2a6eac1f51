"""``emokit compare`` and :func:`emokit.results.compare.compare_runs`: an identical pair passes, an
injected regression fails naming it (the bootstrap over predictions sees it too), the threshold is
in UAR points, what differs between the runs comes first, and runs sharing no cell exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.results import copy_result

from emokit import cli
from emokit.bench.results import predictions_path
from emokit.results import load
from emokit.results.compare import ABSENT, Comparison, compare_runs, dict_differences

#: the method whose cells the regressed copy lowers, and by how much (UAR as a fraction)
REGRESSED, DROP = "pathnet", 0.2


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture(scope="module")
def copies(pathnet_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    same = copy_result(pathnet_run, root / "same")

    regressed = copy_result(pathnet_run, root / "regressed")

    def lower(data: dict) -> None:
        for cell in data["cells"]:
            if cell["method"] == REGRESSED:
                cell["scores"]["uar"] -= DROP  # a plain edit: compare reads what the file says

    _edit(regressed, lower)
    # ... and its predictions: every right answer of the method made wrong, so the pooled
    # utterances show the drop as well
    sidecar = predictions_path(regressed)
    records = [json.loads(line) for line in sidecar.read_text(encoding="utf-8").splitlines()]
    classes = load(pathnet_run).cells[0]["classes"]
    for record in records:
        if record["key"][5] == REGRESSED:
            record["pred"] = [
                classes[(classes.index(t) + 1) % len(classes)] if p == t else p
                for t, p in zip(record["true"], record["pred"], strict=True)
            ]
    sidecar.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    edited = copy_result(pathnet_run, root / "edited")

    def edit_config(data: dict) -> None:
        data["config"]["fold_seed"] = 3
        data["identity"]["options"]["target-only"]["epochs"] = 7
        data["versions"]["torch"] = "9.9.9"

    _edit(edited, edit_config)

    disjoint = copy_result(pathnet_run, root / "disjoint")

    def other_repeat(data: dict) -> None:
        for cell in data["cells"]:
            cell["repeat"] = 7

    _edit(disjoint, other_repeat)
    return {"same": same, "regressed": regressed, "edited": edited, "disjoint": disjoint}


@pytest.fixture(scope="module")
def regression(pathnet_run: Path, copies: dict[str, Path]) -> Comparison:
    return compare_runs(load(pathnet_run), load(copies["regressed"]))


def test_an_identical_pair_exits_0_with_zero_differences(pathnet_run: Path, copies, capsys) -> None:
    comparison = compare_runs(load(pathnet_run), load(copies["same"]))
    assert comparison.differences == [] and comparison.only_a == [] and comparison.only_b == []
    assert len(comparison.rows) == 10 and comparison.matched_cells == 20
    for row in comparison.rows:
        assert row.diff == 0 and row.matched == 2 and row.fold_test.p == 1.0
        assert row.bootstrap is not None and row.bootstrap.diff == 0 and row.bootstrap.p == 1.0
    assert comparison.regressions(0) == []
    assert cli.main(["compare", str(pathnet_run), str(copies["same"])]) == 0
    out = capsys.readouterr().out
    assert "nothing: the runs agree" in out and "no regression" in out
    assert "only in A: 0" in out and "only in B: 0" in out


def test_an_injected_regression_is_found_by_both_tests(regression: Comparison) -> None:
    lowered = [row for row in regression.rows if row.method == REGRESSED]
    assert len(lowered) == 2  # one per budget
    assert regression.regressions(0) == lowered
    for row in lowered:
        assert row.diff_points == pytest.approx(-100 * DROP)
        assert row.fold_test.statistic == pytest.approx(-DROP)  # B - A
        boot = row.bootstrap
        assert boot is not None and boot.diff < 0 and boot.high < 0  # the utterances say it too
        assert (
            boot.n_units
            == boot.n_rows
            == sum(
                c["scores"]["n"]
                for c in regression.a.cells
                if c["method"] == REGRESSED and c["budget"]["label"] == row.budget
            )
        )
    for row in regression.rows:
        if row.method != REGRESSED:
            assert row.diff == 0 and row.bootstrap is not None and row.bootstrap.diff == 0
    assert regression.differences == []


def test_compare_exits_1_naming_the_regression(pathnet_run: Path, copies, capsys) -> None:
    assert cli.main(["compare", str(pathnet_run), str(copies["regressed"])]) == 1
    out = capsys.readouterr().out
    verdict = out[out.index("regression:") :]
    assert "2 of 10 result(s) of B are lower than A's by more than 0 UAR point(s)" in verdict
    assert verdict.count("sim-savee -> sim-emodb (audio, egemaps)") == 2
    assert f"{REGRESSED}" in verdict and "budget 50%" in verdict and "budget 100%" in verdict
    assert "-20.00 points" in verdict


@pytest.mark.parametrize(("threshold", "code"), [("25", 0), ("19.5", 1), ("0", 1), (None, 1)])
def test_the_threshold_is_in_uar_points(pathnet_run: Path, copies, threshold, code, capsys) -> None:
    argv = ["compare", str(pathnet_run), str(copies["regressed"])]
    assert cli.main([*argv, *(["--threshold", threshold] if threshold else [])]) == code
    assert ("no regression" in capsys.readouterr().out) == (code == 0)


def test_regressions_take_a_threshold_in_points(regression: Comparison) -> None:
    assert len(regression.regressions(19.5)) == 2 and regression.regressions(20.5) == []
    with pytest.raises(ValueError):
        regression.regressions(-1)


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf"])
def test_a_bad_threshold_is_a_usage_error(pathnet_run: Path, value: str, capsys) -> None:
    assert cli.main(["compare", str(pathnet_run), str(pathnet_run), f"--threshold={value}"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"--threshold {value}" in err


def test_config_and_version_differences_come_first(pathnet_run: Path, copies, capsys) -> None:
    comparison = compare_runs(load(pathnet_run), load(copies["edited"]))
    shown = {(d.section, str(d)) for d in comparison.differences}
    assert shown == {
        ("config", "fold_seed: 0 -> 3"),
        ("identity", "options.target-only.epochs: 5 -> 7"),
        ("versions", f"torch: {load(pathnet_run).data['versions']['torch']!r} -> '9.9.9'"),
    }
    assert comparison.regressions(0) == []  # the numbers are the same
    assert cli.main(["compare", str(pathnet_run), str(copies["edited"])]) == 0
    out = capsys.readouterr().out
    assert out.index("What differs") < out.index("fold_seed: 0 -> 3") < out.index("UAR % of B against A")
    assert out.index("torch: ") < out.index("UAR % of B against A")
    assert out.index("config (1)") < out.index("versions (1)")


def test_runs_that_share_no_cell_exit_2(pathnet_run: Path, copies, capsys) -> None:
    comparison = compare_runs(load(pathnet_run), load(copies["disjoint"]))
    assert comparison.rows == [] and len(comparison.only_a) == len(comparison.only_b) == 20
    assert cli.main(["compare", str(pathnet_run), str(copies["disjoint"])]) == 2
    captured = capsys.readouterr()
    assert "only in A: 20" in captured.out and "only in B: 20" in captured.out
    assert "fold 1, repeat 7" in captured.out  # examples of the cells only B has
    assert len(captured.err.strip().splitlines()) == 1 and "share no finished cell" in captured.err


def test_an_unreadable_file_exits_2_naming_it(pathnet_run: Path, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(pathnet_run.read_text(encoding="utf-8")[:1000], encoding="utf-8")
    assert cli.main(["compare", str(pathnet_run), str(broken)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(broken) in err


def test_a_run_without_predictions_is_compared_without_the_bootstrap(
    pathnet_run: Path, tmp_path: Path
) -> None:
    bare = copy_result(pathnet_run, tmp_path)
    predictions_path(bare).unlink()
    comparison = compare_runs(load(pathnet_run), load(bare))
    assert comparison.rows and all(row.bootstrap is None for row in comparison.rows)
    assert {row.bootstrap_note for row in comparison.rows} == {"B stored no predictions"}
    assert all(row.fold_test.p == 1.0 for row in comparison.rows)


def test_dict_differences_walk_dicts_and_lists_of_dicts() -> None:
    a = {
        "options": {"epochs": "150", "lr": 1},
        "experiments": [{"target": "x"}, {"target": "y"}],
        "seeds": [0],
    }
    b = {"options": {"epochs": "5"}, "experiments": [{"target": "x"}, {"target": "z"}], "seeds": [0, 1]}
    shown = [str(d) for d in dict_differences("config", a, b)]
    assert shown == [
        "experiments[1].target: 'y' -> 'z'",
        "options.epochs: '150' -> '5'",
        "options.lr: 1 -> (absent)",
        "seeds: [0] -> [0, 1]",
    ]
    assert dict_differences("config", a, json.loads(json.dumps(a))) == []
    assert dict_differences("config", {"k": 1}, {"k": 1.0}) == []  # equal numbers are equal
    assert repr(ABSENT) == "(absent)"
