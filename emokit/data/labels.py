"""Label harmonisation: every corpus's own emotion codes map onto one common vocabulary.

Each corpus's codes are a :class:`LabelMap` that its dataset provider carries; this module holds the
vocabulary (:data:`COMMON_LABELS`) and the rules, no corpus's codes.

A cross-corpus run trains and tests only on the classes both sides share
(:func:`shared_labels`), and the report states which ones those are.

A label map can also come from a file (:func:`read_label_map`: a JSON object or a two-column CSV
of ``code,label``), with common spellings of the labels accepted (``Angry``, ``happy``, ``Sad``...);
:func:`relabel` re-harmonises a loaded corpus with such a map.
"""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from emokit.data.corpus import Corpus, LoadProblem

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


#: other spellings of the common labels that label-map files may use (compared lower-cased)
LABEL_SYNONYMS: dict[str, str] = {
    "angry": "anger",
    "happy": "happiness",
    "joy": "happiness",
    "sad": "sadness",
    "fearful": "fear",
    "afraid": "fear",
    "surprised": "surprise",
    "disgusted": "disgust",
    "bored": "boredom",
    "neu": "neutral",
}

#: what the first row of a label-map CSV says when it is a header rather than a code
_HEADER_WORDS = frozenset({"code", "codes", "emotion", "emo", "label", "labels", "name", "class", "category"})

_FORMATS = 'a JSON object {"code": "label", ...} or a two-column CSV/TSV of code,label'


class UnknownLabelError(ValueError):
    """A corpus code that has no harmonised label."""


class LabelMapError(UnknownLabelError):
    """A label-map file that cannot be used; the message names the file (and line) and what was expected."""


@dataclass(frozen=True)
class LabelMap:
    """A corpus's own emotion codes mapped onto :data:`COMMON_LABELS`.

    Each dataset provider carries its own (:attr:`DatasetProvider.label_map`); every label it maps
    to is checked against the common vocabulary when the map is made.

    Attributes:
        corpus: the corpus (family) the codes belong to, for messages (``"savee"``).
        codes: ``{code: common label}``, e.g. ``{"a": "anger", "sa": "sadness"}``.
        source: where the map came from: ``None`` for a provider's built-in map, the file's path
            for a map read by :func:`read_label_map`.
    """

    corpus: str
    codes: Mapping[str, str]
    source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "codes", dict(self.codes))
        outside = sorted({label for label in self.codes.values() if label not in COMMON_LABELS})
        if outside:
            raise UnknownLabelError(
                f"{self.corpus}: label map maps to {', '.join(map(repr, outside))}, outside the common "
                f"vocabulary {', '.join(COMMON_LABELS)}"
            )
        if self.source is None:  # a file's map must not replace the corpus's own for harmonise("name", ...)
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

    def describe(self) -> str:
        """Where the map came from, for messages: its file, or ``"the label map of CORPUS"``."""
        return f"label map {self.source}" if self.source else f"the label map of {self.corpus}"

    def to_dict(self) -> dict[str, Any]:
        """``{"corpus", "codes", "source"}``, as result files record it (JSON-ready)."""
        return {"corpus": self.corpus, "codes": dict(self.codes), "source": self.source}


def common_label(text: str) -> str | None:
    """The common label ``text`` spells (case-insensitive, :data:`LABEL_SYNONYMS` accepted), or ``None``."""
    word = text.strip().lower()
    word = LABEL_SYNONYMS.get(word, word)
    return word if word in COMMON_LABELS else None


