"""The simulated corpora: layouts the real loaders read, determinism, resumption, domains, faults.

Corpora are generated at tiny scales (a few seconds each); full-size structure is checked on the
generation plan, which costs nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path

import av
import librosa
import numpy as np
import pytest
import soundfile

from emokit.data import LoadContext
from emokit.registry import Registry
from emokit_plugins.simulated import SPECS, fingerprint, prepare_corpus
from emokit_plugins.simulated.faces import make_track, render_clip, speaker_face
from emokit_plugins.simulated.generate import MARKER, corpus_dir
from emokit_plugins.simulated.layouts import EMODB_COUNTS, plan
from emokit_plugins.simulated.rng import rng_for
from emokit_plugins.simulated.speech import SpeechSynthesisError, synthesizer

TINY = 0.05


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("simcache")


@pytest.fixture(scope="module")
def corpora(registry: Registry, cache: Path) -> dict:
    """The three corpora at a tiny scale, generated once and read by the real loaders."""
    context = LoadContext(
        cache_dir=cache, options={"scale": TINY, "seed": 0}, providers=registry.providers["dataset"]
    )
    return {name: registry.dataset(name).load(context) for name in SPECS}


def _emodb(cache: Path, **kwargs) -> Path:
    return prepare_corpus("sim-emodb", cache_dir=cache, scale=TINY, **kwargs)


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and p.name != MARKER
    }


# -- arguments -------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [0, -0.5, 1.5, math.nan, "0.5", True])
def test_bad_scale_raises_clear_error(tmp_path: Path, scale) -> None:
    with pytest.raises(ValueError, match=r"scale must be .*\(0, 1\]"):
        prepare_corpus("sim-savee", cache_dir=tmp_path, scale=scale, seed=0)
    assert not (tmp_path / "corpora").exists() or not any((tmp_path / "corpora").iterdir())


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, None])
def test_bad_seed_raises_clear_error(tmp_path: Path, seed) -> None:
    with pytest.raises(ValueError, match="seed must be an integer"):
        prepare_corpus("sim-emodb", cache_dir=tmp_path, scale=TINY, seed=seed)


def test_unknown_name_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sim-savee, sim-emodb, sim-enterface"):
        prepare_corpus("sim-iemocap", cache_dir=tmp_path, scale=TINY, seed=0)


def test_provider_rejects_bad_scale(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale"):
        registry.dataset("sim-emodb").load(LoadContext(cache_dir=tmp_path, options={"scale": 2.0}))


# -- full-size structure (the plan) ----------------------------------------------------------
def test_full_size_savee_structure() -> None:
    jobs = plan(SPECS["sim-savee"], 1.0)
    assert len(jobs) == 480
    per = Counter((j.speaker, j.code) for j in jobs)
    assert {s for s, _ in per} == {"DC", "JE", "JK", "KL"}
    assert all(n == (30 if code == "n" else 15) for (_, code), n in per.items())
    assert "AudioData/DC/sa01.wav" in {j.wav for j in jobs}
    assert "AudioVisualClip/DC/sa1.avi" in {j.video for j in jobs}  # not zero-padded


def test_full_size_emodb_structure() -> None:
    spec = SPECS["sim-emodb"]
    jobs = plan(spec, 1.0)
    assert len(jobs) == 535
    assert Counter(j.code for j in jobs) == Counter(EMODB_COUNTS)
    assert {j.speaker for j in jobs} == set(["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"])
    assert {j.sentence for j in jobs} == set(
        ["a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10"]
    )
    per = Counter((j.speaker, j.code) for j in jobs)
    assert len(per) == 70 and min(per.values()) >= 2
    stems = [Path(j.wav).stem for j in jobs]
    assert len(set(stems)) == len(stems)
    assert {s[-1] for s in stems} >= {"a", "b"}  # some utterances have a second version
    combos = {(j.speaker, j.sentence, j.code) for j in jobs}
    assert len(combos) < 700  # not every speaker/sentence/emotion combination exists


def test_full_size_enterface_structure() -> None:
    jobs = plan(SPECS["sim-enterface"], 1.0)
    assert len({j.speaker for j in jobs}) == 42
    assert len(jobs) == 42 * 6 * 5 - 2 * 5  # subject 6 lacks two emotions
    assert {j.code for j in jobs if j.speaker == "6"} == {"an", "di", "fe", "ha"}
    assert len({s.voice for s in SPECS["sim-enterface"].speakers}) == 14  # 14 native accents


def test_scale_keeps_minimums() -> None:
    for name, spec in SPECS.items():
        jobs = plan(spec, 0.01)
        per = Counter((j.speaker, j.code) for j in jobs)
        assert len({j.speaker for j in jobs}) >= 4, name
        assert min(per.values()) >= 2, name
    emodb_speakers = {j.speaker for j in plan(SPECS["sim-emodb"], 0.01)}
    genders = Counter(SPECS["sim-emodb"].speaker(s).gender for s in emodb_speakers)
    assert genders["m"] == genders["f"]


# -- the generated corpora, read by the real loaders -----------------------------------------
def test_savee_layout_and_counts(corpora: dict, cache: Path) -> None:
    corpus = corpora["sim-savee"]
    assert corpus.name == "sim-savee"
    assert corpus.speakers == ["DC", "JE", "JK", "KL"]
    assert set(corpus.labels) == {"anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"}
    assert len(corpus) == len(plan(SPECS["sim-savee"], TINY))
    assert all(u.has("audio") and u.has("visual") for u in corpus.utterances)
    assert all(u.audio_path.suffix == ".wav" and u.video_path.suffix == ".avi" for u in corpus.utterances)
    assert {u.sample_rate for u in corpus.utterances} == {44100}
    assert not [p for p in corpus.problems if p.skipped]
    root = corpus_dir("sim-savee", cache_dir=cache, scale=TINY, seed=0)
    assert (root / "AudioData" / "KL" / "su02.wav").is_file()
    assert (root / "AudioVisualClip" / "KL" / "su2.avi").is_file()


def test_emodb_layout_counts_and_rate(corpora: dict) -> None:
    corpus = corpora["sim-emodb"]
    assert len(corpus.speakers) == 4
    assert corpus.modalities == ("audio",)
    genders = {"03": "m", "08": "f", "09": "f", "10": "m"}
    assert {u.speaker: u.gender for u in corpus.utterances} == genders
    assert Counter(u.label for u in corpus.utterances) == {label: 8 for label in corpus.labels}
    assert len(corpus.labels) == 7
    for u in corpus.utterances[:5]:
        info = soundfile.info(str(u.audio_path))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")


def test_enterface_faults_are_present_and_reported(corpora: dict, cache: Path) -> None:
    corpus = corpora["sim-enterface"]
    root = corpus_dir("sim-enterface", cache_dir=cache, scale=TINY, seed=0)
    assert (root / "subject 16" / "surprise" / "sentence 3" / "s16_su_3avi").is_file()
    assert (root / "subject 11" / "anger" / "sentence 1" / "s12_an_1.avi").is_file()
    assert (root / "subject 3" / "fear" / "sentence 1" / "s_3_fe_1.avi").is_file()
    assert not (root / "subject 6" / "sadness").exists()
    assert (root / "subject 12" / "anger" / "sentence 1" / "s12_an_1.avi").is_file()

    reported = "\n".join(str(p) for p in corpus.problems)
    assert "s16_su_3avi" in reported and "s12_an_1.avi" in reported and "s_3_fe_1.avi" in reported
    assert "subject 6 is incomplete" in reported
    ids = {u.id for u in corpus.utterances}
    assert {"s11_an_1", "s12_an_1", "s16_su_3", "s3_fe_1"} <= ids  # tolerated, not dropped
    assert len(corpus.labels) == 6 and "neutral" not in corpus.labels
    assert {u.sample_rate for u in corpus.utterances} == {48000}


def test_video_has_both_streams_and_decodes(corpora: dict) -> None:
    for name, rate in (("sim-savee", 44100), ("sim-enterface", 48000)):
        style = SPECS[name].style
        utterance = corpora[name].utterances[0]
        with av.open(str(utterance.video_path)) as container:
            video, audio = container.streams.video[0], container.streams.audio[0]
            assert video.codec_context.name == "mpeg4" and audio.codec_context.name == "pcm_s16le"
            assert (video.codec_context.width, video.codec_context.height) == (style.width, style.height)
            assert audio.rate == rate and audio.codec_context.channels == 1
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        with av.open(str(utterance.video_path)) as container:
            sound = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)[0]
        assert frames[0].shape == (style.height, style.width, 3)
        assert abs(len(frames) / style.fps - len(sound) / rate) <= 1.0 / style.fps
        assert len(sound) / rate > 1.0
        if name == "sim-savee":  # the clip's audio track is the WAV's recording
            wav, _ = soundfile.read(str(utterance.audio_path), dtype="int16")
            np.testing.assert_array_equal(sound, wav)


def test_domains_differ(corpora: dict) -> None:
    styles = {name: SPECS[name].style for name in ("sim-savee", "sim-enterface")}
    assert (styles["sim-savee"].width, styles["sim-savee"].height) != (
        styles["sim-enterface"].width,
        styles["sim-enterface"].height,
    )
    channels = {name: spec.channel for name, spec in SPECS.items()}
    assert len({c.sample_rate for c in channels.values()}) == 3
    assert channels["sim-enterface"].snr_db[1] < channels["sim-savee"].snr_db[0]
    assert channels["sim-emodb"].rt60_s == (0.0, 0.0)
    assert channels["sim-enterface"].rt60_s[0] > channels["sim-savee"].rt60_s[1]


def test_fingerprint_is_the_generation_config(corpora: dict) -> None:
    corpus = corpora["sim-emodb"]
    assert corpus.fingerprint == fingerprint("sim-emodb", scale=TINY, seed=0)
    assert fingerprint("sim-emodb", scale=TINY, seed=1) != corpus.fingerprint
    assert fingerprint("sim-emodb", scale=0.5, seed=0) != corpus.fingerprint
    louder = dataclasses.replace(SPECS["sim-emodb"], expressiveness=2.0)
    assert fingerprint("sim-emodb", scale=TINY, seed=0, spec=louder) != corpus.fingerprint


# -- determinism and resumption --------------------------------------------------------------
def test_same_seed_same_bytes_any_worker_count(tmp_path: Path) -> None:
    serial = _files(_emodb(tmp_path / "a", seed=3, workers=1))
    parallel = _files(_emodb(tmp_path / "b", seed=3, workers=2))
    assert len(serial) == len(plan(SPECS["sim-emodb"], TINY)) and serial == parallel
    other = _files(_emodb(tmp_path / "c", seed=4, workers=1))
    assert other.keys() == serial.keys()
    assert sum(other[k] != serial[k] for k in serial) == len(serial)


def test_speech_does_not_depend_on_what_was_spoken_before() -> None:
    # eSpeak NG keeps state between utterances (pitch flutter, gain control): the server must hide it
    synth = synthesizer()
    kwargs = {"rate": 170, "pitch": 50, "pitch_range": 50, "volume": 60, "seed": 1}
    first = synth.synth("de+f2", "Die Tasche steht neben der Haustür.", **kwargs)
    synth.synth("en+m3", "Something else entirely, and loud!", rate=300, pitch=90, pitch_range=90, volume=150)
    again = synth.synth("de+f2", "Die Tasche steht neben der Haustür.", **kwargs)
    np.testing.assert_array_equal(first, again)
    assert synth.sample_rate == 22050 and first.dtype == np.int16 and len(first) > 0.5 * 22050
    with pytest.raises(SpeechSynthesisError, match="no such voice"):
        synth.synth("xx-nowhere+m1", "hello", **kwargs)


def test_video_is_deterministic(tmp_path: Path) -> None:
    from emokit_plugins.simulated.generate import render_job

    spec = SPECS["sim-enterface"]
    job = plan(spec, TINY)[0]
    for folder in ("a", "b"):
        render_job(spec, 5, tmp_path / folder, job)
    assert (tmp_path / "a" / job.video).read_bytes() == (tmp_path / "b" / job.video).read_bytes()


def test_resume_regenerates_only_missing_files(tmp_path: Path) -> None:
    root = _emodb(tmp_path, seed=0)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*.wav")}
    victim = sorted(before)[3]
    content = victim.read_bytes()
    victim.unlink()
    stale = victim.with_name(f".{victim.name}.partial")
    stale.write_bytes(b"half a file")  # what an interrupted run leaves
    calls: list[tuple[str, int, int]] = []
    assert _emodb(tmp_path, seed=0, progress=lambda d, done, total: calls.append((d, done, total))) == root
    assert victim.read_bytes() == content
    assert not stale.exists()
    assert all(p.stat().st_mtime_ns == t for p, t in before.items() if p != victim)
    total = len(before)
    assert calls[0][1:] == (total - 1, total) and calls[-1][1:] == (total, total)
    assert '"generated_this_run": 1' in (root / MARKER).read_text()
    # complete: nothing is written again
    _emodb(tmp_path, seed=0)
    assert '"generated_this_run": 1' in (root / MARKER).read_text()


def test_resume_writes_only_the_missing_modality(corpora: dict, cache: Path) -> None:
    utterance = corpora["sim-savee"].utterances[5]
    wav, avi = utterance.audio_path, utterance.video_path
    content, avi_mtime = wav.read_bytes(), avi.stat().st_mtime_ns
    wav.unlink()
    prepare_corpus("sim-savee", cache_dir=cache, scale=TINY, seed=0)
    assert wav.read_bytes() == content
    assert avi.stat().st_mtime_ns == avi_mtime  # the clip was complete: not rewritten


def test_changed_spec_regenerates(tmp_path: Path) -> None:
    root = _emodb(tmp_path, seed=0)
    first = _files(root)
    calmer = dataclasses.replace(SPECS["sim-emodb"], expressiveness=0.2)
    assert _emodb(tmp_path, seed=0, spec=calmer) == root
    assert _files(root).keys() == first.keys() and _files(root) != first


def test_foreign_folder_is_not_overwritten(tmp_path: Path) -> None:
    root = corpus_dir("sim-emodb", cache_dir=tmp_path, scale=TINY, seed=0)
    root.mkdir(parents=True)
    (root / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError, match="did not generate"):
        _emodb(tmp_path, seed=0)
    assert (root / "notes.txt").read_text() == "mine"


# -- emotion is in the signal ----------------------------------------------------------------
def _loudness_and_pitch(path: Path) -> tuple[float, float]:
    x, sr = soundfile.read(str(path), dtype="float32")
    hop = 512
    rms = librosa.feature.rms(y=x, frame_length=2048, hop_length=hop, center=False)[0]
    f0 = librosa.yin(x, fmin=60, fmax=400, sr=sr, frame_length=2048, hop_length=hop, center=False)
    voiced = rms > 0.3 * rms.max()
    return float(20 * np.log10(rms[voiced].mean())), float(np.median(f0[voiced]))


def test_anger_is_louder_and_higher_than_sadness(corpora: dict) -> None:
    for name in ("sim-savee", "sim-emodb"):
        louder, higher = [], []
        for speaker in corpora[name].speakers:
            stats = {}
            for label in ("anger", "sadness"):
                paths = [
                    u.audio_path
                    for u in corpora[name].utterances
                    if u.speaker == speaker and u.label == label
                ]
                stats[label] = np.mean([_loudness_and_pitch(p) for p in paths], axis=0)
            louder.append(stats["anger"][0] - stats["sadness"][0])
            higher.append(stats["anger"][1] - stats["sadness"][1])
        assert np.mean(louder) > 2.0, (name, louder)  # dB
        assert np.mean(higher) > 5.0, (name, higher)  # Hz


def test_faces_follow_action_units_and_stay_in_frame() -> None:
    for name in ("sim-savee", "sim-enterface"):
        spec = SPECS[name]
        style = spec.style
        speaker = spec.speakers[0].id
        identity, profiles = speaker_face(spec, 0, speaker)
        clips = {}
        for label in ("happiness", "anger", "surprise"):
            # the widest the mouth and jaw ever open: full intensity, speech at its loudest
            speech = np.ones(30, np.float32)
            track = make_track(spec.face, style, profiles[label], 1.2, speech, rng_for(0, "test", label))
            clips[label] = render_clip(style, identity, track, rng_for(0, "render"))
        assert clips["happiness"].shape == (30, style.height, style.width, 3)
        apex = {label: frames[15].astype(int) for label, frames in clips.items()}
        assert np.abs(apex["happiness"] - apex["anger"]).max() > 60, name
        for frames in clips.values():
            # the background is a vertical gradient: its rows are uniform and its left and right
            # edges equal, so any face pixel at the frame's edge shows
            rows = frames[:, [0, 1, -2, -1]].astype(float)
            assert rows.std(axis=2).max() < 6 * style.pixel_noise + 4, name
            left, right = frames[:, :, :2].astype(float), frames[:, :, -2:].astype(float)
            assert np.abs(left.mean(axis=2) - right.mean(axis=2)).max() < 6 * style.pixel_noise + 4, name


def test_registered_through_entry_points(registry: Registry) -> None:
    assert {"sim-savee", "sim-emodb", "sim-enterface"} <= set(registry.names("dataset"))
    assert registry.owner("dataset", "sim-savee") == "simulated"
    provider = registry.dataset("sim-enterface")
    assert provider.modalities == ("audio", "visual") and provider.language == "en"
