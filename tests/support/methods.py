"""The built-in methods and the tiny tasks the method tests run them on (built with emokit.testing)."""

from __future__ import annotations

from emokit.api import TransferTask
from emokit.testing import make_task

BUILT_IN = ("source-only", "target-only", "finetune", "svm", "cascade", "pooled", "pathnet", "fdan")

#: small enough that each method runs in a second or two; every method also gets the other
#: methods' keys, which it must ignore
FAST = {
    "epochs": "3",
    "hidden": "16",
    "pathnet.generations": "2",
    "pathnet.population": "4",
    "pathnet.steps": "2",
    "pathnet.width": "8",
    "fdan.backbone": "small",
    "fdan.epochs": "1",
    "fdan.batch": "16",
}

#: the parts of an audio-visual vector FDAN reads (a face crop and a log-mel patch)
FDAN_LAYOUT = {"face": (1, 16, 16), "logmel": (1, 16, 32)}


def labelled_task(name: str, options: dict | None = None) -> TransferTask:
    """A tiny task for built-in method ``name`` with every label readable and :data:`FAST` options
    (fdan: audio-visual, with a face + log-mel layout)."""
    if name == "fdan":
        return make_task(modality="audiovisual", layout=FDAN_LAYOUT, options={**FAST, **(options or {})})
    return make_task(options={**FAST, **(options or {})})
