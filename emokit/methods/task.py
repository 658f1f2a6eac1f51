"""What a transfer method receives: a :class:`TransferTask` of :class:`CorpusSplits` of :class:`SplitData`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class LabelsWithheldError(RuntimeError):
    """A method read labels the runner withholds from it (test labels, or every target label of a
    method that declares ``uses_target_labels = False``)."""


class SplitData:
    """Features and integer labels of one split of one corpus.

    Attributes:
        corpus: the corpus name.
        X: float32 array ``[n, d]``.
        y: int64 class indices into :attr:`TransferTask.classes`, ``[n]``. Reading ``y`` of a split
            whose labels are withheld (``labelled`` is False) raises :class:`LabelsWithheldError`.
        speakers: speaker of each row, ``[n]``.
        ids: utterance id of each row, ``[n]``.
        part: what the rows are (``"train"``, ``"val"``, ``"test"``, ``"unlabelled"``), for messages.
    """

    def __init__(
        self,
        corpus: str,
        X: np.ndarray,
        y: np.ndarray | None,
        speakers: np.ndarray,
        ids: np.ndarray,
        *,
        part: str = "",
        withheld_because: str | None = None,
    ) -> None:
        self.corpus = corpus
        self.X = X
        self._y = y
        self.speakers = speakers
        self.ids = ids
        self.part = part
        self._withheld_because = withheld_because if y is None else None

    @property
    def labelled(self) -> bool:
        """Whether :attr:`y` may be read."""
        return self._y is not None

    @property
    def y(self) -> np.ndarray:
        if self._y is None:
            what = f"{self.corpus} {self.part}".strip()
            raise LabelsWithheldError(
                f"the labels of {what} are withheld from the method"
                + (f": {self._withheld_because}" if self._withheld_because else "")
            )
        return self._y

    @y.setter
    def y(self, value: np.ndarray) -> None:
        self._y = value

    def without_labels(self, because: str) -> SplitData:
        """The same rows with their labels withheld (``because`` ends up in the error message)."""
        return SplitData(
            self.corpus, self.X, None, self.speakers, self.ids, part=self.part, withheld_because=because
        )

    def with_features(self, X: np.ndarray) -> SplitData:
        """The same rows and labels with other feature values (e.g. normalised)."""
        out = SplitData(self.corpus, X, self._y, self.speakers, self.ids, part=self.part)
        out._withheld_because = self._withheld_because
        return out

    def __len__(self) -> int:
        return len(self.X)

    def __repr__(self) -> str:
        state = "labelled" if self.labelled else "labels withheld"
        return f"SplitData({self.corpus!r}, {self.part or 'rows'}: {len(self)} x {self.X.shape[1:]}, {state})"


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
    is split by speaker into train, validation and test (one fold of the run's speaker folds).
    Every method is scored by the runner on ``target.test``, whose labels are withheld; model
    selection must use a validation split.

    What a method may see of the target: the labelled rows of ``target.train`` and ``target.val``
    (under a target budget, only the budgeted share of each class), the features of the remaining
    training rows without labels (:attr:`unlabelled_target`), and the features of ``target.test``
    without labels. A method that declares ``uses_target_labels = False`` gets every target split
    without labels. Features arrive normalised by the runner (:attr:`normalisation`), unless the
    method declares ``raw_features = True``.

    Attributes:
        classes: the shared harmonised labels, in canonical order; ``y`` indexes into it.
        sources: one :class:`CorpusSplits` per source corpus (``test`` is ``None``).
        target: the target corpus's splits.
        modality: ``"audio"``, ``"visual"`` or ``"audiovisual"``.
        seed: the seed of this cell (the repeat's initialisation seed); methods seed every random
            generator from it.
        options: the method's options, typed and with defaults filled in when the method declares
            them (:attr:`Method.options`); else the raw ``--option`` strings.
        progress: where :meth:`report_progress` goes (set by the bench runner; ``None`` elsewhere).
        feature_layout: the parts of a feature vector and their shapes, from the extractor's
            ``layout()`` (e.g. ``{"face": (1, 48, 48), "logmel": (1, 64, 128)}``), or ``None``.
        unlabelled_target: target training rows outside the budget (features only), or ``None``.
        normalisation: how the features were normalised (``corpus``, ``speaker``, ``source`` or
            ``none``).
        fold, repeat, budget: which cell of the run this is (test fold, repeat, target budget label).
        validation: what :meth:`report_validation` recorded.
        curves: what :meth:`report_curve` recorded (the result file's ``curves`` of the cell).
        device: the torch device the method trains and predicts on (``"cpu"``, ``"cuda"``,
            ``"cuda:1"``), chosen by ``emokit bench --device``; the runner has checked that it
            exists. Move models and tensors there (``torch.device(task.device)``); the arrays in
            the splits stay NumPy on the host.
    """

    classes: list[str]
    sources: list[CorpusSplits]
    target: CorpusSplits
    modality: str
    seed: int
    options: dict[str, Any] = field(default_factory=dict)
    progress: ProgressFn | None = field(default=None, repr=False, compare=False)
    feature_layout: dict[str, tuple[int, ...]] | None = None
    unlabelled_target: SplitData | None = None
    normalisation: str = "none"
    fold: int = 0
    repeat: int = 0
    budget: str = "100%"
    validation: dict[str, Any] | None = field(default=None, compare=False)
    device: str = "cpu"
    curves: list[dict[str, Any]] = field(default_factory=list, compare=False)

    def report_progress(self, stage: str, done: int, total: int | None = None, **figures: Any) -> None:
        """Tell the live view how a long step is going, e.g.
        ``task.report_progress("evolve sim-savee", generation, generations, best=0.61)``.

        ``emokit bench`` shows ``stage``, a bar for ``done`` of ``total`` and the figures (numbers
        or short strings) on one line while the cell runs; without a view it does nothing.
        """
        if self.progress is not None:
            self.progress(stage, done, total, figures)

    def report_validation(self, uar: float, on: str = "target validation", **extra: Any) -> None:
        """Record the validation score the method selected its model on (UAR, 0..1).

        ``on`` says which rows (``"target validation"``, ``"source validation"``, ...). The result
        file keeps it per cell and ``emokit bench --show-val`` prints it beside test UAR. A method
        that selects several times (one per stage) reports the score of the model it predicts with.
        """
        self.validation = {"uar": float(uar), "on": on, **extra}

    def report_curve(self, name: str, x: str = "epoch", **series: Sequence[float | None]) -> None:
        """Record a training curve of this cell, e.g. the validation UAR by epoch of one stage:
        ``task.report_curve("target", x="epoch", val_uar=[...], train_loss=[...])``.

        ``name`` says what was trained (a stage, a corpus: ``"source"``, ``"target"``,
        ``"sim-savee"``); ``x`` what the points count (``"epoch"``, ``"generation"``); each series
        is one value per point (``None`` where there is none). The result file keeps the curves per
        cell and ``emokit plot`` draws them (``val_uar`` as "validation UAR by <x>"). Reporting a
        name again replaces that curve.
        """
        if not name or not isinstance(name, str):
            raise ValueError(f"report_curve: name must be a non-empty string, got {name!r}")
        if not series:
            raise ValueError(f"report_curve({name!r}): give at least one series, e.g. val_uar=[...]")
        lengths = {key: len(values) for key, values in series.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"report_curve({name!r}): the series differ in length ({lengths})")
        curve = {
            "name": name,
            "x": x,
            "series": {
                key: [None if v is None else round(float(v), 6) for v in values]
                for key, values in series.items()
            },
        }
        self.curves = [c for c in self.curves if c["name"] != name] + [curve]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def within_corpus(self) -> bool:
        """True when the source is the target itself (its train/val speakers)."""
        return len(self.sources) == 1 and self.sources[0].train.corpus == self.target.train.corpus


def stack_splits(parts: Sequence[SplitData]) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``parts`` pooled in the order given, as ``(X, y)`` (labels must be readable)."""
    if not parts:
        raise ValueError("stack_splits: no splits to pool")
    return np.concatenate([p.X for p in parts]), np.concatenate([p.y for p in parts])


def source_views(task: TransferTask) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sources' training ``X, y`` and validation ``X, y``, pooled in the order of ``task.sources``:
    how the built-in baselines see several sources as one (the features are already normalised by the
    run's scheme, per corpus by default)."""
    Xtr, ytr = stack_splits([s.train for s in task.sources])
    Xva, yva = stack_splits([s.val for s in task.sources])
    return Xtr, ytr, Xva, yva
