"""Loaders of the real corpora, on tiny trees written in each corpus's distributed layout."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile

from emokit.api import DataLayoutError, LoadContext
from emokit.data.corpus import Corpus, LoadProblem
from emokit.registry import Registry
from emokit_plugins.corpora import (
    CremadProvider,
    EmodbProvider,
    EnterfaceProvider,
    RavdessProvider,
    SaveeProvider,
)


# -- helpers ---------------------------------------------------------------------------------
def wav(path: Path, rate: int = 16000, seconds: float = 0.02) -> Path:
    """A short, genuine WAV of noise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = np.random.default_rng(len(path.name)).normal(0, 0.1, int(rate * seconds)).astype("float32")
    soundfile.write(str(path), samples, rate)
    return path


def avi(path: Path) -> Path:
    """A non-empty stand-in for a video clip (loaders only check that videos are non-empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(64))
    return path


def garbage(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a wav file at all" * 4)
    return path


def empty(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def by_id(corpus: Corpus) -> dict:
    return {u.id: u for u in corpus.utterances}


def problem(corpus: Corpus, path: Path) -> LoadProblem:
    found = [p for p in corpus.problems if p.path == path]
    assert len(found) == 1, f"expected one problem for {path}, got {corpus.problems}"
    return found[0]


# -- SAVEE -----------------------------------------------------------------------------------
@pytest.fixture
def savee_dir(tmp_path: Path) -> Path:
    root = tmp_path / "SAVEE"
    audio, video = root / "AudioData", root / "AudioVisualClip"
    for name in ("a01", "sa01", "su02", "n10"):
        wav(audio / "DC" / f"{name}.wav", rate=44100)
    wav(audio / "JE" / "h03.wav", rate=44100)
    for name in ("a1", "sa1", "d5"):  # video numbers are not zero-padded
        avi(video / "DC" / f"{name}.avi")
    (audio / "Info.txt").write_text("speaker information")
    (audio / "DC" / ".DS_Store").write_bytes(b"\0")
    wav(audio / "DC" / "x07.wav")  # unknown code
    wav(audio / "DC" / "s01.wav")  # 's' without a/u: neither sadness nor surprise
    garbage(audio / "JE" / "f01.wav")
    empty(audio / "JE" / "f02.wav")
    empty(video / "JE" / "f1.avi")
    return root


def test_savee_ids_labels_and_pairing(savee_dir: Path) -> None:
    corpus = SaveeProvider().load_folder(savee_dir)
    utts = by_id(corpus)
    assert sorted(utts) == ["DC_a01", "DC_d05", "DC_n10", "DC_sa01", "DC_su02", "JE_h03"]
    a01 = utts["DC_a01"]
    assert a01.audio_path == savee_dir / "AudioData/DC/a01.wav"
    assert a01.video_path == savee_dir / "AudioVisualClip/DC/a1.avi"
    assert (a01.speaker, a01.emotion, a01.label, a01.sentence) == ("DC", "a", "anger", "a01")
    assert a01.sample_rate == 44100
    assert (utts["DC_sa01"].emotion, utts["DC_sa01"].label) == ("sa", "sadness")
    assert utts["DC_sa01"].video_path == savee_dir / "AudioVisualClip/DC/sa1.avi"
    assert (utts["DC_su02"].emotion, utts["DC_su02"].label) == ("su", "surprise")
    assert utts["DC_su02"].video_path is None  # audio only
    d05 = utts["DC_d05"]  # video only
    assert d05.audio_path is None and d05.video_path is not None and d05.sample_rate is None
    assert d05.label == "disgust"
    assert {u.gender for u in corpus.utterances} == {"m"}
    assert corpus.speakers == ["DC", "JE"]
    assert corpus.modalities == ("audio", "visual")
    assert (corpus.name, corpus.language, corpus.root) == ("savee", "en", savee_dir)


def test_savee_reports_bad_files_and_ignores_non_media(savee_dir: Path) -> None:
    corpus = SaveeProvider().load_folder(savee_dir)
    audio = savee_dir / "AudioData"
    for name in ("DC/x07.wav", "DC/s01.wav"):
        assert "does not parse" in problem(corpus, audio / name).reason
    assert "not a readable audio file" in problem(corpus, audio / "JE/f01.wav").reason
    assert "empty" in problem(corpus, audio / "JE/f02.wav").reason
    assert "empty" in problem(corpus, savee_dir / "AudioVisualClip/JE/f1.avi").reason
    assert all(p.skipped for p in corpus.problems)
    assert len(corpus.problems) == 5  # Info.txt and .DS_Store are not corpus media
    assert "JE_f01" not in by_id(corpus) and "JE_f02" not in by_id(corpus)


def test_savee_audio_only_copy_provides_audio_only(tmp_path: Path) -> None:
    wav(tmp_path / "AudioData" / "KL" / "n01.wav", rate=44100)
    corpus = SaveeProvider().load_folder(tmp_path, name="sim-savee")
    assert corpus.name == "sim-savee"
    assert corpus.modalities == ("audio",)
    with pytest.raises(ValueError, match="no visual data"):
        corpus.with_modality("visual")


def test_savee_duplicate_numbering_is_reported(tmp_path: Path) -> None:
    avi(tmp_path / "AudioVisualClip" / "DC" / "a1.avi")
    avi(tmp_path / "AudioVisualClip" / "DC" / "a01.avi")
    corpus = SaveeProvider().load_folder(tmp_path)
    assert [u.id for u in corpus.utterances] == ["DC_a01"]
    assert len(corpus.problems) == 1 and "duplicate" in corpus.problems[0].reason


# -- EMODB -----------------------------------------------------------------------------------
def test_emodb_parses_names_and_harmonises(tmp_path: Path) -> None:
    root = tmp_path / "EmoDB"
    for name in ("03a01Fa", "08b02Wb", "16a05Lc", "13b09Tb"):
        wav(root / "wav" / f"{name}.wav")
    wav(root / "wav" / "10a01Xa.wav")  # X is no EMODB emotion
    wav(root / "wav" / "3a01Fa.wav")  # one-digit speaker
    (root / "erkennung.txt").write_text("recognition rates")
    corpus = EmodbProvider().load_folder(root)
    utts = by_id(corpus)
    assert sorted(utts) == ["03a01Fa", "08b02Wb", "13b09Tb", "16a05Lc"]
    assert (utts["08b02Wb"].emotion, utts["08b02Wb"].label) == ("W", "anger")
    assert (utts["16a05Lc"].emotion, utts["16a05Lc"].label) == ("L", "boredom")
    assert utts["03a01Fa"].label == "happiness" and utts["13b09Tb"].label == "sadness"
    assert {i: u.gender for i, u in utts.items()} == {
        "03a01Fa": "m",
        "08b02Wb": "f",
        "13b09Tb": "f",
        "16a05Lc": "f",
    }
    assert (utts["08b02Wb"].speaker, utts["08b02Wb"].sentence) == ("08", "b02")
    assert utts["03a01Fa"].sample_rate == 16000 and utts["03a01Fa"].video_path is None
    assert (corpus.language, corpus.modalities) == ("de", ("audio",))
    assert "unknown emotion letter 'X'" in problem(corpus, root / "wav/10a01Xa.wav").reason
    assert "does not parse" in problem(corpus, root / "wav/3a01Fa.wav").reason


# -- eNTERFACE'05 ----------------------------------------------------------------------------
@pytest.fixture
def enterface_dir(tmp_path: Path) -> Path:
    root = tmp_path / "enterface database"
    avi(root / "subject 1/anger/sentence 1/s1_an_1.avi")
    avi(root / "subject 1/anger/sentence 2/s1_an_2.avi")
    avi(root / "subject 1/Disgust/sentence 1/s1_di_1.avi")
    avi(root / "subject 11/anger/sentence 1/s12_an_1.avi")  # subject 11's files are named s12*
    avi(root / "subject 12/anger/sentence 1/s12_an_1.avi")
    avi(root / "subject 16/surprise/sentence 3/s16_su_3avi")  # missing dot
    avi(root / "subject 3/fear/sentence 2/s_3_fe_2.avi")  # s_3_ prefix
    avi(root / "subject 6/happiness/s6_ha_1.avi")  # no sentence folder
    avi(root / "subject 2/surprised/sentence 1/s2_su_1.avi")  # another folder spelling
    avi(root / "subject 2/sadness/sentence 4/s2_an_4.avi")  # name disagrees with folder
    avi(root / "subject 2/sadness/sentence 5/clip.avi")  # name unreadable, folders complete
    empty(root / "subject 2/fear/sentence 1/s2_fe_1.avi")
    avi(root / "subject 4/extras/random.avi")  # cannot be interpreted
    avi(root / "stray_s5_an_1.avi")  # outside any subject folder
    (root / "subject 1" / "Thumbs.db").write_bytes(b"\1")
    return root


def test_enterface_regular_clips(enterface_dir: Path) -> None:
    corpus = EnterfaceProvider().load_folder(enterface_dir)
    utts = by_id(corpus)
    clip = utts["s1_an_1"]
    path = enterface_dir / "subject 1/anger/sentence 1/s1_an_1.avi"
    assert clip.audio_path == clip.video_path == path
    assert (clip.speaker, clip.emotion, clip.label, clip.sentence) == ("1", "an", "anger", "an_1")
    assert clip.gender is None and clip.sample_rate == 48000
    assert utts["s1_di_1"].label == "disgust"
    assert utts["s2_su_1"].label == "surprise"
    assert (corpus.language, corpus.modalities) == ("en", ("audio", "visual"))
    assert all(p.path != path for p in corpus.problems)


def test_enterface_known_faults_are_reported_and_tolerated(enterface_dir: Path) -> None:
    corpus = EnterfaceProvider().load_folder(enterface_dir)
    utts = by_id(corpus)

    def accepted(rel: str, uid: str, speaker: str, label: str, *words: str) -> None:
        path = enterface_dir / rel
        u = utts[uid]
        assert (u.video_path, u.speaker, u.label) == (path, speaker, label)
        p = problem(corpus, path)
        assert not p.skipped
        for word in words:
            assert word in p.reason

    accepted(
        "subject 11/anger/sentence 1/s12_an_1.avi", "s11_an_1", "11", "anger", "subject 12", "subject 11"
    )
    assert utts["s12_an_1"].video_path == enterface_dir / "subject 12/anger/sentence 1/s12_an_1.avi"
    accepted("subject 16/surprise/sentence 3/s16_su_3avi", "s16_su_3", "16", "surprise", "'.'")
    accepted("subject 3/fear/sentence 2/s_3_fe_2.avi", "s3_fe_2", "3", "fear", "prefix 's_3_'")
    accepted("subject 6/happiness/s6_ha_1.avi", "s6_ha_1", "6", "happiness", "sentence taken from the file")
    accepted("subject 2/sadness/sentence 4/s2_an_4.avi", "s2_sa_4", "2", "sadness", "emotion 'an'")
    accepted("subject 2/sadness/sentence 5/clip.avi", "s2_sa_5", "2", "sadness", "does not follow")
    assert utts["s6_ha_1"].sentence == "ha_1"


def test_enterface_uninterpretable_files_are_skipped(enterface_dir: Path) -> None:
    corpus = EnterfaceProvider().load_folder(enterface_dir)
    for rel, words in (
        ("subject 2/fear/sentence 1/s2_fe_1.avi", "empty"),
        ("subject 4/extras/random.avi", "cannot tell the emotion"),
        ("stray_s5_an_1.avi", "not inside a 'subject N' folder"),
    ):
        p = problem(corpus, enterface_dir / rel)
        assert p.skipped and words in p.reason
    assert "s2_fe_1" not in by_id(corpus) and "4" not in corpus.speakers


def test_enterface_incomplete_subject_is_reported(tmp_path: Path) -> None:
    for subject in (1, 2, 6):
        for emotion, code in (("anger", "an"), ("happiness", "ha")):
            for k in (1, 2):
                if subject == 6 and (code == "ha" or k == 2):
                    continue  # subject 6 lacks happiness and anger sentence 2
                avi(tmp_path / f"subject {subject}/{emotion}/sentence {k}/s{subject}_{code}_{k}.avi")
    corpus = EnterfaceProvider().load_folder(tmp_path)
    assert len(corpus) == 9
    assert len(corpus.problems) == 1
    report = corpus.problems[0]
    assert report.path == tmp_path / "subject 6" and not report.skipped
    assert "anger sentence 2" in report.reason and "happiness (all sentences)" in report.reason


# -- RAVDESS ---------------------------------------------------------------------------------
def test_ravdess_pairs_modalities_and_genders(tmp_path: Path) -> None:
    root = tmp_path / "RAVDESS"
    wav(root / "Actor_01/03-01-05-01-01-01-01.wav", rate=48000)
    avi(root / "Actor_01/01-01-05-01-01-01-01.mp4")
    wav(root / "Actor_02/03-01-02-02-02-01-02.wav", rate=48000)
    avi(root / "Actor_02/02-01-08-01-01-01-02.mp4")  # video-only take
    wav(root / "Audio_Song_Actors_01-24/Actor_01/03-02-03-01-01-01-01.wav", rate=48000)
    wav(root / "Actor_01/03-01-09-01-01-01-01.wav")  # no emotion 09
    avi(root / "Actor_01/01-01-05-01-01-01-01.wav")  # audio-video modality in a .wav
    corpus = RavdessProvider().load_folder(root)
    utts = by_id(corpus)
    assert sorted(utts) == ["01-02-02-02-01-02", "01-05-01-01-01-01", "01-08-01-01-01-02"]
    angry = utts["01-05-01-01-01-01"]
    assert angry.audio_path == root / "Actor_01/03-01-05-01-01-01-01.wav"
    assert angry.video_path == root / "Actor_01/01-01-05-01-01-01-01.mp4"
    assert (angry.speaker, angry.gender, angry.label, angry.sentence) == ("01", "m", "anger", "01")
    calm = utts["01-02-02-02-01-02"]
    assert (calm.gender, calm.label, calm.video_path, calm.sample_rate) == ("f", "calm", None, 48000)
    surprised = utts["01-08-01-01-01-02"]
    assert surprised.audio_path is None and surprised.label == "surprise"
    assert "emotion 09" in problem(corpus, root / "Actor_01/03-01-09-01-01-01-01.wav").reason
    assert "modality 01 in a .wav" in problem(corpus, root / "Actor_01/01-01-05-01-01-01-01.wav").reason
    assert "1 sung takes" in problem(corpus, root).reason


# -- CREMA-D ---------------------------------------------------------------------------------
def test_cremad_parses_names_and_reads_demographics(tmp_path: Path) -> None:
    root = tmp_path / "CREMA-D"
    wav(root / "AudioWAV/1001_DFA_ANG_XX.wav")
    wav(root / "AudioWAV/1002_IEO_HAP_HI.wav")
    wav(root / "AudioWAV/1003_TIE_NEU_XX.wav")
    empty(root / "AudioWAV/1076_MTI_SAD_XX.wav")  # the empty file of the distributed copy
    wav(root / "AudioWAV/1001_DFA_BOR_XX.wav")
    corpus = CremadProvider().load_folder(root)
    utts = by_id(corpus)
    assert sorted(utts) == ["1001_DFA_ANG_XX", "1002_IEO_HAP_HI", "1003_TIE_NEU_XX"]
    u = utts["1002_IEO_HAP_HI"]
    assert (u.speaker, u.sentence, u.emotion, u.label, u.gender) == ("1002", "IEO", "HAP", "happiness", None)
    assert "empty" in problem(corpus, root / "AudioWAV/1076_MTI_SAD_XX.wav").reason
    assert "unknown emotion 'BOR'" in problem(corpus, root / "AudioWAV/1001_DFA_BOR_XX.wav").reason

    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n"
        "1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n"
    )
    again = CremadProvider().load_folder(root)
    genders = {u.id: u.gender for u in again.utterances}
    assert genders == {"1001_DFA_ANG_XX": "m", "1002_IEO_HAP_HI": "f", "1003_TIE_NEU_XX": None}
    assert again.fingerprint != corpus.fingerprint


# -- shared behaviour ------------------------------------------------------------------------
def test_fingerprint_follows_accepted_files(tmp_path: Path) -> None:
    wav(tmp_path / "wav/03a01Fa.wav")
    wav(tmp_path / "wav/08a01Wa.wav")
    provider = EmodbProvider()
    first = provider.load_folder(tmp_path).fingerprint
    assert len(first) == 16 and provider.load_folder(tmp_path).fingerprint == first
    garbage(tmp_path / "wav/09a01Fa.wav")  # skipped: features cannot depend on it
    assert provider.load_folder(tmp_path).fingerprint == first
    wav(tmp_path / "wav/08a01Wa.wav", seconds=0.05)  # replaced with different content
    changed = provider.load_folder(tmp_path).fingerprint
    assert changed != first
    path = tmp_path / "wav/03a01Fa.wav"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched
    assert provider.load_folder(tmp_path).fingerprint != changed


def test_corpus_with_no_usable_file_is_an_error_listing_problems(tmp_path: Path) -> None:
    garbage(tmp_path / "wav/03a01Fa.wav")
    with pytest.raises(DataLayoutError, match=r"no usable utterance .*03a01Fa\.wav: not a readable audio"):
        EmodbProvider().load_folder(tmp_path)


@pytest.mark.parametrize(
    ("provider", "folder", "make"),
    [
        (SaveeProvider(), "savee", lambda d: wav(d / "AudioData/DC/a01.wav")),
        (SaveeProvider(), "SAVEE", lambda d: avi(d / "AudioVisualClip/DC/a1.avi")),
        (EmodbProvider(), "EMODB", lambda d: wav(d / "wav/03a01Fa.wav")),
        (EmodbProvider(), "berlin", lambda d: wav(d / "wav/03a01Fa.wav")),
        (EmodbProvider(), "emodb/download", lambda d: wav(d / "wav/03a01Fa.wav")),  # one level down
        (EnterfaceProvider(), "eNTERFACE'05", lambda d: avi(d / "subject 1/anger/sentence 1/s1_an_1.avi")),
        (EnterfaceProvider(), "enterface05", lambda d: avi(d / "subject 1/anger/sentence 1/s1_an_1.avi")),
        (
            RavdessProvider(),
            "ravdess",
            lambda d: wav(d / "Audio_Speech_Actors_01-24/Actor_01/03-01-01-01-01-01-01.wav"),
        ),
        (CremadProvider(), "CREMA-D", lambda d: wav(d / "AudioWAV/1001_DFA_ANG_XX.wav")),
        (CremadProvider(), ".", lambda d: wav(d / "AudioWAV/1001_DFA_ANG_XX.wav")),  # data root itself
    ],
)
def test_load_finds_corpus_folder_under_data_root(tmp_path: Path, provider, folder: str, make) -> None:
    make(tmp_path / folder)
    (tmp_path / "unrelated").mkdir()
    corpus = provider.load(LoadContext(data_root=tmp_path))
    assert len(corpus) == 1 and corpus.name == provider.name
    assert corpus.root == tmp_path / folder


def test_missing_data_root_or_layout_says_what_and_where(tmp_path: Path) -> None:
    savee = SaveeProvider()
    with pytest.raises(DataLayoutError, match=r"savee: no data root given: expected a folder SAVEE/") as err:
        savee.load(LoadContext(data_root=None))
    assert "AudioData/<speaker>/<code><nn>.wav" in str(err.value) and "--data-root" in str(err.value)

    with pytest.raises(DataLayoutError) as err:
        savee.load(LoadContext(data_root=tmp_path))
    message = str(err.value)
    assert f"no SAVEE corpus under {tmp_path}" in message
    assert "AudioData/<speaker>/<code><nn>.wav" in message and "DC, JE, JK, KL" in message
    assert "EMOKIT_DATA" in message

    (tmp_path / "Savee" / "docs").mkdir(parents=True)  # right name, wrong content
    with pytest.raises(DataLayoutError, match=r"found .*Savee, but without that layout"):
        savee.load(LoadContext(data_root=tmp_path))

    with pytest.raises(DataLayoutError, match=r"subject N/<emotion>/sentence K/sN_<code>_K\.avi"):
        EnterfaceProvider().load(LoadContext(data_root=tmp_path))
    with pytest.raises(DataLayoutError, match=re.escape(f"{tmp_path / 'nowhere'} is not a folder")):
        EmodbProvider().load(LoadContext(data_root=tmp_path / "nowhere"))
    with pytest.raises(
        DataLayoutError,
        match=re.escape(f"sim-emodb: no EMODB corpus in {tmp_path}: expected it to contain wav/"),
    ):
        EmodbProvider().load_folder(tmp_path, name="sim-emodb")


def test_registry_lookup_loads_real_corpus(tmp_path: Path) -> None:
    registry = Registry.discover()
    assert {"savee", "emodb", "enterface", "ravdess", "cremad"} <= set(registry.names("dataset"))
    assert registry.owner("dataset", "savee") == "corpora"
    wav(tmp_path / "SAVEE/AudioData/JK/su07.wav", rate=44100)
    corpus = registry.dataset("savee").load(LoadContext(data_root=tmp_path))
    assert [(u.id, u.label) for u in corpus.utterances] == [("JK_su07", "surprise")]
