"""Media reading, the built-in feature extractors and the on-disk feature cache, on real tiny files."""

from __future__ import annotations

import numpy as np
import pytest
from support.media import (
    FACE_CENTRE,
    FACE_RADII,
    SKIN,
    corpus,
    face_frame,
    tone,
    utterance,
    write_avi,
    write_wav,
)

from emokit.data.corpus import Corpus
from emokit.data.media import read_audio, read_video_frames, select_frame_indices, video_info
from emokit.features import FeatureExtractor, MediaReadError, extraction
from emokit.features import cache as cache_module
from emokit.features.cache import FeatureDimensionError, cache_path, compute_features
from emokit_plugins.features import (
    EGeMAPSExtractor,
    FaceCropExtractor,
    LogMelExtractor,
    MFCCExtractor,
    emokit_register_features,
)
from emokit_plugins.features.face import find_face


# -- media reading ------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_read_audio_resamples_to_requested_rate(tmp_path, rate):
    path = write_wav(tmp_path / f"t{rate}.wav", rate, seconds=0.5)
    native, native_rate = read_audio(path)
    assert native_rate == rate and native.dtype == np.float32 and native.shape == (rate // 2,)
    signal, out_rate = read_audio(path, sample_rate=16000)
    assert out_rate == 16000 and signal.dtype == np.float32 and signal.shape == (8000,)
    assert np.abs(signal).max() <= 1.0
    # the resampled signal is the same tone: compare with the tone generated at 16 kHz directly
    np.testing.assert_allclose(signal[500:-500], tone(16000, 0.5)[500:-500], atol=2e-3)


def test_read_audio_and_frames_from_avi_and_extensionless_file(tmp_path):
    avi = write_avi(tmp_path / "clip.avi", n_frames=20)
    odd = tmp_path / "s16_su_3avi"  # the eNTERFACE name without a dot
    odd.write_bytes(avi.read_bytes())
    for path in (avi, odd):
        signal, rate = read_audio(path)
        assert rate == 16000 and signal.dtype == np.float32
        assert abs(len(signal) - 16000 * 20 / 25) <= 1024  # 0.8 s, up to one codec frame
        np.testing.assert_allclose(signal[:4000], tone(16000, 0.25), atol=1e-3)
        frames = read_video_frames(path, max_frames=3, stride=2)
        assert frames.shape == (3, 96, 128, 3) and frames.dtype == np.uint8
        every = read_video_frames(path)
        assert every.shape == (20, 96, 128, 3)
        np.testing.assert_array_equal(frames, every[[7, 9, 11]])  # centred on frame 9 of 0..19
    info = video_info(odd)
    assert (info.width, info.height, info.fps, info.n_frames) == (128, 96, 25.0, 20)
    assert info.has_audio and info.audio_sample_rate == 16000


def test_frame_selection():
    assert select_frame_indices(100, 3, "middle", stride=5) == [44, 49, 54]
    assert select_frame_indices(4, 3, "middle", stride=5) == [0, 1, 2]  # stride shrinks to fit
    assert select_frame_indices(10, 3, "uniform") == [0, 4, 9]
    assert select_frame_indices(10, None) == list(range(10))
    assert select_frame_indices(5, 2, "first") == [0, 1]
    with pytest.raises(ValueError, match="which"):
        select_frame_indices(5, 2, "apex")


def test_media_errors_name_the_file(tmp_path):
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(np.random.default_rng(0).bytes(4000))
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(write_wav(tmp_path / "ok.wav", 16000).read_bytes()[:30])  # header cut short
    silent_video = write_avi(tmp_path / "mute.avi", n_frames=5, audio_rate=None)
    cases = [
        (read_audio, tmp_path / "missing.wav", "not found"),
        (read_audio, garbage, "cannot read"),
        (read_audio, corrupt, "cannot read"),
        (read_audio, silent_video, "no audio stream"),
        (read_video_frames, garbage, "cannot open"),
        (read_video_frames, tmp_path / "ok.wav", "no video stream"),
        (video_info, tmp_path / "missing.avi", "not found"),
    ]
    for reader, path, expected in cases:
        with pytest.raises(MediaReadError, match=expected) as info:
            reader(path)
        assert str(path) in str(info.value)


# -- extractors ---------------------------------------------------------------------------------
def test_builtin_extractors_are_registered():
    names = [e.name for e in emokit_register_features()]
    assert names == ["logmel", "mfcc", "egemaps", "ssl", "face", "face-logmel"]
    assert {e.modality for e in emokit_register_features()} == {"audio", "visual", "audiovisual"}


@pytest.mark.parametrize("extractor", [LogMelExtractor(), MFCCExtractor()], ids=["logmel", "mfcc"])
def test_spectral_features_do_not_depend_on_the_recording_rate(tmp_path, extractor):
    u16 = utterance("a", audio=write_wav(tmp_path / "a16.wav", 16000))
    u48 = utterance("b", audio=write_wav(tmp_path / "a48.wav", 48000))
    other = utterance("c", audio=write_wav(tmp_path / "c16.wav", 16000, freq=660.0))
    f16, f48, f_other = (extractor.extract(u) for u in (u16, u48, other))
    assert f16.dtype == np.float32 and f16.ndim == 1
    assert f16.shape == ({"logmel": 64 * 4, "mfcc": 20 * 3 * 2}[extractor.name],)
    same = np.linalg.norm(f16 - f48) / np.linalg.norm(f16)
    different = np.linalg.norm(f16 - f_other) / np.linalg.norm(f16)
    assert same < 0.01 and different > 10 * same
    assert extractor.params()["sample_rate"] == 16000 and extractor.params()["backend"] in (
        "librosa",
        "torchaudio",
    )


def test_egemaps_gives_88_finite_values(tmp_path):
    extractor = EGeMAPSExtractor()
    features = extractor.extract(utterance("a", audio=write_wav(tmp_path / "a.wav", 44100)))
    assert features.shape == (88,) and features.dtype == np.float32 and np.all(np.isfinite(features))
    assert len(extractor.feature_names()) == 88
    assert "opensmile" in extractor.params()


def test_find_face_boxes_the_drawn_face():
    box = find_face(face_frame())
    (cx, cy), (rx, ry) = FACE_CENTRE, FACE_RADII
    np.testing.assert_allclose(
        [box.x0, box.y0, box.x1, box.y1], [cx - rx, cy - ry, cx + rx + 1, cy + ry + 1], atol=2
    )
    assert find_face(face_frame(face=False)) is None


def test_find_face_cuts_shoulders_off():
    frame = face_frame()
    h, w = frame.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = FACE_CENTRE
    frame[(abs(xx - cx) <= 6) & (yy > cy + 20) & (yy < cy + 32)] = SKIN  # neck
    frame[(abs(xx - cx) <= 38) & (yy >= cy + 32)] = (60, 60, 120)  # shoulders to the bottom edge
    box = find_face(frame)
    assert box.y1 < cy + 34  # the box stops at the neck, not the bottom of the frame
    assert abs(box.centre[0] - cx) <= 2 and box.width <= 2 * FACE_RADII[0] + 3


def test_face_crop_is_centred_on_the_face(tmp_path):
    extractor = FaceCropExtractor(size=32, normalisation="none", margin=0.1)
    vector = extractor.extract(utterance("v", video=write_avi(tmp_path / "face.avi", n_frames=12)))
    assert vector.shape == (32 * 32,) and vector.dtype == np.float32
    crop = vector.reshape(32, 32)
    skin = crop < 0.6  # the face is darker than the background
    ys, xs = np.nonzero(skin)
    assert abs(xs.mean() - 15.5) < 1.5 and abs(ys.mean() - 15.5) < 1.5
    assert skin.mean() > 0.4  # the face fills most of the crop
    assert FaceCropExtractor().extract(utterance("v", video=tmp_path / "face.avi")).shape == (48 * 48,)


# -- the cache ----------------------------------------------------------------------------------
@pytest.fixture
def audio_corpus(tmp_path) -> Corpus:
    media = tmp_path / "media"
    media.mkdir()
    utts = [
        utterance(f"u{i}", audio=write_wav(media / f"u{i}.wav", 16000, freq=300 + 50 * i)) for i in range(4)
    ]
    corrupt = media / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    garbage = media / "garbage.avi"
    garbage.write_bytes(np.random.default_rng(1).bytes(3000))
    utts.insert(2, utterance("bad_wav", audio=corrupt))
    utts.append(utterance("bad_avi", audio=garbage))
    return corpus(utts)


def test_compute_features_reports_and_skips_bad_files(tmp_path, audio_corpus):
    calls = []
    table = compute_features(
        audio_corpus, MFCCExtractor(), cache_dir=tmp_path / "cache", progress=lambda *a: calls.append(a)
    )
    assert table.ids.tolist() == ["u0", "u1", "u2", "u3"]
    assert table.X.shape == (4, 120) and table.X.dtype == np.float32
    assert sorted(p.path.name for p in table.failed) == ["corrupt.wav", "garbage.avi"]
    assert all(p.skipped and p.reason for p in table.problems)
    assert calls[0][1:] == (0, 6) and calls[-1][1:] == (6, 6) and "mfcc" in calls[-1][0]
    assert table.cache_file is not None and table.cache_file.is_relative_to(tmp_path / "cache" / "features")


def test_cache_hit_opens_no_media_file(tmp_path, audio_corpus):
    extractor = LogMelExtractor()
    first = compute_features(audio_corpus, extractor, cache_dir=tmp_path / "cache")
    assert first.n_computed == 6
    for u in audio_corpus.utterances:  # no file left to open
        u.audio_path.unlink()
    second = compute_features(audio_corpus, extractor, cache_dir=tmp_path / "cache")
    assert second.n_computed == 0
    np.testing.assert_array_equal(second.X, first.X)
    assert second.ids.tolist() == first.ids.tolist()
    # the corrupt files are reported again, from the cache
    assert [str(p) for p in second.problems] == [str(p) for p in first.problems]
    # a new fingerprint is a new key: everything is retried (and now fails, the files are gone)
    changed = corpus(audio_corpus.utterances, fingerprint="v2")
    third = compute_features(changed, extractor, cache_dir=tmp_path / "cache")
    assert third.n_computed == 6 and len(third) == 0 and all("not found" in p.reason for p in third.problems)


def test_corpus_without_fingerprint_is_keyed_on_its_files(tmp_path):
    path = write_wav(tmp_path / "a.wav", 16000)
    unfingerprinted = corpus([utterance("a", audio=path)], fingerprint="")
    extractor = MFCCExtractor()
    assert compute_features(unfingerprinted, extractor, cache_dir=tmp_path).n_computed == 1
    assert compute_features(unfingerprinted, extractor, cache_dir=tmp_path).n_computed == 0
    write_wav(path, 16000, freq=880.0, seconds=0.7)  # the file changes: its vector must too
    assert compute_features(unfingerprinted, extractor, cache_dir=tmp_path).n_computed == 1


def test_changed_params_use_a_different_cache_entry(tmp_path, audio_corpus):
    small, large = MFCCExtractor(n_mfcc=13), MFCCExtractor(n_mfcc=20)
    assert cache_path(audio_corpus, small, tmp_path) != cache_path(audio_corpus, large, tmp_path)
    a = compute_features(audio_corpus, small, cache_dir=tmp_path)
    b = compute_features(audio_corpus, large, cache_dir=tmp_path)
    assert (a.dim, b.dim, b.n_computed) == (13 * 6, 20 * 6, 6)
    assert len(list((tmp_path / "features" / "tiny").glob("mfcc-*.npz"))) == 2


def test_interrupted_run_keeps_finished_rows(tmp_path, audio_corpus):
    def interrupt_after_three(description, done, total):
        if done == 3:
            raise KeyboardInterrupt

    extractor = LogMelExtractor()
    with pytest.raises(KeyboardInterrupt):
        compute_features(audio_corpus, extractor, cache_dir=tmp_path, progress=interrupt_after_three)
    first_three = audio_corpus.utterances[:3]
    for u in first_three:  # finished before the interrupt: must not be read again
        u.audio_path.unlink()
    resumed = compute_features(audio_corpus, extractor, cache_dir=tmp_path)
    assert resumed.n_computed == 3
    assert resumed.ids.tolist() == ["u0", "u1", "u2", "u3"]
    assert sorted(p.path.name for p in resumed.failed) == ["corrupt.wav", "garbage.avi"]


def test_checkpoints_are_written_while_extracting(tmp_path, audio_corpus, monkeypatch):
    monkeypatch.setattr(cache_module, "CHECKPOINT_SECONDS", 0.0)  # checkpoint after every file
    extractor = MFCCExtractor()
    on_disk = []

    def look_at_the_cache(description, done, total):
        if done:
            with np.load(cache_path(audio_corpus, extractor, tmp_path)) as z:
                on_disk.append(len(z["ids"]) + len(z["fail_ids"]))

    compute_features(audio_corpus, extractor, cache_dir=tmp_path, progress=look_at_the_cache)
    assert on_disk == [1, 2, 3, 4, 5, 6]  # a killed process loses at most the file in flight


def test_subset_of_a_cached_corpus_reads_only_what_is_missing(tmp_path, audio_corpus):
    extractor = LogMelExtractor()
    part = corpus(audio_corpus.utterances[:2])
    assert compute_features(part, extractor, cache_dir=tmp_path).n_computed == 2
    whole = compute_features(audio_corpus, extractor, cache_dir=tmp_path)
    assert whole.n_computed == 4 and len(whole) == 4
    np.testing.assert_array_equal(whole.rows(["u1", "u0"]), whole.X[[1, 0]])


def test_modality_mismatch_is_a_clear_error(tmp_path, audio_corpus):
    with pytest.raises(ValueError, match=r"feature 'face' needs visual data.*'tiny' provides only audio"):
        compute_features(audio_corpus, FaceCropExtractor(), cache_dir=tmp_path)


def test_video_corpus_with_a_faceless_clip_reports_and_skips_it(tmp_path):
    utts = [
        utterance("face", video=write_avi(tmp_path / "face.avi", n_frames=8)),
        utterance("empty", video=write_avi(tmp_path / "empty.avi", n_frames=8, face=False)),
        utterance("no_video"),
    ]
    table = compute_features(corpus(utts, modalities=("visual",)), FaceCropExtractor(), cache_dir=tmp_path)
    assert table.ids.tolist() == ["face"] and table.X.shape == (1, 48 * 48)
    assert all(p.path.name != "empty.avi" for p in table.warnings)  # failed, not merely doubtful
    assert [p.skipped for p in table.failed] == [True, True]
    faceless = [p for p in table.failed if "no face found in any of 3 frames" in p.reason]
    assert [p.path.name for p in faceless] == ["empty.avi"]
    assert any("no visual file" in p.reason for p in table.failed)
    again = compute_features(corpus(utts, modalities=("visual",)), FaceCropExtractor(), cache_dir=tmp_path)
    assert again.ids.tolist() == ["face"] and [str(p) for p in again.problems] == [
        str(p) for p in table.problems
    ]


class _GrowingExtractor(FeatureExtractor):
    """A (third-party style) extractor with a bug: its vectors grow with every call."""

    name = "growing"
    modality = "audio"

    def __init__(self):
        self.calls = 0

    def extract(self, utterance):
        self.calls += 1
        return np.ones(self.calls, np.float32)


class _NaNExtractor(FeatureExtractor):
    """A (third-party style) extractor whose output is not finite."""

    name = "nan"
    modality = "audio"

    def extract(self, utterance):
        return np.array([1.0, np.nan, np.inf], np.float32)


class _RaisingExtractor(FeatureExtractor):
    name = "raising"
    modality = "audio"

    def extract(self, utterance):
        raise KeyError("oops")


def test_non_finite_vectors_are_reported_and_extractor_bugs_stop_the_run(tmp_path, audio_corpus):
    table = compute_features(audio_corpus, _NaNExtractor(), cache_dir=tmp_path)
    assert len(table) == 0 and len(table.failed) == 6
    assert all("2 NaN/infinite values" in p.reason for p in table.failed)
    with pytest.raises(RuntimeError, match=r"'raising' failed on the first 5 files.*KeyError"):
        compute_features(audio_corpus, _RaisingExtractor(), cache_dir=tmp_path)
    assert not list((tmp_path / "features").rglob("raising-*.npz"))  # unexpected errors are not cached


def test_vectors_of_different_length_name_the_file(tmp_path, audio_corpus):
    with pytest.raises(FeatureDimensionError, match=r"u1\.wav.*returned 2 values.*gave 1"):
        compute_features(audio_corpus, _GrowingExtractor(), cache_dir=tmp_path)


def test_process_pool_gives_the_same_table(tmp_path, audio_corpus, monkeypatch):
    monkeypatch.setattr(extraction, "MIN_FILES_FOR_POOL", 0)  # use the pool even for six files
    serial = compute_features(audio_corpus, MFCCExtractor(), cache_dir=tmp_path / "a")
    pooled = compute_features(audio_corpus, MFCCExtractor(), cache_dir=tmp_path / "b", jobs=2)
    assert pooled.ids.tolist() == serial.ids.tolist()
    np.testing.assert_allclose(pooled.X, serial.X, rtol=1e-6)
    assert [str(p) for p in pooled.problems] == [str(p) for p in serial.problems]
