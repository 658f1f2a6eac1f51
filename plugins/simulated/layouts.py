"""Which utterances a simulated corpus holds and where each one's files go (the real layouts).

A :class:`Job` is one utterance to generate: who says what in which emotion, and the paths (relative
to the corpus folder) of the files to write, exactly as the real corpus names them:

- SAVEE: ``AudioData/DC/a01.wav`` plus ``AudioVisualClip/DC/a1.avi`` (number not zero-padded);
- EMODB: ``wav/03a01Fa.wav`` (speaker, text, emotion letter, version letter);
- eNTERFACE'05: ``subject 1/anger/sentence 1/s1_an_1.avi``, with the faults of the distributed copy
  (see :func:`enterface_jobs`).

The structure (which combinations exist) does not depend on the seed: like the real corpus it is
fixed, and the seed changes only how each utterance sounds and looks. The scale keeps at least
``spec.min_speakers`` speakers and at least two utterances per (speaker, emotion).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from emokit_plugins.corpora.labels import LABEL_MAPS

from .specs import CorpusSpec
from .texts import EMODB_SENTENCES, ENTERFACE_SENTENCES, savee_script


@dataclass(frozen=True)
class Job:
    """One utterance to generate.

    Attributes:
        uid: unique key within the corpus; seeds the utterance's randomness.
        speaker: speaker id as the corpus names it.
        code: the corpus's emotion code.
        label: the harmonised label.
        sentence: sentence id.
        text: what is said (without final punctuation).
        wav: relative path of the WAV file to write, if the corpus has one for this utterance.
        video: relative path of the video (with audio track) to write, if any.
    """

    uid: str
    speaker: str
    code: str
    label: str
    sentence: str
    text: str
    wav: str | None = None
    video: str | None = None

    @property
    def outputs(self) -> tuple[str, ...]:
        """The relative paths this job writes."""
        return tuple(p for p in (self.wav, self.video) if p is not None)


def scaled(count: int, scale: float) -> int:
    """``count`` scaled down, never below 2 (speaker-independent splits need two per class)."""
    return max(2, min(count, round(count * scale)))


def n_speakers(spec: CorpusSpec, scale: float) -> int:
    """How many speakers a corpus keeps at ``scale``."""
    return max(spec.min_speakers, min(len(spec.speakers), round(len(spec.speakers) * scale)))


# -- SAVEE -----------------------------------------------------------------------------------
def savee_jobs(spec: CorpusSpec, scale: float) -> list[Job]:
    """SAVEE: every speaker reads 15 sentences per emotion and 30 neutral ones (fewer at a scale)."""
    script = savee_script()
    jobs = []
    for speaker in spec.speakers[: n_speakers(spec, scale)]:
        for code, label in spec.emotions:
            sentences = script[code]
            for n in range(1, scaled(len(sentences), scale) + 1):
                jobs.append(
                    Job(
                        uid=f"{speaker.id}_{code}{n:02d}",
                        speaker=speaker.id,
                        code=code,
                        label=label,
                        sentence=f"{code}{n:02d}",
                        text=sentences[n - 1],
                        wav=f"AudioData/{speaker.id}/{code}{n:02d}.wav",
                        video=f"AudioVisualClip/{speaker.id}/{code}{n}.avi",
                    )
                )
    return jobs


# -- EMODB -----------------------------------------------------------------------------------
#: Utterances per emotion letter in EMODB (535 in all).
EMODB_COUNTS: dict[str, int] = {"W": 127, "L": 81, "E": 46, "A": 69, "F": 71, "T": 62, "N": 79}
_EMODB_STRUCTURE_SEED = 1999  # fixed: the structure is the corpus's, not the run's


def _emodb_takes(spec: CorpusSpec) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(speaker, emotion letter) -> kept (text id, version letter) takes, in recording order.

    Not every speaker recorded every sentence in every emotion with a usable result: each
    emotion's total (:data:`EMODB_COUNTS`) is spread unevenly over the speakers (at least two each),
    each speaker's share over random sentences, and shares above ten sentences keep a second
    version. A first version is sometimes ``b`` (the ``a`` take was discarded).
    """
    rng = np.random.default_rng(_EMODB_STRUCTURE_SEED)
    texts = list(EMODB_SENTENCES)
    speakers = [s.id for s in spec.speakers]
    takes: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for code, _label in spec.emotions:
        total = EMODB_COUNTS[code]
        weights = rng.dirichlet(np.full(len(speakers), 6.0))
        counts = np.full(len(speakers), 2)
        extra = rng.multinomial(total - counts.sum(), weights)
        counts = np.minimum(counts + extra, 2 * len(texts))
        # whatever the cap cut off goes to the speakers with the most room, one by one
        while counts.sum() < total:
            counts[int(np.argmin(counts))] += 1
        for speaker, count in zip(speakers, counts, strict=True):
            order = rng.permutation(len(texts))
            first_b = rng.random(len(texts)) < 0.15
            kept = []
            for i in range(int(count)):
                text = texts[order[i % len(texts)]]
                version = i // len(texts) + (1 if first_b[order[i % len(texts)]] else 0)
                kept.append((text, "abcdef"[version]))
            takes[(speaker, code)] = sorted(kept)
    return takes


