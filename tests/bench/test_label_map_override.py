"""``emokit bench --label-map NAME=FILE``: a corpus's own label map replaced from a file, and the
vocabulary and mapping every run used recorded in its result file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli_runner import run_emokit

from emokit.data.labels import COMMON_LABELS

RUN = [
    "bench", "--method", "target-only", "--no-baselines", "--source", "sim-emodb", "--target", "sim-emodb",
    "--features", "mfcc", "--seeds", "1", "--folds", "2", "--sim-scale", "0.1", "--option", "epochs=5",
    "--out", "out",
]  # fmt: skip


def _result(tmp_path: Path) -> dict:
    return json.loads(next((tmp_path / "out").glob("bench-*.json")).read_text())


def test_a_label_map_file_replaces_the_corpus_map_and_is_recorded(tmp_path: Path) -> None:
    # EMODB's codes W (anger), T (sadness), N (neutral), written as EmoBox-style names; the rest left out
    mapping = tmp_path / "emodb-three.json"
    mapping.write_text(json.dumps({"W": "Angry", "T": "Sad", "N": "Neutral"}))
    result = run_emokit([*RUN, "--label-map", f"sim-emodb={mapping}"], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = _result(tmp_path)
    corpus = data["corpora"]["sim-emodb"]
    assert corpus["vocabulary"] == list(COMMON_LABELS)
    assert corpus["label_map"]["codes"] == {"W": "anger", "T": "sadness", "N": "neutral"}
    assert corpus["label_map"]["source"] == str(mapping.resolve())
    assert set(corpus["label_counts"]) == {"anger", "neutral", "sadness"}
    assert {c["classes"] and tuple(c["classes"]) for c in data["cells"]} == {("anger", "neutral", "sadness")}
    left_out = [p for p in corpus["problems"] if p["skipped"] and "label map" in p["reason"]]
    assert left_out, corpus["problems"][:3]  # the other emotions' files are reported, not dropped silently
    assert data["identity"]["label_maps"] == {"sim-emodb": {"W": "anger", "T": "sadness", "N": "neutral"}}
    assert data["config"]["label_maps"] == {"sim-emodb": str(mapping.resolve())}
    assert data["run_config"]["label-map"] == {"sim-emodb": str(mapping.resolve())}


def test_the_providers_own_map_is_recorded_without_an_override(tmp_path: Path) -> None:
    result = run_emokit(RUN, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = _result(tmp_path)
    label_map = data["corpora"]["sim-emodb"]["label_map"]
    assert label_map["source"] is None
    assert label_map["codes"]["W"] == "anger" and label_map["codes"]["L"] == "boredom"
    assert "label_maps" not in data["identity"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "--label-map sim-emodb={file}: no such file"),
        ('{"W": "rage"}', "{file}"),
        ("[1, 2]", "{file}"),
    ],
)
def test_bad_label_map_files_are_refused_before_any_work(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    mapping = tmp_path / "map.json"
    if content is not None:
        mapping.write_text(content)
    result = run_emokit([*RUN, "--label-map", f"sim-emodb={mapping}"], tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    message = (result.stdout + result.stderr).replace("\n", " ")
    assert expected.format(file=mapping) in message
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("bench-*.json"))


def test_a_label_map_for_an_unknown_dataset_names_the_datasets(tmp_path: Path) -> None:
    mapping = tmp_path / "map.json"
    mapping.write_text('{"W": "anger"}')
    result = run_emokit([*RUN, "--label-map", f"sim-emodbb={mapping}"], tmp_path)
    assert result.returncode == 2
    assert "sim-emodbb" in result.stdout + result.stderr and "sim-emodb" in result.stdout + result.stderr
