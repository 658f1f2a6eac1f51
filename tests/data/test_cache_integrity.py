"""Caches never serve damaged data: the generated-corpus files are verified against the manifest the
generator records (damaged ones regenerated), and cached features are keyed on each media file.

One tiny SAVEE-like corpus (one speaker, 14 utterances, a WAV and an AVI each) is generated once per
module and copied (modification times kept) into each test's folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from emokit import cli
from emokit.data import Corpus
from emokit.features import cache as cache_module
from emokit.features.cache import compute_features, media_paths
from emokit.registry import Registry
from emokit_plugins.features import FaceCropExtractor, MFCCExtractor
from emokit_plugins.simulated import SPECS, CorpusRepairWarning, fingerprint, prepare_corpus
from emokit_plugins.simulated import generate as generate_module
from emokit_plugins.simulated.generate import MANIFEST_FILE, MARKER, corpus_dir, sha256_file

NAME = "sim-savee"
SCALE = 0.01
SPEC = dataclasses.replace(SPECS[NAME], min_speakers=1)  # one speaker: 14 utterances


def _prepare(cache: Path, **kwargs) -> Path:
    return prepare_corpus(NAME, cache_dir=cache, scale=SCALE, seed=0, spec=SPEC, workers=1, **kwargs)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("pristine")
    _prepare(cache)
    return cache


@pytest.fixture
def cache(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine / "corpora", tmp_path / "cache" / "corpora")  # copy2: mtimes kept
    return tmp_path / "cache"


def _root(cache: Path) -> Path:
    return corpus_dir(NAME, cache_dir=cache, scale=SCALE, seed=0)


def _media(root: Path) -> dict[str, Path]:
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and p.name != MARKER
    }


def _corpus(registry: Registry, cache: Path) -> Corpus:
    """The corpus read by the SAVEE loader, with the simulated fingerprint (the generation config)."""
    corpus = registry.dataset("savee").load_folder(_root(cache), name=NAME)
    return dataclasses.replace(corpus, fingerprint=fingerprint(NAME, scale=SCALE, seed=0, spec=SPEC))


def _no_repair_warning(cache: Path, **kwargs) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _prepare(cache, **kwargs)
    assert not [w for w in caught if issubclass(w.category, CorpusRepairWarning)]


def _cut(path: Path, fraction: float) -> bytes:
    content = path.read_bytes()
    path.write_bytes(content[: int(len(content) * fraction)])
    return content


# -- the generated corpus ----------------------------------------------------------------------
def test_manifest_records_every_file(cache: Path) -> None:
    root = _root(cache)
    files = json.loads((root / MANIFEST_FILE).read_text())["files"]
    media = _media(root)
    assert set(files) == set(media) and len(media) == 28
    for rel, path in media.items():
        st = path.stat()
        assert files[rel] == {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(path)}


def test_truncated_wav_and_cut_avi_are_regenerated_and_reported(cache: Path) -> None:
    root = _root(cache)
    media = _media(root)
    wav, avi = "AudioData/DC/a01.wav", "AudioVisualClip/DC/sa2.avi"
    originals = {wav: _cut(media[wav], 1 / 3), avi: _cut(media[avi], 1 / 2)}
    untouched = {rel: p.stat().st_mtime_ns for rel, p in media.items() if rel not in originals}
    calls: list[tuple[str, int, int]] = []
    with pytest.warns(CorpusRepairWarning, match=r"2 damaged file\(s\)") as record:
        _prepare(cache, progress=lambda *call: calls.append(call))
    for rel, content in originals.items():
        assert media[rel].read_bytes() == content
    assert {rel: media[rel].stat().st_mtime_ns for rel in untouched} == untouched  # only those rewritten
    warning = next(w.message for w in record if isinstance(w.message, CorpusRepairWarning))
    assert [rel for rel, _ in warning.regenerated] == [wav, avi]
    assert all(reason.startswith("truncated") for _, reason in warning.regenerated)
    assert calls[-1] == (f"{NAME}: 2 damaged file(s) regenerated", 14, 14)
    marker = json.loads((root / MARKER).read_text())
    assert marker["damaged_this_run"] == [wav, avi] and marker["generated_this_run"] == 2
    # the manifest now records the new files: the next call finds nothing wrong and writes nothing
    calls.clear()
    _no_repair_warning(cache, progress=lambda *call: calls.append(call))
    assert calls == [(f"{NAME}: complete", 14, 14)]


def test_same_size_damage_is_found_by_hash_and_a_touch_is_not_damage(cache: Path, monkeypatch) -> None:
    root = _root(cache)
    media = _media(root)
    damaged, touched = media["AudioData/DC/d02.wav"], media["AudioVisualClip/DC/h1.avi"]
    content = damaged.read_bytes()
    middle = len(content) // 2
    damaged.write_bytes(content[:middle] + bytes(64) + content[middle + 64 :])  # same size, new mtime
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    with pytest.warns(CorpusRepairWarning, match=r"d02\.wav \(content changed") as record:
        _prepare(cache)
    assert [rel for w in record for rel, _ in getattr(w.message, "regenerated", [])] == [
        "AudioData/DC/d02.wav"
    ]
    assert damaged.read_bytes() == content
    # the touched file's new time was recorded: verifying again hashes nothing
    monkeypatch.setattr(generate_module, "sha256_file", _forbidden("hash"))
    _no_repair_warning(cache)


def _forbidden(what: str):
    def fail(*args, **kwargs):
        raise AssertionError(f"an intact corpus must not {what} anything")

    return fail


def test_intact_corpus_is_verified_by_stat_alone(cache: Path, monkeypatch) -> None:
    monkeypatch.setattr(generate_module, "sha256_file", _forbidden("hash"))
    monkeypatch.setattr(generate_module, "render_job", _forbidden("generate"))
    _no_repair_warning(cache)


def test_folder_without_manifest_is_adopted_after_a_header_check(cache: Path) -> None:
    root = _root(cache)
    (root / MANIFEST_FILE).unlink()  # as written by an older emokit
    media = _media(root)
    wav = "AudioData/DC/sa01.wav"
    content = _cut(media[wav], 1 / 3)
    with pytest.warns(CorpusRepairWarning, match=r"sa01\.wav \(truncated: .* its header says") as record:
        _prepare(cache)
    assert [rel for w in record for rel, _ in getattr(w.message, "regenerated", [])] == [wav]
    assert media[wav].read_bytes() == content
    files = json.loads((root / MANIFEST_FILE).read_text())["files"]
    assert set(files) == set(media)
    assert all(files[rel]["sha256"] == sha256_file(path) for rel, path in media.items())
    _no_repair_warning(cache)


def test_data_prepare_reports_regenerated_files(tmp_path: Path, capsys) -> None:
    argv = ["--scale", "0.01", "--cache-dir", str(tmp_path)]  # sim-emodb: audio only, generated in a second
    assert cli.main(["data", "prepare", "sim-emodb", *argv]) == 0
    capsys.readouterr()
    root = corpus_dir("sim-emodb", cache_dir=tmp_path, scale=0.01, seed=0)
    victim = sorted(root.rglob("*.wav"))[2]
    content = _cut(victim, 1 / 3)
    assert cli.main(["data", "prepare", "sim-emodb", *argv]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "sim-emodb: 1 damaged file(s) regenerated, ready in" in out
    assert f"wav/{victim.name} (truncated" in out
    assert victim.read_bytes() == content


# -- the feature cache -------------------------------------------------------------------------
def test_changed_media_file_reextracts_only_its_row(registry: Registry, cache: Path, tmp_path: Path) -> None:
    corpus = _corpus(registry, cache)
    extractor = MFCCExtractor()
    features = tmp_path / "features"
    first = compute_features(corpus, extractor, cache_dir=features)
    assert first.n_computed == len(corpus) == 14
    victim = next(u for u in corpus.utterances if u.id == "DC_a01")
    i = first.ids.tolist().index(victim.id)
    _cut(victim.audio_path, 1 / 3)  # a damaged WAV, as seen in a real corpus cache in the corpus cache

    damaged = compute_features(corpus, extractor, cache_dir=features)
    assert (damaged.n_computed, damaged.n_changed) == (1, 1)
    assert not np.array_equal(damaged.X[i], first.X[i])  # extracted from what is there now
    others = [j for j in range(len(first)) if j != i]
    np.testing.assert_array_equal(damaged.X[others], first.X[others])

    with pytest.warns(CorpusRepairWarning):
        _prepare(cache)  # the generator restores the file: its row is extracted again
    restored = compute_features(corpus, extractor, cache_dir=features)
    assert (restored.n_computed, restored.n_changed) == (1, 1)
    np.testing.assert_array_equal(restored.X, first.X)
    np.testing.assert_array_equal(restored.X[i], extractor.extract(victim))


def test_changed_video_reextracts_its_visual_row(registry: Registry, cache: Path, tmp_path: Path) -> None:
    corpus = _corpus(registry, cache)
    corpus = dataclasses.replace(corpus, utterances=corpus.utterances[:3])
    extractor = FaceCropExtractor()
    first = compute_features(corpus, extractor, cache_dir=tmp_path)
    assert first.n_computed == 3
    _cut(corpus.utterances[1].video_path, 1 / 2)
    again = compute_features(corpus, extractor, cache_dir=tmp_path)
    assert (again.n_computed, again.n_changed) == (1, 1)
    # the files each modality's extractors read (and the rows are stamped with)
    assert media_paths(corpus.utterances[1], "audio") == (corpus.utterances[1].audio_path,)
    assert media_paths(corpus.utterances[1], "audiovisual") == (
        corpus.utterances[1].audio_path,
        corpus.utterances[1].video_path,
    )


def test_unchanged_corpus_reuses_every_row_without_opening_media(
    registry: Registry, cache: Path, tmp_path: Path, monkeypatch
) -> None:
    corpus = _corpus(registry, cache)
    extractor = MFCCExtractor()
    first = compute_features(corpus, extractor, cache_dir=tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(MFCCExtractor, "extract", _forbidden("extract"))
        patch.setattr(cache_module, "media_digest", _forbidden("hash"))
        again = compute_features(corpus, extractor, cache_dir=tmp_path)
    assert again.n_computed == 0
    np.testing.assert_array_equal(again.X, first.X)
    # a touched file (same bytes, new time) is hashed once, keeps its row, and is not hashed again
    path = corpus.utterances[4].audio_path
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    with monkeypatch.context() as patch:
        patch.setattr(MFCCExtractor, "extract", _forbidden("extract"))
        touched = compute_features(corpus, extractor, cache_dir=tmp_path)
        patch.setattr(cache_module, "media_digest", _forbidden("hash"))
        after = compute_features(corpus, extractor, cache_dir=tmp_path)
    assert touched.n_computed == after.n_computed == 0
    np.testing.assert_array_equal(after.X, first.X)


def test_cached_failure_is_retried_when_its_file_changes(
    registry: Registry, cache: Path, tmp_path: Path
) -> None:
    corpus = _corpus(registry, cache)
    extractor = MFCCExtractor()
    victim = corpus.utterances[2].audio_path
    content = victim.read_bytes()
    victim.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    first = compute_features(corpus, extractor, cache_dir=tmp_path)
    assert [p.path for p in first.failed] == [victim] and len(first) == 13
    assert compute_features(corpus, extractor, cache_dir=tmp_path).n_computed == 0  # failure cached
    victim.write_bytes(content)
    fixed = compute_features(corpus, extractor, cache_dir=tmp_path)
    assert (fixed.n_computed, fixed.n_changed, len(fixed), fixed.failed) == (1, 1, 14, [])
