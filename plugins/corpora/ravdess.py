"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song): 24 North-American actors
(odd numbers male), 8 emotions, speech and song, audio (48 kHz WAV) and video (MP4).

Distributed layout: ``Actor_12/03-01-06-01-02-01-12.wav``, the seven fields being modality
(01 full audio-video, 02 video only, 03 audio only), vocal channel (01 speech, 02 song), emotion
(01 neutral ... 08 surprised), intensity, statement, repetition and actor. The archives unpack to
``Actor_XX/`` folders, either directly or inside ``Audio_Speech_Actors_01-24/`` and the like;
both are read.

The three modality files of one take are one utterance, keyed by the six fields after the
modality (its id, e.g. ``01-06-01-02-01-12``): audio from the WAV (or else the full audio-video
MP4), video from the full audio-video MP4 (or else the video-only one). emokit is about speech, so
sung takes (vocal channel 02) are left out and reported once, as a count.
"""

from __future__ import annotations

import re
from pathlib import Path

from emokit.api import Utterance

from .common import (
    MediaProblem,
    ReadResult,
    RealCorpusProvider,
    corpus_label,
    normalise_name,
    probe_video,
    probe_wav,
    subdirs,
    walk_files,
)

_ACTOR = re.compile(r"^actor[\s_-]*(\d+)$", re.IGNORECASE)
_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
# Folders the official archives unpack into, holding Actor_XX/ (normalised names, as prefixes).
_WRAPPERS = ("audiospeech", "audiosong", "videospeech", "videosong")
_SUFFIX = {"01": ".mp4", "02": ".mp4", "03": ".wav"}
_EXPECTED = "Actor_XX/<modality>-<channel>-<emotion>-<intensity>-<statement>-<repetition>-<actor>.wav|.mp4"

Key = tuple[str, ...]  # (channel, emotion, intensity, statement, repetition, actor)


def _actor_dirs(folder: Path) -> list[tuple[Path, int]]:
    """(folder, actor number) of each ``Actor_XX/`` directly under ``folder`` or one wrapper down."""
    candidates = []
    for child in subdirs(folder):
        if normalise_name(child.name).startswith(_WRAPPERS):
            candidates.extend(subdirs(child))
        else:
            candidates.append(child)
    return [(d, int(m.group(1))) for d in candidates if (m := _ACTOR.match(d.name))]


class RavdessProvider(RealCorpusProvider):
    """RAVDESS speech, read from its distributed ``Actor_XX/`` folders."""

    name = "ravdess"
    description = "RAVDESS: 24 actors (12 m, 12 f), North-American English, 8 emotions, speech audio + video"
    modalities = ("audio", "visual")
    language = "en"
    family = "ravdess"
    title = "RAVDESS"
    folder_aliases = ("RAVDESS",)
    layout = f"{_EXPECTED} (e.g. Actor_12/03-01-06-01-02-01-12.wav)"
    nominal_sample_rate = 48000

    def has_layout(self, folder: Path) -> bool:
        return bool(_actor_dirs(folder))

    def read(self, folder: Path) -> ReadResult:
        result = ReadResult()
        files: dict[Key, dict[str, Path]] = {}  # key -> modality -> file
        rates: dict[Key, int] = {}  # sample rate of each key's WAV
        songs = 0
        for actor_dir, folder_actor in _actor_dirs(folder):
            for path in walk_files(actor_dir):
                suffix = path.suffix.lower()
                if suffix not in (".wav", ".mp4"):
                    continue
                fields = self._parse(path, suffix, result)
                if fields is None:
                    continue
                modality, key = fields[0], fields[1:]
                if key[0] == "02":
                    songs += 1
                    continue
                if int(key[5]) != folder_actor:
                    result.warn(
                        path, f"file name says actor {key[5]} but it is in {actor_dir.name}; using the name"
                    )
                takes = files.setdefault(key, {})
                if modality in takes:
                    result.skip(path, f"duplicate of {takes[modality]}")
                    continue
                try:
                    if modality == "03":
                        rates[key] = probe_wav(path)
                    else:
                        probe_video(path)
                except MediaProblem as exc:
                    result.skip(path, str(exc))
                    continue
                takes[modality] = path
        if songs:
            result.skip(
                folder, f"{songs} sung takes (vocal channel 02) left out: the ravdess dataset is speech only"
            )
        for key, paths in files.items():
            if not paths:
                continue  # every file of the take was skipped
            audio = paths.get("03") or paths.get("01")
            video = paths.get("01") or paths.get("02")
            actor = key[5]
            result.utterances.append(
                Utterance(
                    id="-".join(key),
                    speaker=actor,
                    emotion=key[1],
                    label=corpus_label(self.family, key[1]) or key[1],  # _parse admits known codes only
                    audio_path=audio,
                    video_path=video,
                    sentence=key[3],
                    gender="m" if int(actor) % 2 == 1 else "f",
                    sample_rate=rates.get(key, self.nominal_sample_rate) if audio is not None else None,
                )
            )
            result.accepted.extend(paths.values())
        return result

    def _parse(self, path: Path, suffix: str, result: ReadResult) -> tuple[str, ...] | None:
        match = _NAME.match(path.stem)
        if match is None:
            result.skip(path, f"file name does not parse: expected {_EXPECTED}")
            return None
        fields = match.groups()
        modality, channel, emotion, intensity, statement, repetition, _actor = fields
        bad = []
        if modality not in _SUFFIX:
            bad.append(f"modality {modality} (expected 01, 02 or 03)")
        elif _SUFFIX[modality] != suffix:
            bad.append(f"modality {modality} in a {suffix} file (expected {_SUFFIX[modality]})")
        if channel not in ("01", "02"):
            bad.append(f"vocal channel {channel} (expected 01 or 02)")
        if corpus_label(self.family, emotion) is None:
            bad.append(f"emotion {emotion} (expected 01-08)")
        for what, value in (("intensity", intensity), ("statement", statement), ("repetition", repetition)):
            if value not in ("01", "02"):
                bad.append(f"{what} {value} (expected 01 or 02)")
        if bad:
            result.skip(path, "file name has invalid " + ", ".join(bad))
            return None
        return fields
