"""What a transfer method receives (:class:`TransferTask`) and the method interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class SplitData:
    """Features and integer labels of one split of one corpus.

    Attributes:
        corpus: the corpus name.
        X: float32 array ``[n, d]``.
        y: int64 class indices into :attr:`TransferTask.classes`, ``[n]``.
        speakers: speaker of each row, ``[n]``.
        ids: utterance id of each row, ``[n]``.
    """

    corpus: str
    X: np.ndarray
    y: np.ndarray
    speakers: np.ndarray
    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class CorpusSplits:
    """Speaker-independent train / validation / test splits of one corpus."""

    train: SplitData
    val: SplitData
    test: SplitData | None = None


#: receives (what is going on, steps done, steps at most or None, named figures to show)
ProgressFn = Callable[[str, int, "int | None", dict[str, Any]], None]


@dataclass
class TransferTask:
    """One cross-corpus experiment cell, as a method sees it.

    Sources come in the order the user gave them (multi-source methods may use it as a
    sequence). Source corpora are split by speaker into train and validation parts; the target
    is split by speaker into train, validation and test. Every method is scored on
    ``target.test``; model selection must use a validation split, never ``target.test``.

    Attributes:
        classes: the shared harmonised labels, in canonical order; ``y`` indexes into it.
        sources: one :class:`CorpusSplits` per source corpus (``test`` is ``None``).
        target: the target corpus's splits.
        modality: ``"audio"`` or ``"visual"``.
        seed: the seed of this cell; methods seed every random generator from it.
        options: free-form method options from the command line (``--option key=value``).
        progress: where :meth:`report_progress` goes (set by the bench runner; ``None`` elsewhere).
        feature_layout: the parts of a feature vector and their shapes, from the extractor's
            ``layout()`` (e.g. ``{"face": (1, 48, 48), "logmel": (1, 64, 128)}``), or ``None``.
    """

    classes: list[str]
    sources: list[CorpusSplits]
    target: CorpusSplits
    modality: str
    seed: int
    options: dict[str, Any] = field(default_factory=dict)
    progress: ProgressFn | None = field(default=None, repr=False, compare=False)
    feature_layout: dict[str, tuple[int, ...]] | None = None

    def report_progress(self, stage: str, done: int, total: int | None = None, **figures: Any) -> None:
        """Tell the live view how a long step is going, e.g.
        ``task.report_progress("evolve sim-savee", generation, generations, best=0.61)``.

        ``emokit bench`` shows ``stage``, a bar for ``done`` of ``total`` and the figures (numbers
        or short strings) on one line while the cell runs; without a view it does nothing.
        """
        if self.progress is not None:
            self.progress(stage, done, total, figures)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def within_corpus(self) -> bool:
        """True when the source is the target itself (its train/val speakers)."""
        return len(self.sources) == 1 and self.sources[0].train.corpus == self.target.train.corpus


class Method(ABC):
    """A transfer method: trains on a :class:`TransferTask` and predicts the target test split."""

    #: the name users type (``--method NAME``).
    name: str = ""
    #: one line shown by ``emokit list``.
    description: str = ""
    #: modalities the method supports (a method on plain feature vectors takes any of them).
    modalities: tuple[str, ...] = ("audio", "visual", "audiovisual")
    #: whether it uses labelled target training data (``False`` for source-only methods).
    uses_target_labels: bool = True
    #: methods ``emokit bench`` runs beside this one when it is named without them (the baselines a
    #: paper about this method would report); ``--no-baselines`` turns that off.
    compare_with: tuple[str, ...] = ()

    @abstractmethod
    def run(self, task: TransferTask) -> np.ndarray:
        """Train, then return predicted class indices for ``task.target.test`` (shape ``[n]``)."""

    def info(self) -> dict[str, Any]:
        """Extra facts about the last :meth:`run`, recorded in the result file's cell (e.g. the
        kernel backend used). A ``"note"`` string, if present, is also printed under the cell's
        line by ``emokit bench``."""
        return {}
