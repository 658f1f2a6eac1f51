"""Corpora from a manifest (CSV/TSV, EmoBox JSONL with its fold files) and a label-map file: the
ManifestProvider, `emokit data add | info | list | remove`, and a broken corpora.toml."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.cli_runner import run_emokit
from support.media import write_wav

from emokit import cli
from emokit.data.provider import DataLayoutError, LoadContext
from emokit.registry import Registry, reset_registry
from emokit_plugins.corpora.manifest import ManifestProvider

SPEAKERS, CODES, TAKES = ("s1", "s2"), {"a": "Angry", "s": "sad"}, 2


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config folder of this test's own; the process-wide registry is rebuilt before and after."""
    folder = tmp_path / "config"
    monkeypatch.setenv("EMOKIT_CONFIG", str(folder))
    monkeypatch.setenv("COLUMNS", "250")
    reset_registry()
    yield folder
    reset_registry()


def emokit(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """``emokit ARGS`` in this process (plugins discovered again, as a new command would)."""
    reset_registry()
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())  # rich wraps: compare unwrapped


def has_row(out: str, *cells: object) -> bool:
    """Whether the speaker table printed in ``out`` has a row of these cells."""
    return re.search(r"\s*│\s*".join(re.escape(str(c)) for c in cells) + r"\s*│", out) is not None


def csv_corpus(root: Path, *, extra_rows: str = "") -> tuple[Path, Path]:
    """SPEAKERS x CODES x TAKES tiny WAVs, a manifest.csv naming them and a labels.json."""
    rows = ["file,speaker,emotion,sentence,gender"]
    for speaker in SPEAKERS:
        (root / "audio" / speaker).mkdir(parents=True, exist_ok=True)
        for code in CODES:
            for take in range(TAKES):
                rel = f"audio/{speaker}/{code}{take}.wav"
                write_wav(root / rel, 8000, seconds=0.05)
                rows.append(f"{rel},{speaker},{code},t{take},f")
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n" + extra_rows)
    labels = root / "labels.json"
    labels.write_text(json.dumps(CODES))
    return manifest, labels


