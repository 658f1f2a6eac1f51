"""A corpus registered without Python (``emokit data add``: a CSV or EmoBox JSONL manifest and a
label map) through ``emokit data info`` and ``emokit bench``, its vocabulary and mapping recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli_runner import run_emokit
from support.media import write_wav

from emokit.data.labels import COMMON_LABELS

#: each emotion a tone of its own, so that a method can learn it
TONES = {"W": 440.0, "T": 220.0}
LABELS = {"W": "Angry", "T": "sad"}


def _csv_corpus(root: Path) -> tuple[Path, Path]:
    rows = ["path,speaker,emotion,sentence"]
    for s in range(4):
        for code, freq in TONES.items():
            for take in range(3):
                rel = f"wav/spk{s}/{code}{take}.wav"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                write_wav(root / rel, 16000, freq=freq * (1 + 0.03 * s + 0.01 * take), seconds=0.4)
                rows.append(f"{rel},spk{s},{code},text{take}")
    (root / "corpus.csv").write_text("\n".join(rows) + "\n")
    (root / "labels.json").write_text(json.dumps(LABELS))
    return root / "corpus.csv", root / "labels.json"


def _emobox_corpus(root: Path) -> tuple[Path, Path]:
    """EmoBox's layout: wavs under downloads/, data/mini/mini.jsonl, its label_map.json and 4 folds."""
    lines = []
    for s in range(4):
        for code, freq in TONES.items():
            for take in range(3):
                wav = f"downloads/mini/{s}-{code}-{take}.wav"
                (root / wav).parent.mkdir(parents=True, exist_ok=True)
                write_wav(root / wav, 16000, freq=freq * (1 + 0.03 * s + 0.01 * take), seconds=0.4)
                key = f"mini-{s}-{code}-{take}"
                lines.append(
                    {"key": key, "wav": wav, "sample_rate": 16000, "emo": code.lower(), "channel": 1}
                )
    data = root / "data" / "mini"
    for k in range(1, 5):
        fold = data / f"fold_{k}"
        fold.mkdir(parents=True)
        test = [x for x in lines if x["key"].startswith(f"mini-{k - 1}-")]
        (fold / f"mini_test_fold_{k}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in test))
        train = [x for x in lines if x not in test]
        (fold / f"mini_train_fold_{k}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in train))
    (data / "mini.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (data / "label_map.json").write_text(json.dumps({"w": "Angry", "t": "Sad"}))  # EmoBox's own form
    return data / "mini.jsonl", data / "label_map.json"


@pytest.mark.parametrize("kind", ["csv", "emobox"])
def test_a_manifest_corpus_runs_through_data_info_and_bench(tmp_path: Path, kind: str) -> None:
    env = {"EMOKIT_CONFIG": str(tmp_path / "config")}
    root = tmp_path / "corpus"
    manifest, labels = (_csv_corpus if kind == "csv" else _emobox_corpus)(root)
    add = ["data", "add", "mini", "--manifest", str(manifest), "--label-map", str(labels)]
    if kind == "emobox":
        add += ["--root", str(root)]  # EmoBox's wav paths are relative to its checkout
    added = run_emokit(add, tmp_path, **env)
    assert added.returncode == 0, added.stdout + added.stderr
    info = run_emokit(["data", "info", "mini"], tmp_path, **env)
    assert info.returncode == 0, info.stdout + info.stderr
    assert "24 utterances" in info.stdout and "classes anger, sadness" in info.stdout.replace("\n", " ")

    run = [
        "bench", "--method", "target-only", "--no-baselines", "--source", "mini", "--target", "mini",
        "--features", "mfcc", "--seeds", "1", "--folds", "loso", "--option", "epochs=30", "--out", "out",
    ]  # fmt: skip
    result = run_emokit(run, tmp_path, **env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(next((tmp_path / "out").glob("bench-*.json")).read_text())
    corpus = data["corpora"]["mini"]
    assert corpus["vocabulary"] == list(COMMON_LABELS)
    codes = {"W": "anger", "T": "sadness"} if kind == "csv" else {"w": "anger", "t": "sadness"}
    assert corpus["label_map"]["codes"] == codes
    assert corpus["label_map"]["source"] == str(labels.resolve())
    expected_speakers = [f"spk{s}" for s in range(4)] if kind == "csv" else [f"fold{k}" for k in range(1, 5)]
    assert corpus["speakers"] == expected_speakers  # EmoBox: the speaker groups are its own folds
    cells = [c for c in data["cells"] if c["method"] == "target-only"]
    assert len(cells) == 4 and all(
        c["status"] == "ok" and c["classes"] == ["anger", "sadness"] for c in cells
    )
    assert sum(c["scores"]["uar"] for c in cells) / 4 > 0.5  # two tones apart: better than chance
