"""The default suite: the PathNet emotion papers' experiments (Nguyen et al.) on the simulated corpora.

Visual SAVEE <-> eNTERFACE, audio single-source between every pair of the three audio corpora, and
audio multi-source (two corpora in sequence) into the third. The protocol is cut to fit a 2-core CPU
in minutes: a scarce target budget beside the full one, 4 speaker folds (leave-one-speaker-out on
SAVEE's 4 speakers) and one repeat. PathNet leads the methods, then the baselines it is compared with.
"""

from __future__ import annotations

from emokit.api import DEFAULT_SUITE, Experiment, Suite

_PAIRS: list[tuple[tuple[str, ...], str, str]] = [
    (("sim-savee",), "sim-enterface", "visual"),
    (("sim-enterface",), "sim-savee", "visual"),
    (("sim-savee",), "sim-enterface", "audio"),
    (("sim-enterface",), "sim-savee", "audio"),
    (("sim-savee",), "sim-emodb", "audio"),
    (("sim-emodb",), "sim-savee", "audio"),
    (("sim-emodb",), "sim-enterface", "audio"),
    (("sim-enterface",), "sim-emodb", "audio"),
    (("sim-savee", "sim-emodb"), "sim-enterface", "audio"),
    (("sim-savee", "sim-enterface"), "sim-emodb", "audio"),
    (("sim-emodb", "sim-enterface"), "sim-savee", "audio"),
]

DEFAULT = Suite(
    name=DEFAULT_SUITE,
    description="PathNet papers' experiments on the simulated corpora: visual SAVEE<->eNTERFACE, audio "
    "single- and two-source transfers between SAVEE, EMODB and eNTERFACE",
    experiments=tuple(Experiment(sources, target, modality) for sources, target, modality in _PAIRS),
    methods=("pathnet", "source-only", "target-only", "finetune", "svm"),
    features={"audio": "egemaps", "visual": "face", "audiovisual": "face-logmel"},
    reference="target-only",
    folds="4",
    budgets="0.1,1",
    repeats=1,
)
