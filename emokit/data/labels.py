"""Label harmonisation: every corpus's own emotion codes map onto one common vocabulary.

Each corpus's codes are a :class:`LabelMap` that its dataset provider carries; this module holds the
vocabulary (:data:`COMMON_LABELS`) and the rules, no corpus's codes.

A cross-corpus run trains and tests only on the classes both sides share
(:func:`shared_labels`), and the report states which ones those are.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

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

#: every LabelMap made so far, by corpus: what the deprecated ``harmonise("emodb", code)`` looks up
_MADE: dict[str, LabelMap] = {}


class UnknownLabelError(ValueError):
    """A corpus code that has no harmonised label."""


@dataclass(frozen=True)
class LabelMap:
    """A corpus's own emotion codes mapped onto :data:`COMMON_LABELS`.

    Each dataset provider carries its own (:attr:`DatasetProvider.label_map`); every label it maps
    to is checked against the common vocabulary when the map is made.

    Attributes:
        corpus: the corpus (family) the codes belong to, for messages (``"savee"``).
        codes: ``{code: common label}``, e.g. ``{"a": "anger", "sa": "sadness"}``.
    """

    corpus: str
    codes: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "codes", dict(self.codes))
        outside = sorted({label for label in self.codes.values() if label not in COMMON_LABELS})
        if outside:
            raise UnknownLabelError(
                f"{self.corpus}: label map maps to {', '.join(map(repr, outside))}, outside the common "
                f"vocabulary {', '.join(COMMON_LABELS)}"
            )
        _MADE[self.corpus] = self

    def harmonise(self, code: str) -> str:
        """The common label of ``code``; :class:`UnknownLabelError` lists the valid codes."""
        try:
            return self.codes[code]
        except KeyError:
            raise UnknownLabelError(
                f"{self.corpus}: unknown emotion code {code!r}; expected one of {', '.join(self.codes)}"
            ) from None

    def get(self, code: str) -> str | None:
        """The common label of ``code``, or ``None`` when the corpus has no such code."""
        return self.codes.get(code)

    @property
    def labels(self) -> list[str]:
        """The common labels this corpus has, in canonical order."""
        return check_labels(self.codes.values())


def harmonise(label_map: LabelMap | Mapping[str, str], code: str) -> str:
    """Map ``code`` to a common label with a corpus's ``label_map``.

    A corpus name (``harmonise("emodb", "W")``, the older form) still works, with a
    :class:`DeprecationWarning`, for corpora whose provider's plugin has been loaded.

    Raises:
        UnknownLabelError: the code is not one the map has; the message lists the valid codes.
        TypeError: ``label_map`` names a corpus no loaded plugin has a label map for.
    """
    if isinstance(label_map, str):
        warnings.warn(
            f"harmonise({label_map!r}, code): pass the corpus's LabelMap (its provider's label_map) "
            "instead of its name",
            DeprecationWarning,
            stacklevel=2,
        )
        if label_map not in _MADE:
            raise TypeError(
                f"harmonise({label_map!r}, ...): no label map for corpus {label_map!r} is loaded "
                f"(known: {', '.join(sorted(_MADE)) or 'none'}); pass the corpus's LabelMap"
            )
        label_map = _MADE[label_map]
    if not isinstance(label_map, LabelMap):
        label_map = LabelMap("corpus", label_map)
    return label_map.harmonise(code)


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


def __getattr__(name: str):
    if name == "CORPUS_LABEL_MAPS":  # the older table of every corpus's codes, now the providers'
        warnings.warn(
            "emokit.data.labels.CORPUS_LABEL_MAPS is deprecated: use a dataset provider's label_map",
            DeprecationWarning,
            stacklevel=2,
        )
        return {corpus: dict(m.codes) for corpus, m in _MADE.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
