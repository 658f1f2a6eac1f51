"""The corpus model: a corpus is a list of utterances plus what went wrong while reading it.

Every loader (real or simulated) produces a :class:`Corpus`. Files that could not be read or
whose names do not follow the corpus's convention are recorded as :class:`LoadProblem` entries
and skipped, so a user always sees what was left out and why.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

MODALITIES = ("audio", "visual", "audiovisual")

#: the file emokit's corpus simulator writes into every corpus folder it generates
SIMULATED_MARKER = "emokit-simulated.json"


def simulation_marker(folder: Path | None) -> dict[str, Any] | None:
    """What the simulator recorded about ``folder`` (or its parent), or ``None`` for other folders.

    Returns ``{"generator", "name", "seed", "scale", "generator_version", "marker"}`` read from
    :data:`SIMULATED_MARKER`, so that any loader's corpus read from a generated folder is known to
    be simulated, whatever name it was loaded under.
    """
    if folder is None:
        return None
    for candidate in (Path(folder), Path(folder).parent):
        marker = candidate / SIMULATED_MARKER
        if not marker.is_file():
            continue
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        config = data.get("config", {}) if isinstance(data, dict) else {}
        return {
            "generator": data.get("generator", "emokit simulated corpora")
            if isinstance(data, dict)
            else None,
            "name": config.get("name"),
            "seed": config.get("seed"),
            "scale": config.get("scale"),
            "generator_version": config.get("generator_version"),
            "marker": str(marker),
        }
    return None


def modality_parts(modality: str) -> tuple[str, ...]:
    """The media a modality needs: ``audiovisual`` is both the audio and the video of an utterance."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")
    return ("audio", "visual") if modality == "audiovisual" else (modality,)


def provides(modalities: tuple[str, ...] | list[str], modality: str) -> bool:
    """Whether a corpus (or dataset) providing ``modalities`` can serve ``modality``."""
    return all(part in modalities for part in modality_parts(modality))


@dataclass(frozen=True)
class Utterance:
    """One recording of one speaker expressing one emotion.

    Attributes:
        id: unique within the corpus, stable across runs (used as the feature-cache key).
        speaker: speaker (actor, subject) identifier as the corpus names it.
        emotion: the corpus's own emotion label (e.g. ``"W"`` in EMODB, ``"an"`` in eNTERFACE).
        label: the harmonised label from :data:`emokit.data.labels.COMMON_LABELS`.
        audio_path: path to the audio file (a WAV, or a video with an audio track), if any.
        video_path: path to the video file, if any.
        sentence: the corpus's sentence (text) identifier, if known.
        gender: ``"m"``, ``"f"`` or ``None`` when unknown.
        sample_rate: the corpus's nominal audio sample rate in Hz, if it has audio.
    """

    id: str
    speaker: str
    emotion: str
    label: str
    audio_path: Path | None = None
    video_path: Path | None = None
    sentence: str | None = None
    gender: str | None = None
    sample_rate: int | None = None

    def has(self, modality: str) -> bool:
        """Whether this utterance carries ``modality`` (``audio``, ``visual`` or both: ``audiovisual``)."""
        paths = {"audio": self.audio_path, "visual": self.video_path}
        return all(paths[part] is not None for part in modality_parts(modality))


@dataclass(frozen=True)
class LoadProblem:
    """A file that was reported and skipped (or accepted with a warning) while loading a corpus."""

    path: Path
    reason: str
    skipped: bool = True

    def __str__(self) -> str:
        verb = "skipped" if self.skipped else "accepted"
        return f"{self.path}: {self.reason} ({verb})"


@dataclass
class Corpus:
    """A loaded corpus.

    Attributes:
        name: the dataset name it was loaded under (``"savee"``, ``"sim-savee"``, ...).
        root: the folder it was read from.
        utterances: every usable utterance.
        language: ISO 639-1 code of the spoken language.
        modalities: which of ``"audio"`` / ``"visual"`` the corpus provides.
        problems: files reported while loading (skipped or accepted with a warning).
        fingerprint: a string that changes whenever the corpus content changes; the feature
            cache keys on it. Loaders use the generation config for simulated corpora and the
            file list with sizes and modification times for real ones.
        simulation: for a simulated corpus, how it was generated (generator version, scale,
            seed; see :func:`simulation_marker`); ``None`` for recordings.
    """

    name: str
    root: Path
    utterances: list[Utterance]
    language: str
    modalities: tuple[str, ...]
    problems: list[LoadProblem] = field(default_factory=list)
    fingerprint: str = ""
    simulation: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def speakers(self) -> list[str]:
        """Sorted distinct speakers."""
        return sorted({u.speaker for u in self.utterances})

    @property
    def labels(self) -> list[str]:
        """Sorted distinct harmonised labels."""
        return sorted({u.label for u in self.utterances})

    def label_counts(self) -> dict[str, int]:
        """Number of utterances per harmonised label."""
        return dict(sorted(Counter(u.label for u in self.utterances).items()))

    def with_modality(self, modality: str) -> Corpus:
        """The utterances that carry ``modality``; an error names the corpus if it has none."""
        if not provides(self.modalities, modality):
            raise ValueError(
                f"corpus {self.name!r} has no {modality} data (it provides: {', '.join(self.modalities)})"
            )
        return replace(self, utterances=[u for u in self.utterances if u.has(modality)])

    def restricted_to(self, labels: list[str] | set[str]) -> Corpus:
        """The utterances whose harmonised label is in ``labels``."""
        keep = set(labels)
        return replace(self, utterances=[u for u in self.utterances if u.label in keep])
