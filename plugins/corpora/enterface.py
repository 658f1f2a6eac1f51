"""eNTERFACE'05 audio-visual emotion database: 42-44 English-speaking subjects, 6 emotions (no
neutral), 5 sentences per emotion, one video clip (with its audio track) per utterance.

Distributed layout: ``subject 1/anger/sentence 1/s1_an_1.avi``, codes ``an di fe ha sa su``.

The distributed copy has known faults, which are reported and tolerated:

- subject 11's files are named ``s12_*``;
- one file is named ``s16_su_3avi`` (no dot before the extension);
- some files have an ``s_3_*`` prefix;
- subject 6 is incomplete (some emotion or sentence folders are missing).

The folder structure is trusted over the file name: speaker, emotion and sentence come from the
``subject N``, emotion and ``sentence K`` folders, and a file name that disagrees or is irregular
is accepted with a :class:`~emokit.data.LoadProblem` (``skipped=False``) saying what was used.
Where a folder level is missing the file name fills it in (also reported). Files that cannot be
interpreted either way are skipped and reported. Utterance ids are rebuilt from what was accepted
(``s11_an_1`` for subject 11's misnamed ``s12_an_1.avi``), so they never collide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from emokit.api import Utterance

from .common import (
    MediaProblem,
    ReadResult,
    RealCorpusProvider,
    corpus_label,
    natural_key,
    normalise_name,
    probe_video,
    subdirs,
    walk_files,
)

CODES = ("an", "di", "fe", "ha", "sa", "su")

#: Emotion folder spellings seen in copies of the corpus (after :func:`normalise_name`).
EMOTION_FOLDERS: dict[str, str] = {
    **{code: code for code in CODES},
    "anger": "an",
    "angry": "an",
    "disgust": "di",
    "disgusted": "di",
    "fear": "fe",
    "fearful": "fe",
    "afraid": "fe",
    "happiness": "ha",
    "happy": "ha",
    "joy": "ha",
    "sadness": "sa",
    "sad": "sa",
    "surprise": "su",
    "surprised": "su",
    "suprise": "su",
}

_SUBJECT = re.compile(r"^subject[\s_-]*(\d+)$", re.IGNORECASE)
_SENTENCE = re.compile(r"^sentence[\s_-]*(\d+)$", re.IGNORECASE)
# Tolerant on purpose: matches "s1_an_1.avi", "s_3_an_1.avi", "s16_su_3avi", "s1_an1.avi".
_NAME = re.compile(
    r"^s(?P<sep>_*)(?P<subject>\d*)_*(?P<code>[a-z]+?)_*(?P<sentence>\d+)(?P<dot>\.?)avi$", re.IGNORECASE
)
_EXPECTED = "subject N/<emotion>/sentence K/sN_<code>_K.avi"


@dataclass
class _Clip:
    path: Path
    subject_dir: Path
    speaker: str
    code: str
    sentence: int
    notes: list[str]

    @property
    def id(self) -> str:
        return f"s{self.speaker}_{self.code}_{self.sentence}"


class EnterfaceProvider(RealCorpusProvider):
    """eNTERFACE'05 read from its distributed ``subject N/`` folders."""

    name = "enterface"
    description = (
        "eNTERFACE'05: 42-44 subjects, English, 6 emotions, video with audio (real corpus, --data-root)"
    )
    modalities = ("audio", "visual")
    language = "en"
    family = "enterface"
    title = "eNTERFACE'05"
    folder_aliases = ("eNTERFACE05", "enterface")
    layout = f"{_EXPECTED} folders (e.g. subject 1/anger/sentence 1/s1_an_1.avi)"
    nominal_sample_rate = 48000

    def has_layout(self, folder: Path) -> bool:
        return any(_SUBJECT.match(d.name.strip()) for d in subdirs(folder))

    def read(self, folder: Path) -> ReadResult:
        result = ReadResult()
        clips: list[_Clip] = []
        for path in walk_files(folder):
            if not path.name.lower().endswith("avi"):
                continue  # documentation, thumbnails and the like
            clip = self._interpret(folder, path, result)
            if clip is not None:
                clips.append(clip)
        # Well-named clips claim their id first, so a stray copy is the one reported as duplicate.
        clips.sort(key=lambda c: (bool(c.notes), natural_key(str(c.path))))
        accepted: dict[str, _Clip] = {}
        for clip in clips:
            if clip.id in accepted:
                result.skip(clip.path, f"duplicate of {accepted[clip.id].path} (both read as {clip.id})")
                continue
            try:
                probe_video(clip.path)
            except MediaProblem as exc:
                result.skip(clip.path, str(exc))
                continue
            label = corpus_label(self.family, clip.code)
            assert label is not None  # codes come from CODES only
            if clip.notes:
                result.warn(
                    clip.path,
                    "; ".join(clip.notes)
                    + f"; accepted as subject {clip.speaker}, {label}, sentence {clip.sentence} ({clip.id})",
                )
            accepted[clip.id] = clip
            result.utterances.append(
                Utterance(
                    id=clip.id,
                    speaker=clip.speaker,
                    emotion=clip.code,
                    label=label,
                    audio_path=clip.path,  # the clip's own audio track
                    video_path=clip.path,
                    sentence=f"{clip.code}_{clip.sentence}",  # the 5 sentences differ per emotion
                    gender=None,  # not published per subject
                    sample_rate=self.nominal_sample_rate,
                )
            )
            result.accepted.append(clip.path)
        self._report_incomplete(list(accepted.values()), result)
        return result

    def _interpret(self, root: Path, path: Path, result: ReadResult) -> _Clip | None:
        """Resolve speaker, emotion and sentence of ``path`` from its folders and name."""
        parts = path.relative_to(root).parts
        subject = _SUBJECT.match(parts[0].strip()) if len(parts) > 1 else None
        if subject is None:
            result.skip(path, f"not inside a 'subject N' folder: expected {_EXPECTED}")
            return None
        speaker = str(int(subject.group(1)))
        folder_code = folder_sentence = None
        emotion_folder = ""
        for part in parts[1:-1]:
            if (code := EMOTION_FOLDERS.get(normalise_name(part))) is not None:
                folder_code, emotion_folder = code, part
            elif (sentence := _SENTENCE.match(part.strip())) is not None:
                folder_sentence = int(sentence.group(1))

        notes: list[str] = []
        name = _NAME.match(path.name)
        name_code = name_sentence = None
        if name is None:
            notes.append(f"file name does not follow sN_<code>_K.avi (codes {', '.join(CODES)})")
        else:
            if not name["dot"]:
                notes.append("file name lacks the '.' before 'avi'")
            if name["sep"] or not name["subject"]:
                notes.append(
                    f"irregular file name prefix {path.name[: name.start('code')]!r} (expected 's<N>_')"
                )
            if name["subject"] and int(name["subject"]) != int(speaker):
                notes.append(
                    f"file name says subject {int(name['subject'])} but it is in folder {parts[0]!r}"
                )
            name_code = name["code"].lower()
            name_sentence = int(name["sentence"])

        if folder_code is not None:
            code = folder_code
            if name is not None and name_code != folder_code:
                notes.append(f"file name says emotion {name_code!r} but it is in folder {emotion_folder!r}")
        elif name_code in CODES:
            code = name_code
            notes.append("no emotion folder; emotion taken from the file name")
        else:
            result.skip(
                path,
                f"cannot tell the emotion: no emotion folder (anger, disgust, fear, happiness, sadness, "
                f"surprise) and no emotion code ({', '.join(CODES)}) in the file name; expected {_EXPECTED}",
            )
            return None

        if folder_sentence is not None:
            sentence = folder_sentence
            if name_sentence is not None and name_sentence != folder_sentence:
                notes.append(
                    f"file name says sentence {name_sentence} but it is in 'sentence {folder_sentence}'"
                )
        elif name_sentence is not None:
            sentence = name_sentence
            notes.append("no 'sentence K' folder; sentence taken from the file name")
        else:
            result.skip(
                path,
                "cannot tell the sentence: no 'sentence K' folder and the file name does not parse; "
                f"expected {_EXPECTED}",
            )
            return None
        return _Clip(path, root / parts[0], speaker, code, sentence, notes)

    def _report_incomplete(self, clips: list[_Clip], result: ReadResult) -> None:
        """Report each subject lacking an (emotion, sentence) that some other subject has."""
        everywhere = {(c.code, c.sentence) for c in clips}
        by_subject: dict[str, tuple[Path, set[tuple[str, int]]]] = {}
        for c in clips:
            by_subject.setdefault(c.speaker, (c.subject_dir, set()))[1].add((c.code, c.sentence))
        for speaker in sorted(by_subject, key=natural_key):
            subject_dir, present = by_subject[speaker]
            missing = everywhere - present
            if not missing:
                continue
            gaps = []
            for code in CODES:
                lacking = sorted(s for c, s in missing if c == code)
                if not lacking:
                    continue
                offered = sorted(s for c, s in everywhere if c == code)
                label = corpus_label(self.family, code)
                if lacking == offered:
                    gaps.append(f"{label} (all sentences)")
                else:
                    gaps.append(
                        f"{label} sentence{'s' if len(lacking) > 1 else ''} {', '.join(map(str, lacking))}"
                    )
            result.warn(
                subject_dir,
                f"subject {speaker} is incomplete: no clip for {'; '.join(gaps)} "
                f"({len(present)} of {len(everywhere)} utterances); its other clips are used",
            )