def read_label_map(path: str | Path, *, corpus: str | None = None) -> LabelMap:
    """Read a label map from a file: a JSON object ``{"code": "label"}`` or a CSV/TSV of two columns
    ``code,label`` (a header row optional; ``#`` lines and blank lines ignored).

    Labels are matched case-insensitively and :data:`LABEL_SYNONYMS` are accepted, so files that
    spell them ``"Angry"``, ``"Happy"``, ``"Sad"`` work as they are.

    Args:
        path: the file; ``.json`` is read as JSON, ``.csv``/``.tsv``/``.txt`` as CSV, and any other
            name as JSON when its text starts with ``{`` or ``[``, else as CSV.
        corpus: the corpus the codes belong to, for messages (default: the file's stem).

    Returns:
        a :class:`LabelMap` whose :attr:`~LabelMap.source` is the file's absolute path.

    Raises:
        LabelMapError: the file is missing, empty or malformed, or maps a code to a label outside
            :data:`COMMON_LABELS`; the message names the file (and line) and what was expected.
    """
    file = Path(path).expanduser()
    name = corpus or file.stem
    try:
        text = file.read_text(encoding="utf-8-sig")  # -sig: spreadsheet programs write a BOM
    except FileNotFoundError:
        raise LabelMapError(f"{file}: no such file (expected a label map: {_FORMATS})") from None
    except IsADirectoryError:
        raise LabelMapError(f"{file}: is a folder (expected a label map: {_FORMATS})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelMapError(f"{file}: cannot read the label map ({exc})") from None
    if not text.strip():
        raise LabelMapError(f"{file}: empty label map (expected {_FORMATS})")
    suffix = file.suffix.lower()
    as_json = suffix == ".json" or (suffix not in (".csv", ".tsv", ".txt") and text.lstrip()[0] in "{[")
    pairs = _json_pairs(file, text) if as_json else _csv_pairs(file, text, tab=suffix == ".tsv")
    codes: dict[str, str] = {}
    for code, label, where in pairs:
        codes[code] = _checked_label(file, where, code, label, codes)
    if not codes:
        raise LabelMapError(f"{file}: the label map has no codes (expected {_FORMATS})")
    return LabelMap(name, codes, source=str(file.resolve()))


def _json_pairs(file: Path, text: str) -> list[tuple[str, Any, str]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LabelMapError(f"{file}: not valid JSON ({exc}); expected {_FORMATS}") from None
    if not isinstance(data, dict):
        expected = 'a JSON object {"code": "label", ...}'
        raise LabelMapError(f"{file}: expected {expected}, got a JSON {_kind(data)}")
    return [(str(code), label, f"code {code!r}") for code, label in data.items()]


def _csv_pairs(file: Path, text: str, *, tab: bool) -> list[tuple[str, Any, str]]:
    lines = text.splitlines()
    if not tab:  # a .csv or .txt with tabs and no commas is a TSV
        tab = any("\t" in line for line in lines) and not any("," in line for line in lines)
    pairs: list[tuple[str, Any, str]] = []
    for number, row in enumerate(csv.reader(lines, delimiter="\t" if tab else ","), 1):
        fields = [f.strip() for f in row]
        while fields and not fields[-1]:  # "a,anger," (a trailing separator) is still two fields
            fields.pop()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 2 or not fields[0]:
            raise LabelMapError(
                f"{file}: line {number}: expected two fields, code and label, got {len(fields)} "
                f"({', '.join(map(repr, fields))})"
            )
        if not pairs and _is_header(fields):
            continue
        pairs.append((fields[0], fields[1], f"line {number}: code {fields[0]!r}"))
    return pairs


def _is_header(fields: list[str]) -> bool:
    return common_label(fields[1]) is None and (
        fields[0].lower() in _HEADER_WORDS or fields[1].lower() in _HEADER_WORDS
    )


def _checked_label(file: Path, where: str, code: str, label: Any, codes: Mapping[str, str]) -> str:
    if not isinstance(label, str):
        raise LabelMapError(f"{file}: {where}: expected a label (a string), got {_kind(label)} {label!r}")
    common = common_label(label)
    if common is None:
        synonyms = ", ".join(f"{k}->{v}" for k, v in LABEL_SYNONYMS.items())
        raise LabelMapError(
            f"{file}: {where}: label {label!r} is not in the common vocabulary "
            f"({', '.join(COMMON_LABELS)}; also accepted, in any case: {synonyms})"
        )
    if code in codes and codes[code] != common:
        raise LabelMapError(f"{file}: {where}: mapped twice, to {codes[code]!r} and to {common!r}")
    return common


def _kind(value: Any) -> str:
    return {list: "array", dict: "object", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, (int, float)) else type(value).__name__
    )


def relabel(corpus: Corpus, label_map: LabelMap) -> Corpus:
    """``corpus`` with each utterance's own code (:attr:`Utterance.emotion`) harmonised by ``label_map``.

    Utterances whose code the map lacks are left out and reported in the returned corpus's
    ``problems`` (skipped), each naming the map's file, the code and the codes the map has.
    """
    kept, problems = [], []
    for utterance in corpus.utterances:
        label = label_map.get(utterance.emotion)
        if label is not None:
            kept.append(replace(utterance, label=label))
            continue
        path = utterance.audio_path or utterance.video_path or corpus.root
        problems.append(
            LoadProblem(
                path=Path(path),
                reason=f"emotion code {utterance.emotion!r} of utterance {utterance.id} is not in the "
                f"{label_map.describe()} (it has {', '.join(map(repr, label_map.codes))})",
                skipped=True,
            )
        )
    return replace(corpus, utterances=kept, problems=[*corpus.problems, *problems])


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
