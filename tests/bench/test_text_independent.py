"""``--split-by speaker+sentence``: test sentences are never trained on, nor test speakers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.cli_runner import run_emokit

from emokit.bench.config import BenchConfig
from emokit.bench.results import cell_key
from emokit.bench.units import checked_folds
from emokit.data.folds import FoldError, FoldScheme, sentence_groups
from emokit.data.provider import LoadContext
from emokit.registry import Registry
from emokit.results import load
from emokit.suites import Experiment


def _rows(n_speakers: int, n_sentences: int, per_cell: int = 1) -> tuple[np.ndarray, ...]:
    """Every speaker says every sentence ``per_cell`` times in each of two emotions."""
    speakers, sentences, labels = [], [], []
    for s in range(n_speakers):
        for t in range(n_sentences):
            for label in ("anger", "sadness"):
                for _ in range(per_cell):
                    speakers.append(f"s{s}")
                    sentences.append(f"t{t}")
                    labels.append(label)
    return np.array(labels), np.array(speakers), np.array(sentences, dtype=object)


def test_sentence_groups_partition_the_sentences_reproducibly() -> None:
    sentences = [f"t{i}" for i in range(10)] * 3
    groups = sentence_groups(sentences, fold_seed=3, repeat=1, corpus="c")
    assert len(groups) == 4
    flat = [s for g in groups for s in g]
    assert sorted(flat) == sorted(set(sentences)) and len(flat) == len(set(flat))
    assert max(map(len, groups)) - min(map(len, groups)) <= 1
    assert groups == sentence_groups(sentences, fold_seed=3, repeat=1, corpus="c")
    assert groups != sentence_groups(sentences, fold_seed=4, repeat=1, corpus="c")
    assert len(sentence_groups(["a", "b", "a"], fold_seed=0, repeat=0)) == 2  # fewer sentences, fewer groups


@pytest.mark.parametrize(
    ("sentences", "message"),
    [
        (
            ["a", None, "b"],
            r"corp: --split-by speaker\+sentence needs every utterance's sentence, but 1 of 3",
        ),
        (["a", "a"], r"corp: --split-by speaker\+sentence needs at least 2 sentences, found 1 \(a\)"),
    ],
)
def test_sentence_groups_refuse_corpora_without_sentences(sentences: list, message: str) -> None:
    with pytest.raises(FoldError, match=message):
        sentence_groups(sentences, fold_seed=0, repeat=0, corpus="corp")


@pytest.mark.parametrize("folds", ["loso", "3"])
def test_no_test_sentence_or_speaker_is_trained_or_validated_on(folds: str) -> None:
    labels, speakers, sentences = _rows(n_speakers=6, n_sentences=8)
    exp = Experiment(("c",), "c", "audio")
    config = BenchConfig(
        methods=["m"],
        experiments=[exp],
        seeds=[0],
        folds=FoldScheme.parse(folds),
        split_by="speaker+sentence",
    )
    rows = checked_folds(config, exp, ["anger", "sadness"], labels, speakers, 0, sentences)
    tested = set()
    for fold_rows in rows:
        fold = fold_rows.fold
        assert fold.test_sentences
        test_sents = set(sentences[fold_rows.test])
        assert test_sents == set(fold.test_sentences)
        assert set(speakers[fold_rows.test]) == set(fold.test)
        for part in (fold_rows.train, fold_rows.val):
            assert not set(sentences[part]) & test_sents
            assert not set(speakers[part]) & set(fold.test)
        assert not (fold_rows.train & fold_rows.val).any()
        tested |= test_sents
    assert tested == set(sentences)  # the groups rotate over the folds: every sentence is tested


def test_speaker_split_alone_keeps_every_sentence() -> None:
    labels, speakers, sentences = _rows(n_speakers=4, n_sentences=3)
    exp = Experiment(("c",), "c", "audio")
    config = BenchConfig(methods=["m"], experiments=[exp], seeds=[0], folds=FoldScheme("loso"))
    for fold_rows in checked_folds(config, exp, ["anger", "sadness"], labels, speakers, 0, sentences):
        assert not fold_rows.fold.test_sentences
        assert set(sentences[fold_rows.test]) == set(sentences)
        assert (fold_rows.train | fold_rows.val | fold_rows.test).all()


def test_bench_split_by_speaker_and_sentence_end_to_end(tmp_path: Path) -> None:
    argv = [
        "bench", "--method", "target-only", "--no-baselines",
        "--source", "sim-emodb", "--target", "sim-emodb",
        "--features", "mfcc", "--seeds", "1", "--folds", "3", "--sim-scale", "0.1", "--option", "epochs=5",
        "--split-by", "speaker+sentence", "--out", "out",
    ]  # fmt: skip
    result = run_emokit(argv, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    path = next((tmp_path / "out").glob("bench-*.json"))
    data = json.loads(path.read_text())
    assert data["config"]["split_by"] == "speaker+sentence"
    assert data["identity"]["split_by"] == "speaker+sentence"
    assert data["run_config"]["split-by"] == "speaker+sentence"
    registry = Registry.discover()
    corpus = registry.dataset("sim-emodb").load(
        LoadContext(cache_dir=Path(data["config"]["cache_dir"]), options={"scale": 0.1})
    )
    sentence_of = {u.id: u.sentence for u in corpus.utterances}
    predictions = load(path).predictions
    assert data["cells"] and all(c["status"] == "ok" for c in data["cells"])
    for cell in data["cells"]:
        split = cell["splits"]["sim-emodb"]
        assert split["test_sentences"]
        tested = {sentence_of[i] for i in predictions[cell_key(cell)]["ids"]}
        assert tested == set(split["test_sentences"])
