"""The building blocks of a run's grid: a corpus's feature rows, one fold's row masks, and what all
cells of one (experiment, fold, repeat) share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emokit.bench.config import Experiment
from emokit.data.corpus import Corpus
from emokit.data.folds import Fold
from emokit.data.labels import label_index
from emokit.data.splits import SpeakerSplit, validation_rows
from emokit.methods.normalisation import TARGET_DATA_USED
from emokit.methods.task import SplitData, TransferTask


@dataclass
class CorpusFeatures:
    """A corpus's usable utterances (one modality) and their feature rows, aligned."""

    corpus: Corpus
    X: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    ids: np.ndarray
    #: each row's sentence ("" where the corpus records none), for ``--split-by speaker+sentence``
    sentences: np.ndarray | None = None

    def subset(self, mask: np.ndarray, classes: list[str], part: str) -> SplitData:
        index = label_index(classes)
        return SplitData(
            corpus=self.corpus.name,
            X=self.X[mask],
            y=np.array([index[label] for label in self.labels[mask]], dtype=np.int64),
            speakers=self.speakers[mask],
            ids=self.ids[mask],
            part=part,
        )


@dataclass
class FoldRows:
    """Row masks of one target fold (over the target's feature rows with the shared classes)."""

    fold: Fold
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_masks(
    labels: np.ndarray, speakers: np.ndarray, keep: np.ndarray, split: SpeakerSplit, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / validation / test row masks of a speaker split (over the rows where ``keep``);
    validation rows are carved from the training speakers' utterances (20 % per class, seeded)
    when the split has no validation speakers."""
    train = keep & np.isin(speakers, list(split.train))
    test = keep & np.isin(speakers, list(split.test))
    if split.val:
        val = keep & np.isin(speakers, list(split.val))
    else:
        val = np.zeros(len(labels), dtype=bool)
        rows = np.flatnonzero(train)
        val[rows[validation_rows(labels[rows], seed=seed)]] = True
        train = train & ~val
    return train, val, test


def val_from(split: SpeakerSplit) -> str:
    """Where a split's validation rows come from, as the result file says it."""
    return "validation speakers" if split.val else "20% of the training speakers' utterances"


def target_fold_rows(
    labels: np.ndarray,
    speakers: np.ndarray,
    keep: np.ndarray,
    fold: Fold,
    seed: int,
    sentences: np.ndarray | None = None,
) -> FoldRows:
    """Train / validation / test masks of ``fold`` (see :func:`split_masks`). A fold with test
    sentences tests only those and trains and validates only on the others: the rows of test
    speakers with other sentences, and of other speakers with test sentences, are left out."""
    if not fold.test_sentences:
        return FoldRows(fold, *split_masks(labels, speakers, keep, fold.split, seed))
    assert sentences is not None, "a sentence split needs the rows' sentences"
    tested = np.isin(sentences, list(fold.test_sentences))
    train, val, _ = split_masks(labels, speakers, keep & ~tested, fold.split, seed)
    test = keep & tested & np.isin(speakers, list(fold.split.test))
    return FoldRows(fold, train, val, test)


@dataclass
class FoldPlan:
    """What every cell of one (experiment, fold, repeat) shares."""

    exp: Experiment
    fold: Fold
    repeat: int
    seed: int
    task: TransferTask  # all labelled rows, features as extracted
    train_masks: dict[str, np.ndarray]  # per budget label, over task.target.train
    val_masks: dict[str, np.ndarray]  # per budget label, over task.target.val
    splits_used: dict[str, Any]

    @property
    def test(self) -> SplitData:
        assert self.task.target.test is not None
        return self.task.target.test


def fold_description(fold: Fold) -> str:
    speakers = ", ".join(fold.test[:6]) + (" ..." if len(fold.test) > 6 else "")
    text = f"test speaker{'s' if len(fold.test) > 1 else ''} {speakers}"
    if fold.test_sentences:
        shown = ", ".join(fold.test_sentences[:6]) + (" ..." if len(fold.test_sentences) > 6 else "")
        text += f", test sentence{'s' if len(fold.test_sentences) > 1 else ''} {shown}"
    return text


def target_access(uses_labels: bool, train_mask: np.ndarray, val_mask: np.ndarray, scheme: str) -> str:
    """What of the target the cell's method could see, in words (recorded per cell)."""
    if not uses_labels:
        seen = "no target label; features of the target's training, validation and test rows"
    else:
        seen = (
            f"labels of {int(train_mask.sum())} budgeted training rows and {int(val_mask.sum())} "
            f"validation rows; features only of {int((~train_mask).sum())} other training rows "
            "and of the test rows"
        )
    return f"{seen}; normalisation ({scheme}): {TARGET_DATA_USED[scheme]}"


def rows_of(split: SplitData, mask: np.ndarray) -> SplitData:
    """The rows of ``split`` where ``mask`` holds, labels kept."""
    out = SplitData(
        split.corpus, split.X[mask], split.y[mask], split.speakers[mask], split.ids[mask], part=split.part
    )
    return out


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in values.items():
        if isinstance(value, tuple):
            value = list(value)
        elif not isinstance(value, (str, int, float, bool, list, dict, type(None))):
            value = str(value)
        out[name] = value
    return out
