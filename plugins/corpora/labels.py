"""The real corpora's own emotion codes, mapped onto emokit's common vocabulary."""

from __future__ import annotations

from emokit.api import LabelMap

_CODES: dict[str, dict[str, str]] = {
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

#: each corpus family's label map (``"savee"``, ``"emodb"``, ``"enterface"``, ``"ravdess"``, ``"cremad"``)
LABEL_MAPS: dict[str, LabelMap] = {family: LabelMap(family, codes) for family, codes in _CODES.items()}
