"""The result file's JSON Schema: valid itself, in step with the code, met by real runs (ok and failed
cells, comparisons, curves, shots budgets), and strict enough to catch a broken file, naming where."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console
from support.toy_plugin import NearestCentroid, toy_registry, write_tone_corpora

from emokit import cli
from emokit.api import Method
from emokit.bench.results import RESULT_FORMAT
from emokit.cli.bench import run_bench_command
from emokit.data.corpus import MODALITIES
from emokit.methods.normalisation import NORMALISATIONS
from emokit.results import schema as result_schema
from emokit.results.schema import SCHEMA_PATH, schema, validate


class FailsOnFold2(Method):
    """Nearest centroid, but every cell of the second fold raises."""

    name = "fails-on-fold-2"
    description = "nearest centroid; fold 2 raises"

    def run(self, task):
        if task.fold == 1:
            raise RuntimeError("fold 2 is cursed")
        return NearestCentroid().run(task)


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy run with failed cells, a fraction and a shots budget, and comparisons with a reference."""
    tones = write_tone_corpora(tmp_path_factory.mktemp("tones"))
    out = tmp_path_factory.mktemp("failing-run")
    args = cli.build_parser().parse_args(
        ["bench", "--source", "toy-a", "--target", "toy-b", "--features", "toy-spectrum", "--data-root",
         str(tones), "--out", str(out), "--quiet", "--method", "fails-on-fold-2,nearest-centroid",
         "--no-baselines", "--reference", "nearest-centroid", "--folds", "loso", "--seeds", "2",
         "--target-budget", "0.5", "--target-shots", "2"]
    )  # fmt: skip
    code = run_bench_command(args, toy_registry(FailsOnFold2()), Console(width=200, record=True))
    assert code == cli.EXIT_CELLS_FAILED
    (path,) = out.glob("bench-*.json")
    return path


