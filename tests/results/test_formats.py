"""Result files of every format load into the current shape, and what is not a result file is refused.

Format-1 files are real: written by the emokit of commit 3bb8f86 (tests/results/fixtures/README.md
says how). A format-2 file is a fresh format-3 file without what format 3 added.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import emokit.results
from emokit.bench.metrics import METRIC_NAMES
from emokit.bench.results import RESULT_FORMAT, ResultFileError
from emokit.results import FRAME_COLUMNS, load
from emokit.results.run import curves_from_method_info
from emokit.results.schema import validate

FORMAT1 = sorted((Path(__file__).parent / "fixtures" / "format1").glob("bench-*.json"))
FULL = {"label": "100%", "fraction": 1.0, "shots": None}


def _raw(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _by_name(part: str) -> Path:
    (path,) = [p for p in FORMAT1 if part in p.name]
    return path


def test_the_format1_fixtures_are_format_1_and_small() -> None:
    assert len(FORMAT1) == 4
    for path in FORMAT1:
        data = _raw(path)
        assert data["format"] == 1 and data["status"] == "complete"
        assert "sim_scale" in data["config"] and "budgets" not in data["config"]
        assert not any({"fold", "repeat", "budget", "status"} & set(cell) for cell in data["cells"])
        assert path.stat().st_size < 200_000


# -- format 1 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", FORMAT1, ids=[p.stem for p in FORMAT1])
def test_a_format1_file_loads_as_the_current_format(path: Path) -> None:
    raw = _raw(path)
    results = load(path)
    assert results.format == 1 and results.status == "complete"
    assert results.data["format"] == RESULT_FORMAT and results.data["run_config"] is None
    assert _raw(path) == raw  # the file itself is untouched
    seeds = raw["config"]["seeds"]
    assert len(results.cells) == len(raw["cells"])
    for cell, old in zip(results.cells, raw["cells"], strict=True):
        assert cell["budget"] == FULL and cell["fold"] == 0 and cell["folds"] == 1
        assert cell["repeat"] == seeds.index(old["seed"])
        assert cell["status"] == "ok" and cell["curves"] == [] and cell["validation"] is None
        assert cell["within_corpus"] == (old["sources"] == [old["target"]])
        confusion = np.asarray(old["scores"]["confusion"])
        expected = {
            name: (confusion[i, i] / confusion[i].sum() if confusion[i].sum() else None)
            for i, name in enumerate(old["classes"])
        }
        assert cell["per_class_recall"] == pytest.approx(expected)
        assert cell["scores"] == old["scores"]


@pytest.mark.parametrize("path", FORMAT1, ids=[p.stem for p in FORMAT1])
def test_a_format1_summary_is_the_mean_and_std_over_seeds(path: Path) -> None:
    raw = _raw(path)
    results = load(path)
    rows = {(r["experiment"], r["method"]): r for r in results.summary}
    methods = set(raw["config"]["methods"])
    # the old file's own summary (mean ± std over seeds) is what the loader computes again
    old_rows = [r for r in raw["summary"] if r["method"] in methods]
    assert old_rows
    for old in old_rows:
        row = rows[(old["experiment"], old["method"])]
        assert row["cells"] == len(raw["config"]["seeds"]) and row["budget"] == FULL
        assert row["seeds"] == sorted(raw["config"]["seeds"])
        for metric in METRIC_NAMES:
            assert row[metric]["mean"] == pytest.approx(old[metric]["mean"], abs=1e-6)
            assert row[metric]["std"] == pytest.approx(old[metric]["std"], abs=1e-6)
            assert row[metric]["n"] == len(raw["config"]["seeds"])


def test_a_format1_summary_compares_with_target_only_on_matched_seeds() -> None:
    results = load(_by_name("target-only+source-only"))
    (row,) = [r for r in results.summary if r["method"] == "source-only"]
    comparison = row["comparison"]
    assert comparison["reference"] == "target-only" and comparison["matched_cells"] == 2
    assert "fold_test" in comparison and "bootstrap" not in comparison  # format 1 kept no predictions
    assert not results.has_predictions


@pytest.mark.parametrize("path", FORMAT1, ids=[p.stem for p in FORMAT1])
def test_a_format1_file_makes_a_frame_of_one_row_per_cell(path: Path) -> None:
    raw = _raw(path)
    frame = load(path).to_frame()
    assert len(frame) == len(raw["cells"])
    assert list(frame.columns[: len(FRAME_COLUMNS)]) == list(FRAME_COLUMNS)
    assert set(frame["budget"]) == {"100%"} and set(frame["fold"]) == {0} and set(frame["status"]) == {"ok"}
    assert list(frame["uar"]) == [c["scores"]["uar"] for c in raw["cells"]]
    assert list(frame["sources"]) == ["+".join(c["sources"]) for c in raw["cells"]]
    for index, cell in enumerate(raw["cells"]):  # a matrix's experiments share different classes
        recalls = frame.loc[index, [f"recall_{c}" for c in cell["classes"]]]
        assert recalls.notna().all() and ((recalls >= 0) & (recalls <= 1)).all()


def test_the_multi_source_and_matrix_format1_files_keep_their_experiments() -> None:
    multi = load(_by_name("cascade"))
    assert {tuple(c["sources"]) for c in multi.cells} == {("sim-emodb", "sim-savee")}
    assert {r["method"] for r in multi.summary} == {"cascade", "pooled", "finetune", "target-only"}
    matrix = load(_by_name("115811-target-only"))
    within = [c for c in matrix.cells if c["within_corpus"]]
    assert {c["target"] for c in within} == {"sim-savee", "sim-emodb"}
    assert len({r["experiment"] for r in matrix.summary}) == 4
    visual = load(_by_name("finetune.json"))
    assert {c["modality"] for c in visual.cells} == {"visual"}


@pytest.mark.parametrize("path", FORMAT1, ids=[p.stem for p in FORMAT1])
def test_upgraded_format1_data_matches_the_schema(path: Path) -> None:
    assert validate(load(path).data) == []
    assert validate(path)  # the file as written is format 1, not the schema's


# -- format 2 -------------------------------------------------------------------------------------
def _as_format2(result: Path, folder: Path) -> Path:
    """A copy of a format-3 result file (and its sidecar) as format 2 wrote it."""
    data = _raw(result)
    data["format"] = 2
    data.pop("run_config", None)
    for cell in data["cells"]:
        cell.pop("curves", None)
    path = folder / result.name
    path.write_text(json.dumps(data), encoding="utf-8")
    sidecar = result.with_name(result.stem + ".predictions.jsonl")
    (folder / sidecar.name).write_text(sidecar.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def test_a_format2_file_loads_with_curves_from_method_info(pathnet_run: Path, tmp_path: Path) -> None:
    path = _as_format2(pathnet_run, tmp_path)
    results = load(path)
    fresh = load(pathnet_run)
    assert results.format == 2 and fresh.format == 3
    assert results.data["format"] == RESULT_FORMAT and results.data["run_config"] is None
    assert len(results.cells) == len(fresh.cells)
    for cell in results.cells:
        assert cell["curves"] == curves_from_method_info(cell.get("method_info") or {})
    pathnet = [c for c in results.cells if c["method"] == "pathnet"]
    assert pathnet and all(c["curves"] and c["curves"][0]["x"] == "generation" for c in pathnet)
    assert all(c["curves"] == [] for c in results.cells if c["method"] == "target-only")
    assert results.summary == _raw(path)["summary"]  # a complete run's own summary
    assert results.has_predictions
    assert results.to_frame().equals(fresh.to_frame())
    assert validate(results.data) == []


def test_a_format3_file_loads_as_written(pathnet_run: Path) -> None:
    results = load(pathnet_run)
    raw = _raw(pathnet_run)
    assert results.data["cells"] == raw["cells"]
    assert validate(results.data) == []


# -- what is not a result file ------------------------------------------------------------------
def _broken(tmp_path: Path, pathnet_run: Path, kind: str) -> tuple[Path, str]:
    text = pathnet_run.read_text(encoding="utf-8")
    data = json.loads(text)
    if kind == "not JSON":
        content, says = "emokit results, I promise", "not valid JSON"
    elif kind == "truncated":
        content, says = text[: len(text) // 2], "not valid JSON"
    elif kind == "empty":
        content, says = "", "not valid JSON"
    elif kind == "not a result":
        content, says = '{"a": 1}', "is not an emokit result file"
    elif kind == "a list":
        content, says = "[1, 2]", "is not an emokit result file"
    elif kind == "newer format":
        data["format"] = 99
        content, says = json.dumps(data), "result format 99"
    elif kind == "cell without method":
        del data["cells"][1]["method"]
        content, says = json.dumps(data), "cell 1 lacks method"
    else:
        raise AssertionError(kind)
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    return path, says


KINDS = ["not JSON", "truncated", "empty", "not a result", "a list", "newer format", "cell without method"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_file_fails_load_with_one_clear_message(pathnet_run: Path, tmp_path: Path, kind: str) -> None:
    path, says = _broken(tmp_path, pathnet_run, kind)
    with pytest.raises(ResultFileError) as caught:
        load(path)
    message = str(caught.value)
    assert says in message and str(path) in message
    assert "\n" not in message and len(message) < 400  # one line, not a dump of the file
    assert isinstance(caught.value, ValueError)  # callers may catch ValueError


def test_a_missing_file_and_a_folder_are_named(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="does not exist"):
        load(tmp_path / "missing.json")
    with pytest.raises(ResultFileError, match="is a folder"):
        load(tmp_path)


def test_the_package_exposes_load_and_the_error() -> None:
    assert emokit.results.load is load and emokit.results.ResultFileError is ResultFileError


# -- gaps of the loader (the fixes are proposed to the loader's owner) ----------------------------
def test_an_ok_cell_without_scores_fails_load_naming_the_file(pathnet_run: Path, tmp_path: Path) -> None:
    data = _raw(pathnet_run)
    data["status"] = "interrupted"  # the summary is computed from the cells
    del data["cells"][1]["scores"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ResultFileError, match="scores") as caught:
        load(path).summary  # noqa: B018 - the summary is what reads the scores
    assert str(path) in str(caught.value)


def test_a_newer_format_of_another_shape_says_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "future.json"
    path.write_text(json.dumps({"format": 99, "runs": []}), encoding="utf-8")
    with pytest.raises(ResultFileError, match="result format 99"):
        load(path)
