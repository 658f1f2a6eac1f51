"""EMODB (Berlin Database of Emotional Speech): 10 German actors, 7 emotions, audio only, 16 kHz.

Distributed layout: ``EMODB/wav/03a01Fa.wav`` = speaker (2 digits), text (3), emotion letter (1:
W anger, L boredom, E disgust, A fear, F happiness, T sadness, N neutral), version (1 letter).
The file stem is the utterance id.
"""

from __future__ import annotations

import re
from pathlib import Path

from emokit.api import Utterance

from .common import (
    ReadResult,
    RealCorpusProvider,
    child_dir,
    corpus_label,
    walk_files,
)

WAV_DIR = "wav"
GENDERS: dict[str, str] = {
    "03": "m",
    "08": "f",
    "09": "f",
    "10": "m",
    "11": "m",
    "12": "m",
    "13": "f",
    "14": "f",
    "15": "m",
    "16": "f",
}

_NAME = re.compile(r"^(?P<speaker>\d{2})(?P<text>[a-z]\d{2})(?P<emotion>[A-Z])(?P<version>[a-z])$")


class EmodbProvider(RealCorpusProvider):
    """EMODB read from its distributed ``wav/`` folder."""

    name = "emodb"
    description = "EMODB (Berlin): 10 German actors, 7 emotions, audio (real corpus, --data-root)"
    modalities = ("audio",)
    language = "de"
    family = "emodb"
    title = "EMODB"
    folder_aliases = ("EMODB", "EmoDB", "emo-db", "berlin")
    layout = "wav/<speaker><text><emotion><version>.wav (e.g. wav/03a01Fa.wav)"
    nominal_sample_rate = 16000

    def has_layout(self, folder: Path) -> bool:
        return child_dir(folder, WAV_DIR) is not None

    def read(self, folder: Path) -> ReadResult:
        result = ReadResult()
        wav_dir = child_dir(folder, WAV_DIR)
        assert wav_dir is not None  # has_layout checked it
        for path in walk_files(wav_dir):
            if path.suffix.lower() != ".wav":
                continue
            match = _NAME.match(path.stem)
            if match is None:
                result.skip(
                    path,
                    "file name does not parse: expected <speaker:2 digits><text:a01><emotion:W/L/E/A/F/T/N>"
                    "<version:a-z>.wav, e.g. 03a01Fa.wav",
                )
                continue
            emotion = match["emotion"]
            label = corpus_label(self.family, emotion)
            if label is None:
                result.skip(path, f"unknown emotion letter {emotion!r}; expected one of W, L, E, A, F, T, N")
                continue
            speaker = match["speaker"]
            result.add_wav(
                path,
                Utterance(
                    id=path.stem,
                    speaker=speaker,
                    emotion=emotion,
                    label=label,
                    audio_path=path,
                    sentence=match["text"],
                    gender=GENDERS.get(speaker),
                ),
            )
        return result