def _emodb_speaker_order(spec: CorpusSpec) -> list[str]:
    """Speakers alternating male and female (ids ascending), so any prefix is gender-balanced."""
    males = [s.id for s in spec.speakers if s.gender == "m"]
    females = [s.id for s in spec.speakers if s.gender == "f"]
    order = []
    for i in range(max(len(males), len(females))):
        order += males[i : i + 1] + females[i : i + 1]
    return order


def emodb_jobs(spec: CorpusSpec, scale: float) -> list[Job]:
    """EMODB: about 535 utterances of ten sentences by ten speakers (fewer at a scale)."""
    takes = _emodb_takes(spec)
    keep = set(_emodb_speaker_order(spec)[: n_speakers(spec, scale)])
    jobs = []
    for speaker in spec.speakers:
        if speaker.id not in keep:
            continue
        for code, label in spec.emotions:
            kept = takes[(speaker.id, code)]
            for text_id, version in kept[: scaled(len(kept), scale)]:
                stem = f"{speaker.id}{text_id}{code}{version}"
                jobs.append(
                    Job(
                        uid=stem,
                        speaker=speaker.id,
                        code=code,
                        label=label,
                        sentence=text_id,
                        text=EMODB_SENTENCES[text_id],
                        wav=f"wav/{stem}.wav",
                    )
                )
    return jobs


# -- eNTERFACE'05 ----------------------------------------------------------------------------
#: emotion code -> folder name (the distributed copy names its folders by the common label)
ENTERFACE_FOLDERS: dict[str, str] = dict(LABEL_MAPS["enterface"].codes)
#: Subjects involved in the distributed copy's faults, kept at every scale (12 because subject
#: 11's files carry its name).
ENTERFACE_FAULT_SUBJECTS = (3, 6, 11, 12, 16)
#: Subject 6 is incomplete: these emotion folders are missing.
ENTERFACE_SUBJECT6_MISSING = ("sa", "su")
#: Subject 3's files in these emotions have the ``s_3_`` prefix.
ENTERFACE_S_3_CODES = ("an", "fe")
#: Sentences kept first when the scale drops some (3 early, so ``s16_su_3avi`` always exists).
_ENTERFACE_SENTENCE_ORDER = (1, 3, 2, 4, 5)


def enterface_file_name(subject: int, code: str, sentence: int) -> str:
    """The clip's file name as the distributed copy spells it, faults included."""
    if subject == 16 and code == "su" and sentence == 3:
        return "s16_su_3avi"  # the missing dot
    if subject == 3 and code in ENTERFACE_S_3_CODES:
        return f"s_3_{code}_{sentence}.avi"
    named = 12 if subject == 11 else subject  # subject 11's files are named s12*
    return f"s{named}_{code}_{sentence}.avi"


def enterface_jobs(spec: CorpusSpec, scale: float) -> list[Job]:
    """eNTERFACE'05: 42 subjects x 6 emotions x 5 sentences, one video with audio per utterance.

    The distributed copy's faults are reproduced (the real loader reports and tolerates them):
    subject 11's files are named ``s12_*``, one file is ``s16_su_3avi``, subject 3's anger and fear
    files start ``s_3_``, and subject 6 lacks its sadness and surprise folders.
    """
    all_ids = [int(s.id) for s in spec.speakers]
    ordered = [*ENTERFACE_FAULT_SUBJECTS, *(n for n in all_ids if n not in ENTERFACE_FAULT_SUBJECTS)]
    subjects = sorted(ordered[: n_speakers(spec, scale)])
    sentences = sorted(_ENTERFACE_SENTENCE_ORDER[: scaled(5, scale)])
    jobs = []
    for subject in subjects:
        for code, label in spec.emotions:
            if subject == 6 and code in ENTERFACE_SUBJECT6_MISSING:
                continue
            for k in sentences:
                folder = f"subject {subject}/{ENTERFACE_FOLDERS[code]}/sentence {k}"
                jobs.append(
                    Job(
                        uid=f"s{subject}_{code}_{k}",
                        speaker=str(subject),
                        code=code,
                        label=label,
                        sentence=f"{code}_{k}",
                        text=ENTERFACE_SENTENCES[code][k - 1],
                        video=f"{folder}/{enterface_file_name(subject, code, k)}",
                    )
                )
    return jobs


_PLANNERS = {"savee": savee_jobs, "emodb": emodb_jobs, "enterface": enterface_jobs}


def plan(spec: CorpusSpec, scale: float) -> list[Job]:
    """Every utterance of ``spec`` at ``scale``, in a stable order."""
    if not (isinstance(scale, float) and math.isfinite(scale) and 0.0 < scale <= 1.0):
        raise ValueError(f"scale must be a number in (0, 1], got {scale!r}")
    return _PLANNERS[spec.family](spec, scale)
