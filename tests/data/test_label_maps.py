"""Label maps read from files (JSON object or two-column CSV/TSV), their messages, and relabel()."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import emokit.api as api
from emokit.data.corpus import Corpus, Utterance
from emokit.data.labels import (
    COMMON_LABELS,
    LabelMap,
    LabelMapError,
    UnknownLabelError,
    harmonise,
    read_label_map,
    relabel,
)

EMOBOX = {
    "c": "Angry",
    "j": "Happy",
    "p": "Fear",
    "t": "Sad",
    "n": "Neutral",
    "d": "Disgust",
    "s": "Surprise",
}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_emobox_label_map_reads_as_it_is(tmp_path: Path) -> None:
    path = _write(tmp_path, "label_map.json", json.dumps(EMOBOX))
    label_map = read_label_map(path, corpus="cafe")
    assert label_map.codes == {
        "c": "anger",
        "j": "happiness",
        "p": "fear",
        "t": "sadness",
        "n": "neutral",
        "d": "disgust",
        "s": "surprise",
    }
    assert label_map.source == str(path.resolve())
    assert label_map.to_dict() == {
        "corpus": "cafe",
        "codes": dict(label_map.codes),
        "source": str(path.resolve()),
    }
    assert read_label_map(path).corpus == "label_map"  # the corpus defaults to the file's stem


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("map.csv", "code,label\nW,ANGRY\nT,sad\n"),
        ("map.csv", "W,anger\n\n# a comment\nT,sadness,\n"),  # no header, a trailing separator
        ("map.tsv", "W\tAnger\nT\tSadness\n"),
        ("map.txt", "emotion\tlabel\nW\tangry\nT\tSAD\n"),  # tabs and no commas: a TSV
        ("map", '{"W": "anger", "T": "sadness"}'),  # no suffix: JSON by its first character
    ],
)
def test_csv_tsv_and_case_and_synonyms(tmp_path: Path, name: str, text: str) -> None:
    assert read_label_map(_write(tmp_path, name, text)).codes == {"W": "anger", "T": "sadness"}


def test_every_synonym_and_common_label_is_accepted(tmp_path: Path) -> None:
    words = ["angry", "happy", "joy", "sad", "fearful", "afraid", "surprised", "disgusted", "bored", "neu"]
    mapping = {f"x{i}": w for i, w in enumerate([*words, *COMMON_LABELS, "Calm", "NEUTRAL"])}
    codes = read_label_map(_write(tmp_path, "all.json", json.dumps(mapping))).codes
    assert set(codes.values()) == set(COMMON_LABELS)


def test_a_label_outside_the_vocabulary_names_the_file_code_label_and_vocabulary(tmp_path: Path) -> None:
    path = _write(tmp_path, "map.json", json.dumps({"W": "anger", "X": "Rage"}))
    with pytest.raises(LabelMapError) as caught:
        read_label_map(path)
    message = str(caught.value)
    assert str(path) in message and "'X'" in message and "'Rage'" in message
    assert all(label in message for label in COMMON_LABELS) and "angry->anger" in message
    assert isinstance(caught.value, UnknownLabelError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("map.json", "", "empty label map"),
        ("map.csv", "  \n\n", "empty label map"),
        ("map.json", '{"W": "anger",', "not valid JSON"),
        ("map.json", '["anger"]', "expected a JSON object"),
        ("map.json", "{}", "has no codes"),
        ("map.json", '{"W": 3}', "code 'W': expected a label (a string)"),
        ("map.csv", "W,anger\nT,sadness,extra\n", "line 2: expected two fields, code and label, got 3"),
        ("map.csv", "W,anger\nT\n", "line 2: expected two fields, code and label, got 1"),
        ("map.csv", "W,anger\nW,sadness\n", "line 2: code 'W': mapped twice"),
        ("map.csv", "code,label\n", "has no codes"),
    ],
)
def test_bad_files_are_refused_naming_the_file(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(LabelMapError) as caught:
        read_label_map(path)
    assert str(path) in str(caught.value) and expected in str(caught.value)


def test_a_missing_file_or_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LabelMapError, match=r"no such file .*JSON object"):
        read_label_map(tmp_path / "nowhere.json")
    with pytest.raises(LabelMapError, match="is a folder"):
        read_label_map(tmp_path)


def test_label_maps_stay_backward_compatible_and_files_do_not_replace_the_built_in_entry(
    tmp_path: Path,
) -> None:
    import emokit_plugins.corpora.labels  # noqa: F401  (the built-in maps, as the plugin registers them)

    old_style = LabelMap("x-corpus", {"a": "anger"})
    assert old_style.source is None and old_style.to_dict()["source"] is None
    read_label_map(_write(tmp_path, "emodb.json", '{"W": "sadness"}'), corpus="emodb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert harmonise("emodb", "W") == "anger"  # still EMODB's own map


def _corpus(tmp_path: Path) -> Corpus:
    utterances = [
        Utterance(id=f"u{i}", speaker="s1", emotion=code, label="neutral", audio_path=tmp_path / f"u{i}.wav")
        for i, code in enumerate(["W", "T", "L"])
    ]
    return Corpus("tiny", tmp_path, utterances, "de", ("audio",), fingerprint="f")


def test_relabel_harmonises_each_code_and_reports_those_the_map_lacks(tmp_path: Path) -> None:
    path = _write(tmp_path, "map.csv", "W,angry\nT,sad\n")
    corpus = relabel(_corpus(tmp_path), read_label_map(path))
    assert [(u.id, u.label) for u in corpus.utterances] == [("u0", "anger"), ("u1", "sadness")]
    (problem,) = corpus.problems
    assert problem.skipped and problem.path == tmp_path / "u2.wav"
    assert "'L'" in problem.reason and str(path.resolve()) in problem.reason and "'W', 'T'" in problem.reason


def test_the_api_exports_them() -> None:
    for name in ("read_label_map", "relabel", "LabelMapError", "config_dir"):
        assert name in api.__all__ and hasattr(api, name)
