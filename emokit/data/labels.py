"""Label harmonisation: every corpus's own emotion codes map onto one common vocabulary.

A cross-corpus run trains and tests only on the classes both sides share
(:func:`shared_labels`), and the report states which ones those are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

COMMON_LABELS: tuple[str, ...] = (
    "anger",
    "boredom",
    "calm",
    "disgust",
    "fear",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
)

#: Each known corpus's own codes, mapped to :data:`COMMON_LABELS`.
CORPUS_LABEL_MAPS: dict[str, dict[str, str]] = {
    "emodb": {
        "W": "anger",
        "L": "boredom",
        "E": "disgust",
        "A": "fear",
        "F": "happiness",
        "T": "sadness",
        "N": "neutral",
    },
    "savee": {
        "a": "anger",
        "d": "disgust",
        "f": "fear",
        "h": "happiness",
        "n": "neutral",
        "sa": "sadness",
        "su": "surprise",
    },
    "enterface": {
        "an": "anger",
        "di": "disgust",
        "fe": "fear",
        "ha": "happiness",
        "sa": "sadness",
        "su": "surprise",
    },
    "ravdess": {
        "01": "neutral",
        "02": "calm",
        "03": "happiness",
        "04": "sadness",
        "05": "anger",
        "06": "fear",
        "07": "disgust",
        "08": "surprise",
    },
    "cremad": {
        "ANG": "anger",
        "DIS": "disgust",
        "FEA": "fear",
        "HAP": "happiness",
        "NEU": "neutral",
        "SAD": "sadness",
    },
}


class UnknownLabelError(ValueError):
    """A corpus code that has no harmonised label."""


def harmonise(corpus: str, code: str) -> str:
    """Map ``code`` of corpus family ``corpus`` (``"savee"``, ``"emodb"``, ...) to a common label.

    Raises:
        UnknownLabelError: the code is not one the corpus uses; the message lists valid codes.
    """
    try:
        mapping = CORPUS_LABEL_MAPS[corpus]
    except KeyError:
        raise UnknownLabelError(
            f"no label map for corpus {corpus!r}; known: {', '.join(sorted(CORPUS_LABEL_MAPS))}"
        ) from None
    try:
        return mapping[code]
    except KeyError:
        raise UnknownLabelError(
            f"{corpus}: unknown emotion code {code!r}; expected one of {', '.join(mapping)}"
        ) from None


def check_labels(labels: Iterable[str]) -> list[str]:
    """Validate that every label is in :data:`COMMON_LABELS`; return them in canonical order."""
    given = set(labels)
    unknown = given - set(COMMON_LABELS)
    if unknown:
        raise UnknownLabelError(
            f"labels {sorted(unknown)} are not in the common vocabulary {list(COMMON_LABELS)}"
        )
    return [label for label in COMMON_LABELS if label in given]


def shared_labels(*label_sets: Iterable[str]) -> list[str]:
    """The labels present in every one of ``label_sets``, in canonical order."""
    sets = [set(s) for s in label_sets]
    if not sets:
        return []
    common = set.intersection(*sets)
    return check_labels(common)


def label_index(labels: list[str]) -> Mapping[str, int]:
    """Label -> class index, for a list of labels in canonical order."""
    return {label: i for i, label in enumerate(labels)}