def _data(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# -- the schema itself ------------------------------------------------------------------------------
def test_the_schema_is_a_valid_draft_2020_12_schema_shipped_beside_the_module() -> None:
    loaded = schema()
    jsonschema.Draft202012Validator.check_schema(loaded)
    assert loaded["$schema"].endswith("/draft/2020-12/schema")
    assert SCHEMA_PATH.parent == Path(result_schema.__file__).parent
    assert schema() is not schema()  # a fresh dict: a caller may change its copy


def test_the_schema_follows_the_code() -> None:
    loaded = schema()
    defs = loaded["$defs"]
    assert loaded["properties"]["format"]["const"] == RESULT_FORMAT
    assert tuple(defs["norm"]["enum"]) == NORMALISATIONS
    assert tuple(defs["modality"]["enum"]) == MODALITIES
    assert set(loaded["properties"]["status"]["enum"]) == {"running", "complete", "interrupted", "failed"}
    # every top-level key the writer knows is described, and only those are allowed
    assert loaded["additionalProperties"] is False
    assert {"run_config", "resumed", "error", "finished", "predictions_file"} <= set(loaded["properties"])


def test_every_field_of_the_file_its_cells_and_summary_rows_is_described() -> None:
    loaded = schema()
    defs = loaded["$defs"]

    def described(sub: dict) -> bool:
        ref = sub.get("$ref", "")
        return "description" in sub or "description" in defs.get(ref.rsplit("/", 1)[-1], {})

    objects = {"$": loaded, "cell": defs["cell"], "summary row": defs["summary_row"]}
    missing = [
        f"{where}.{name}"
        for where, node in objects.items()
        for name, sub in node["properties"].items()
        if not described(sub)
    ]
    assert not missing, missing
    for unit in ("fractions in [0, 1]", "seconds"):
        assert unit in loaded["description"]


# -- real runs validate ---------------------------------------------------------------------------
def test_a_fresh_default_like_run_validates(pathnet_run: Path) -> None:
    data = _data(pathnet_run)
    assert data["format"] == RESULT_FORMAT and data["status"] == "complete"
    # the run exercises what the schema describes: comparisons, curves by epoch and by generation
    assert any("comparison" in row and "bootstrap" in row["comparison"] for row in data["summary"])
    xs = {curve["x"] for cell in data["cells"] for curve in cell["curves"]}
    assert {"epoch", "generation"} <= xs
    assert validate(pathnet_run) == []
    assert validate(data) == []


def test_a_run_with_failed_cells_and_a_shots_budget_validates(failing_run: Path) -> None:
    data = _data(failing_run)
    failed = [c for c in data["cells"] if c["status"] == "failed"]
    assert failed and all(c["error"]["message"] == "fold 2 is cursed" for c in failed)
    assert {c["budget"]["label"] for c in data["cells"]} == {"2-shot", "50%"}
    assert any(row.get("failed_cells") for row in data["summary"])
    assert validate(failing_run) == []


def test_interrupted_and_running_files_validate(pathnet_run: Path) -> None:
    data = _data(pathnet_run)
    running = {**data, "status": "running", "summary": [], "cells": data["cells"][:3]}
    del running["finished"]
    assert validate(running) == []
    assert validate({**data, "status": "interrupted"}) == []
    assert validate({**data, "status": "failed", "error": "RuntimeError: out of memory"}) == []


# -- breakages are caught, with where -----------------------------------------------------------------
def _set(path: str, value: object):
    def change(data: dict) -> None:
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


_DELETE = object()

BREAKAGES = [  # what, the change, the JSON path the message starts with, what it says
    ("a score of 1.5", _set("cells.0.scores.uar", 1.5), "$.cells[0].scores.uar", "greater than the maximum"),
    ("a negative WA", _set("cells.0.scores.wa", -0.1), "$.cells[0].scores.wa", "less than the minimum"),
    ("a cell without method", _set("cells.0.method", _DELETE), "$.cells[0]", "'method' is a required"),
    ("a cell without scores", _set("cells.0.scores", _DELETE), "$.cells[0]", "'scores' is a required"),
    ("a cell without curves", _set("cells.0.curves", _DELETE), "$.cells[0]", "'curves' is a required"),
    ("a cell without runtime", _set("cells.0.runtime", _DELETE), "$.cells[0]", "'runtime' is a required"),
    ("a wrong status", _set("status", "done"), "$.status", "is not one of"),
    ("a wrong cell status", _set("cells.0.status", "skipped"), "$.cells[0].status", "is not one of"),
    ("a budget fraction of 0", _set("cells.0.budget.fraction", 0), "$.cells[0].budget.fraction", "minimum"),
    ("a budget over 1", _set("cells.0.budget.fraction", 1.5), "$.cells[0].budget.fraction", "maximum"),
    ("a negative count", _set("cells.0.scores.confusion.0.0", -1), "$.cells[0].scores.confusion[0][0]", ""),
    ("a float count", _set("cells.0.scores.confusion.0.0", 1.5), "$.cells[0].scores.confusion[0][0]", ""),
    ("a flat confusion", _set("cells.0.scores.confusion", [1, 2]), "$.cells[0].scores.confusion[0]", ""),
    (
        "a curve point text",
        _set("cells.0.curves.0.series", {"val_uar": ["x"]}),
        "$.cells[0].curves[0].series.val_uar[0]",
        "is not of type",
    ),
    ("a curve without x", _set("cells.0.curves.0.x", _DELETE), "$.cells[0].curves[0]", "'x' is a required"),
    ("a mean UAR over 1", _set("summary.0.uar.mean", 1.2), "$.summary[0].uar.mean", "maximum"),
    (
        "a p-value over 1",
        _set("summary.0.comparison.fold_test.p", 2.0),
        "$.summary[0].comparison.fold_test.p",
        "maximum",
    ),
    ("a modality typo", _set("cells.0.modality", "audi"), "$.cells[0].modality", "is not one of"),
    ("an older format", _set("format", 2), "$.format", "3 was expected"),
    ("an unknown key", _set("scores", {}), "$", "Additional properties"),
    ("no config", _set("config", _DELETE), "$", "'config' is a required"),
    ("seeds as text", _set("seeds", "0,1"), "$.seeds", "is not of type 'array'"),
    ("a failed run without error", _set("status", "failed"), "$", "'error' is a required"),
    ("no created time", _set("created", "yesterday"), "$.created", "does not match"),
]


@pytest.mark.parametrize(("what", "change", "where", "says"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_a_broken_file_is_caught_with_its_path(pathnet_run: Path, what, change, where, says) -> None:
    data = _data(pathnet_run)
    # the first cell is a method's (with curves), the first row one with a comparison
    data["cells"].sort(key=lambda c: not c["curves"])
    data["summary"].sort(key=lambda r: "comparison" not in r)
    change(data)
    problems = validate(data)
    assert problems, f"{what} was not caught"
    assert any(p.startswith(f"{where}:") and says in p for p in problems), problems


def test_both_fraction_and_shots_is_caught(pathnet_run: Path) -> None:
    data = _data(pathnet_run)
    data["cells"][0]["budget"] = {"label": "2-shot", "fraction": 0.5, "shots": 2}
    assert any(p.startswith("$.cells[0].budget:") for p in validate(data))
    data["cells"][0]["budget"] = {"label": "?", "fraction": None, "shots": None}
    assert any(p.startswith("$.cells[0].budget:") for p in validate(data))


def test_a_failed_cell_needs_its_error(failing_run: Path) -> None:
    data = _data(failing_run)
    index = next(i for i, c in enumerate(data["cells"]) if c["status"] == "failed")
    broken = copy.deepcopy(data)
    del broken["cells"][index]["error"]
    assert any(p.startswith(f"$.cells[{index}]:") and "'error'" in p for p in validate(broken))
    broken = copy.deepcopy(data)
    del broken["cells"][index]["error"]["traceback"]
    assert any(p.startswith(f"$.cells[{index}].error:") for p in validate(broken))


def test_a_broken_file_on_disk_is_named(pathnet_run: Path, tmp_path: Path, allow_invalid_results) -> None:
    data = _data(pathnet_run)
    data["cells"][2]["scores"]["macro_f1"] = 7
    path = tmp_path / pathnet_run.name
    path.write_text(json.dumps(data))
    assert validate(path) == ["$.cells[2].scores.macro_f1: 7 is greater than the maximum of 1"]
    truncated = tmp_path / "truncated.json"
    truncated.write_text(pathnet_run.read_text()[:500])
    (problem,) = validate(truncated)
    assert problem.startswith("$: cannot read") and str(truncated) in problem


def test_extra_keys_are_allowed_where_methods_and_the_runner_add_them(pathnet_run: Path) -> None:
    data = _data(pathnet_run)
    cell = data["cells"][0]
    cell["method_info"]["anything"] = {"nested": [1, "two"]}
    cell["options"]["new_option"] = "x"
    cell["a_later_runner_key"] = 1
    cell["validation"] = {"uar": 0.5, "on": "source validation", "epoch": 3}
    data["run_config"] = {"method": ["pathnet"], "seeds": [0]}
    assert validate(data) == []
    data["run_config"] = None
    assert validate(data) == []


def test_without_jsonschema_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    result_schema._validator.cache_clear()
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    try:
        with pytest.raises(ImportError, match="pip install jsonschema"):
            validate({})
    finally:
        result_schema._validator.cache_clear()
