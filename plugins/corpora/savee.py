"""SAVEE (Surrey Audio-Visual Expressed Emotion): 4 male British speakers, 7 emotions, audio and video.

Distributed layout::

    SAVEE/AudioData/DC/a01.wav  ...  sa15.wav  su15.wav  n30.wav        (44.1 kHz)
    SAVEE/AudioVisualClip/DC/a1.avi  ...  n30.avi                       (numbers not zero-padded)

Emotion codes are ``a d f h n sa su``. The audio and the video of the same (speaker, code, number)
are one utterance ``DC_a01``; when only one of them exists the utterance carries only that
modality (the clips have an audio track too, but SAVEE's audio modality is the separate WAV).
"""

from __future__ import annotations

import re
from pathlib import Path

from emokit.api import Utterance

from .common import (
    MediaProblem,
    ReadResult,
    RealCorpusProvider,
    child_dir,
    corpus_label,
    probe_video,
    probe_wav,
    walk_files,
)

AUDIO_DIR = "AudioData"
VIDEO_DIR = "AudioVisualClip"
SPEAKERS = ("DC", "JE", "JK", "KL")

# Two-letter codes are listed first for the reader; the anchors make "sa01" unambiguous anyway.
_NAME = re.compile(r"^(sa|su|a|d|f|h|n)(\d{1,2})$")

Key = tuple[str, str, int]  # (speaker, emotion code, number)


class SaveeProvider(RealCorpusProvider):
    """SAVEE read from its distributed folders (``AudioData/`` and/or ``AudioVisualClip/``)."""

    name = "savee"
    description = (
        "SAVEE: 4 male British English speakers, 7 emotions, audio + video (real corpus, --data-root)"
    )
    modalities = ("audio", "visual")
    language = "en"
    family = "savee"
    title = "SAVEE"
    folder_aliases = ("SAVEE",)
    layout = (
        "AudioData/<speaker>/<code><nn>.wav and/or AudioVisualClip/<speaker>/<code><n>.avi "
        f"(speakers {', '.join(SPEAKERS)}; codes a d f h n sa su)"
    )
    nominal_sample_rate = 44100

    def has_layout(self, folder: Path) -> bool:
        return child_dir(folder, AUDIO_DIR) is not None or child_dir(folder, VIDEO_DIR) is not None

    def read(self, folder: Path) -> ReadResult:
        result = ReadResult()
        audio = self._collect(child_dir(folder, AUDIO_DIR), ".wav", result)
        video = self._collect(child_dir(folder, VIDEO_DIR), ".avi", result)
        rates: dict[Key, int] = {}
        for key, path in list(audio.items()):
            try:
                rates[key] = probe_wav(path)
            except MediaProblem as exc:
                result.skip(path, str(exc))
                del audio[key]
        for key, path in list(video.items()):
            try:
                probe_video(path)
            except MediaProblem as exc:
                result.skip(path, str(exc))
                del video[key]
        for key in audio.keys() | video.keys():
            speaker, code, number = key
            audio_path, video_path = audio.get(key), video.get(key)
            result.utterances.append(
                Utterance(
                    id=f"{speaker}_{code}{number:02d}",
                    speaker=speaker,
                    emotion=code,
                    label=corpus_label(self.family, code) or code,  # the name regex admits known codes only
                    audio_path=audio_path,
                    video_path=video_path,
                    # SAVEE's scripts are numbered per emotion and shared by all speakers
                    sentence=f"{code}{number:02d}",
                    gender="m" if speaker in SPEAKERS else None,
                    sample_rate=rates.get(key),
                )
            )
            result.accepted.extend(p for p in (audio_path, video_path) if p is not None)
        return result

    def _collect(self, top: Path | None, suffix: str, result: ReadResult) -> dict[Key, Path]:
        """Map (speaker, code, number) -> file for the ``suffix`` files under ``top/<speaker>/``."""
        found: dict[Key, Path] = {}
        if top is None:
            return found
        what = f"{top.name}/<speaker>/<code><n>{suffix}"
        for path in walk_files(top):
            if path.suffix.lower() != suffix:
                continue  # readme files and the like
            parts = path.relative_to(top).parts
            if len(parts) != 2:
                result.skip(path, f"not in a speaker folder: expected {what}")
                continue
            match = _NAME.match(path.stem.lower())
            if match is None:
                result.skip(
                    path, f"file name does not parse: expected {what} with code a, d, f, h, n, sa or su"
                )
                continue
            key = (parts[0], match.group(1), int(match.group(2)))
            if key in found:
                result.skip(path, f"duplicate of {found[key]} (same speaker, emotion and number)")
                continue
            found[key] = path
        return found
