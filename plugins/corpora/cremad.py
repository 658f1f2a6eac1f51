"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset): 91 actors, 12 English sentences,
6 emotions, audio (16 kHz WAV).

Distributed layout: ``AudioWAV/1001_DFA_ANG_XX.wav`` = actor, sentence, emotion (ANG DIS FEA HAP
NEU SAD), level (LO MD HI XX). The file stem is the utterance id. Genders are read from the
corpus's own ``VideoDemographics.csv`` (columns ``ActorID`` and ``Sex``) when it sits in the corpus
folder; otherwise they are unknown (``None``). The videos (``VideoFlash/``) are not read.
"""

from __future__ import annotations

import csv
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

AUDIO_DIR = "AudioWAV"
DEMOGRAPHICS = "VideoDemographics.csv"

_NAME = re.compile(r"^(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>[A-Z]{1,2})$")
_EXPECTED = "AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav (e.g. AudioWAV/1001_DFA_ANG_XX.wav)"


class CremadProvider(RealCorpusProvider):
    """CREMA-D audio, read from its distributed ``AudioWAV/`` folder."""

    name = "cremad"
    description = "CREMA-D: 91 actors, English, 6 emotions, audio (real corpus, --data-root)"
    modalities = ("audio",)
    language = "en"
    family = "cremad"
    title = "CREMA-D"
    folder_aliases = ("CREMA-D", "cremad")
    layout = _EXPECTED
    nominal_sample_rate = 16000

    def has_layout(self, folder: Path) -> bool:
        return child_dir(folder, AUDIO_DIR) is not None

    def read(self, folder: Path) -> ReadResult:
        result = ReadResult()
        genders = self._genders(folder, result)
        audio_dir = child_dir(folder, AUDIO_DIR)
        assert audio_dir is not None  # has_layout checked it
        for path in walk_files(audio_dir):
            if path.suffix.lower() != ".wav":
                continue
            match = _NAME.match(path.stem)
            if match is None:
                result.skip(path, f"file name does not parse: expected {_EXPECTED}")
                continue
            label = corpus_label(self.family, match["emotion"])
            if label is None:
                result.skip(
                    path,
                    f"unknown emotion {match['emotion']!r}; expected one of ANG, DIS, FEA, HAP, NEU, SAD",
                )
                continue
            result.add_wav(
                path,
                Utterance(
                    id=path.stem,
                    speaker=match["actor"],
                    emotion=match["emotion"],
                    label=label,
                    audio_path=path,
                    sentence=match["sentence"],
                    gender=genders.get(match["actor"]),
                ),
            )
        return result

    def _genders(self, folder: Path, result: ReadResult) -> dict[str, str]:
        """Actor -> ``"m"``/``"f"`` from ``VideoDemographics.csv``; empty when absent or unreadable."""
        path = folder / DEMOGRAPHICS
        if not path.is_file():
            return {}
        genders: dict[str, str] = {}
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                for row in csv.DictReader(handle):
                    sex = (row.get("Sex") or "").strip().lower()
                    actor = (row.get("ActorID") or "").strip()
                    if actor and sex in ("male", "female"):
                        genders[actor] = sex[0]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            result.skip(path, f"cannot read actor demographics ({exc}); genders left unknown")
            return {}
        if not genders:
            result.skip(path, "no ActorID/Sex rows (Male/Female) found; genders left unknown")
            return {}
        result.accepted.append(path)  # genders depend on it, so the fingerprint must too
        return genders