def emobox_corpus(root: Path) -> tuple[Path, Path]:
    """EmoBox's layout: downloads/tiny/*.wav, data/tiny/tiny.jsonl, label_map.json and two folds."""
    (root / "downloads" / "tiny").mkdir(parents=True)
    data = root / "data" / "tiny"
    lines = []
    for i in range(8):
        wav = f"downloads/tiny/u{i}.wav"
        write_wav(root / wav, 16000, seconds=0.05)
        lines.append(
            {"key": f"tiny-u{i}", "dataset": "tiny", "wav": wav, "type": "raw", "sample_rate": 16000,
             "length": 0.05, "task": "category", "emo": "cj"[i % 2], "channel": 1}
        )  # fmt: skip
    for k in (1, 2):
        fold = data / f"fold_{k}"
        fold.mkdir(parents=True)
        test = [line for i, line in enumerate(lines) if i // 4 == k - 1]
        train = [line for line in lines if line not in test]
        (fold / f"tiny_test_fold_{k}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in test))
        (fold / f"tiny_train_fold_{k}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in train))
    manifest = data / "tiny.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    labels = data / "label_map.json"
    labels.write_text(json.dumps({"c": "Angry", "j": "Happy", "n": "Neutral"}))
    return manifest, labels


# -- through the command line -------------------------------------------------------------------
def test_a_csv_corpus_added_shown_listed_and_removed(tmp_path: Path, config: Path, capsys) -> None:
    manifest, labels = csv_corpus(tmp_path)
    add = ["data", "add", "tiny-csv", "--manifest", str(manifest), "--label-map", str(labels)]
    code, out = emokit(capsys, *add, "--language", "en")
    assert code == 0, out
    assert "8 utterances, 2 speakers, classes anger, sadness" in out
    assert f"label map ({labels.resolve()}): a -> anger, s -> sadness" in out
    assert f"added tiny-csv in {config / 'corpora.toml'}" in out
    code, out = emokit(capsys, "data", "list")
    assert code == 0 and "tiny-csv" in out and str(manifest.resolve()) in out and "files ok" in out
    code, out = emokit(capsys, "data", "info", "tiny-csv")
    assert code == 0 and "language: en" in out and has_row(out, "s1", 2, 2) and "problem" not in out
    # --label-map: the same override as the bench's; the codes the file lacks are reported
    only_anger = tmp_path / "anger.csv"
    only_anger.write_text("a,anger\n")
    code, out = emokit(capsys, "data", "info", "tiny-csv", "--label-map", str(only_anger))
    assert code == 0 and f"label map ({only_anger.resolve()}): a -> anger" in out
    assert "4 utterances, 2 speakers, classes anger;" in out
    assert "4 problem(s)" in out and "emotion code 's'" in out and str(only_anger.resolve()) in out
    code, out = emokit(capsys, *add)
    assert code == 2 and "already added" in out and "--force" in out
    assert emokit(capsys, *add, "--force")[0] == 0
    code, out = emokit(capsys, "data", "remove", "tiny-csv")
    assert code == 0 and "removed tiny-csv" in out
    assert "no manifest corpora" in emokit(capsys, "data", "list")[1]
    code, out = emokit(capsys, "data", "remove", "tiny-csv")
    assert code == 2 and "not a manifest corpus" in out


def test_an_emobox_corpus_takes_its_speaker_groups_from_the_folds(tmp_path: Path, capsys) -> None:
    manifest, labels = emobox_corpus(tmp_path)
    add = ["data", "add", "tiny-box", "--manifest", str(manifest), "--label-map", str(labels)]
    code, out = emokit(capsys, *add, "--root", str(tmp_path))
    assert code == 0, out
    assert "8 utterances, 2 speakers, classes anger, happiness" in out and has_row(out, "fold1", 2, 2)
    assert "speaker group is the EmoBox test fold" in out and "(accepted)" in out
    # the bench's path: the registry's dataset loads through LoadContext
    corpus = Registry.discover().dataset("tiny-box").load(LoadContext())
    assert corpus.speakers == ["fold1", "fold2"] and corpus.utterances[0].id == "tiny-u0"
    assert corpus.utterances[0].sample_rate == 16000 and corpus.utterances[0].emotion == "c"


def test_add_refuses_bad_input_with_one_message(tmp_path: Path, capsys) -> None:
    manifest, labels = csv_corpus(tmp_path)
    cases = [
        (["savee"], "the name is taken by dataset 'savee' of plugin 'corpora'"),
        (["My_Corpus"], "dataset name 'My_Corpus' is not valid"),
        (["tiny", "--manifest-missing"], f"{tmp_path / 'nowhere.csv'}: no such file"),
        (["tiny", "--bad-labels"], "label 'rage' is not in the common vocabulary"),
    ]
    bad_labels = tmp_path / "bad.json"
    bad_labels.write_text('{"a": "rage"}')
    for args, expected in cases:
        name = args[0]
        files = ["--manifest", str(manifest), "--label-map", str(labels)]
        if "--manifest-missing" in args:
            files[1] = str(tmp_path / "nowhere.csv")
        if "--bad-labels" in args:
            files[3] = str(bad_labels)
        code, out = emokit(capsys, "data", "add", name, *files)
        assert code == 2 and expected in out, out
        assert "Traceback" not in out
    assert emokit(capsys, "data", "list")[1].startswith("no manifest corpora")  # nothing was recorded


def test_the_command_as_a_user_runs_it_and_a_broken_config_leaves_emokit_list_working(
    tmp_path: Path, config: Path
) -> None:
    manifest, labels = csv_corpus(tmp_path)
    env = {"EMOKIT_CONFIG": str(config)}
    added = run_emokit(["data", "add", "tiny-csv", "--manifest", str(manifest), "--label-map", str(labels)],
                       tmp_path, **env)  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    assert "classes anger, sadness" in added.stdout
    (config / "corpora.toml").write_text("[corpora.tiny-csv\nmanifest = 1\n")
    listed = run_emokit(["list", "datasets"], tmp_path, **env)
    assert listed.returncode == 0, listed.stderr
    # the manifests plugin alone is skipped, and named; the real and simulated corpora stay
    assert "manifests" in listed.stderr and "tiny-csv" not in listed.stdout
    assert "savee" in listed.stdout and "sim-savee" in listed.stdout


def test_a_broken_config_is_reported_as_the_plugins_problem(config: Path, capsys) -> None:
    config.mkdir()
    (config / "corpora.toml").write_text("[corpora.x]\nmanifest = 3\n")
    code, out = emokit(capsys, "plugins")
    assert code == 0 and "corpora.toml" in out and "corpora.x" in out and "emokit data add" in out
    code, out = emokit(capsys, "data", "list")
    assert code == 2 and "corpora.toml" in out and "no 'label-map'" in out


def test_an_entry_whose_files_vanished_still_registers(tmp_path: Path, capsys) -> None:
    manifest, labels = csv_corpus(tmp_path)
    assert (
        emokit(capsys, "data", "add", "tiny-csv", "--manifest", str(manifest), "--label-map", str(labels))[0]
        == 0
    )
    labels.unlink()
    assert "missing: label-map" in emokit(capsys, "data", "list")[1]
    provider = Registry.discover().dataset("tiny-csv")
    with pytest.raises(DataLayoutError, match=f"{labels}: no such file"):
        provider.load(LoadContext())
    manifest.unlink()
    labels.write_text('{"a": "anger"}')
    with pytest.raises(DataLayoutError, match=f"manifest {manifest}: no such file; expected a CSV/TSV"):
        provider.load(LoadContext())


# -- the provider: rows reported, manifests refused -----------------------------------------------
def _load(manifest: Path, labels: Path, **kwargs):
    return ManifestProvider("tiny", manifest, labels, **kwargs).load(LoadContext())


def test_rows_that_cannot_be_used_are_reported_and_skipped(tmp_path: Path) -> None:
    bad_rows = (
        "audio/s1/missing.wav,s1,a,t0,f\n"  # line 10
        "audio/s1/a0.wav,s1,x,t0,f\n"  # 11: unknown code
        "audio/s2/extra.wav,,a,t1,m\n"  # 12: empty speaker
        "audio/s1/a0.wav,s1,a,t0,f\n"  # 13: duplicate id
    )
    manifest, labels = csv_corpus(tmp_path, extra_rows=bad_rows)
    write_wav(tmp_path / "audio/s2/extra.wav", 8000, seconds=0.05)
    (tmp_path / "audio" / "s1" / "empty.wav").write_bytes(b"")
    with manifest.open("a") as fh:
        fh.write("audio/s1/empty.wav,s1,a,t0,f\n")  # 14: unreadable
    corpus = _load(manifest, labels)
    assert len(corpus) == 8 and all(p.skipped for p in corpus.problems)
    found = {str(p) for p in corpus.problems}
    assert found == {
        f"{tmp_path / 'audio/s1/missing.wav'}: no such audio file (line 10 of {manifest}) (skipped)",
        f"{manifest}: line 11: unknown emotion code 'x': not in label map {labels.resolve()} "
        "(it has 'a', 's') (skipped)",
        f"{manifest}: line 12: empty speaker (expected a speaker/spk value) (skipped)",
        f"{manifest}: line 13: duplicate id 'audio/s1/a0' (first on line 2) (skipped)",
        f"{tmp_path / 'audio/s1/empty.wav'}: empty file (0 bytes) (line 14 of {manifest}) (skipped)",
    }
    first = corpus.utterances[0]
    assert (first.id, first.speaker, first.sentence, first.gender, first.sample_rate) == (
        "audio/s1/a0", "s1", "t0", "f", 8000,
    )  # fmt: skip


def test_bad_jsonl_lines_are_reported(tmp_path: Path) -> None:
    manifest, labels = emobox_corpus(tmp_path)
    with manifest.open("a") as fh:
        fh.write('not json\n[1]\n{"key": "k", "emo": "c"}\n')
        fh.write('{"key": "tiny-u0", "wav": "downloads/tiny/u0.wav", "emo": "c", "speaker": "x"}\n')
    corpus = _load(manifest, labels, root=tmp_path)
    reasons = [p.reason for p in corpus.problems if p.skipped]
    assert reasons[0].startswith("line 9: not valid JSON") and 'with "key", "wav" and "emo"' in reasons[0]
    assert reasons[1].startswith("line 10: not a JSON object")
    assert reasons[2].startswith("line 11: no 'wav'")
    assert reasons[3] == "line 12: duplicate id 'tiny-u0' (first on line 1)"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("m.csv", "", "has no rows; expected a header row"),
        ("m.csv", "file,speaker,emotion\n", "has no rows"),
        ("m.jsonl", "\n", 'has no rows; expected one JSON object per line with "key", "wav" and "emo"'),
        (
            "m.jsonl",
            "oops\n",
            "no usable row in {manifest} (1 rows reported: {manifest}: line 1: not valid JSON",
        ),
        (
            "m.csv",
            "wav,speaker,mood\nx.wav,s1,a\n",
            "no emotion column; found columns wav, speaker, mood; expected path/file (audio) and/or video, "
            "speaker, emotion, optional sentence and gender (aliases: id: key, id; "
            "audio: path, file, wav, audio",
        ),
        ("m.csv", "speaker,emotion\ns1,a\n", "no audio path or video column; found columns speaker, emotion"),
        ("m.csv", "file,emotion\nx.wav,a\n", "no speaker in any row and no EmoBox fold files beside it"),
        ("m.tsv", "file\tspk\temo\nx.wav\ts1\ta\n", "no usable utterance in {manifest} (1 rows reported"),
    ],
)
def test_manifests_that_cannot_be_used_raise_naming_them(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    manifest = tmp_path / name
    manifest.write_text(text)
    labels = tmp_path / "labels.json"
    labels.write_text('{"a": "anger"}')
    with pytest.raises(DataLayoutError) as caught:
        _load(manifest, labels)
    message = str(caught.value)
    assert str(manifest) in message and expected.format(manifest=manifest) in message, message


def test_a_missing_root_and_a_bad_label_map_raise(tmp_path: Path) -> None:
    manifest, labels = csv_corpus(tmp_path)
    with pytest.raises(DataLayoutError, match=f"root {tmp_path / 'gone'} is not a folder"):
        _load(manifest, labels, root=tmp_path / "gone")
    labels.write_text("[1]")
    with pytest.raises(DataLayoutError, match=f"tiny: {labels}: expected a JSON object"):
        _load(manifest, labels)


def test_modalities_follow_the_columns_and_the_fingerprint_follows_the_files(tmp_path: Path) -> None:
    manifest, labels = csv_corpus(tmp_path)
    provider = ManifestProvider("tiny", manifest, labels)
    assert provider.modalities == ("audio",) and provider.label_map.codes == {"a": "anger", "s": "sadness"}
    before = provider.load(LoadContext()).fingerprint
    labels.write_text('{"a": "anger", "s": "sadness"}')  # same codes, other spelling: same map
    assert provider.load(LoadContext()).fingerprint == before
    labels.write_text('{"a": "anger", "s": "sadness", "h": "happy"}')
    changed_map = provider.load(LoadContext()).fingerprint
    write_wav(tmp_path / "audio/s1/a0.wav", 8000, seconds=0.07)
    changed_media = provider.load(LoadContext()).fingerprint
    with manifest.open("a") as fh:
        fh.write("\n")
    assert len({before, changed_map, changed_media, provider.load(LoadContext()).fingerprint}) == 4

    video = tmp_path / "v.avi"
    video.write_bytes(b"not decoded at load time")
    both = tmp_path / "both.tsv"
    both.write_text(f"wav\tvideo\tspk\tlabel\n{tmp_path / 'audio/s1/a0.wav'}\t{video}\ts1\ta\n")
    provider = ManifestProvider("both", both, labels)
    assert provider.modalities == ("audio", "visual")
    (utterance,) = provider.load(LoadContext()).utterances
    assert utterance.has("audiovisual") and utterance.id == "audio/s1/a0"
