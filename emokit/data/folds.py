"""Speaker folds and target budgets: the evaluation grid of a cross-corpus run.

Folds (``--folds``) say which target speakers are tested in each cell:

- ``loso``: leave one speaker out; every speaker is the test speaker exactly once per repeat.
- ``K`` (an integer >= 2): speaker-grouped K-fold; each speaker is tested once per repeat, and the
  folds are balanced by utterance count (speakers, in a seeded random order, each join the fold
  with the fewest utterances so far).
- ``split``: one seeded random train / validation / test split of the speakers per repeat (about
  55 / 20 / 25 %), the protocol of earlier emokit versions.
- ``auto`` (default): ``loso`` where the target has at most 10 speakers, else 5-fold.

In every fold the validation speakers come from the remaining (non-test) speakers by
:func:`~emokit.data.splits.split_speakers`' rule: about 20 % of the corpus's speakers, unless that
would leave fewer than three training speakers, in which case validation rows are carved from the
training speakers' utterances (20 % per class) and the cell says so.

The fold assignment has its own seed (``--fold-seed``), separate from the initialisation seeds:
repeat ``r`` of a run draws its folds from ``(fold_seed, r)``, so changing ``--seeds`` changes the
initialisation only, and two runs with the same fold seed test the same speakers in the same cells.

Budgets (``--target-budget``, ``--target-shots``) say how many of the target's training utterances
carry labels: a share of each class (``0.1``), or N per class (``5`` shots). Budgets are nested:
each class's rows are drawn in one seeded order per (fold, repeat), and a budget takes the first
rows of that order, so every smaller budget is a subset of every larger one. The validation rows
are budgeted the same way (at least one per class), so a scarce-target cell does not select its
model on a fully labelled validation set.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emokit.data.splits import SpeakerSplit, SplitError

#: what ``--split-by`` takes: speakers only, or speakers and sentences (text-independent test rows)
SPLIT_BY = ("speaker", "speaker+sentence")
#: ``--split-by speaker+sentence`` tests each fold on one of this many sentence groups (fewer where
#: the corpus has fewer sentences): about a quarter of the sentences, rotating over the folds
SENTENCE_GROUPS = 4

#: targets with at most this many speakers get leave-one-speaker-out under ``--folds auto``
LOSO_MAX_SPEAKERS = 10
#: K of ``--folds auto`` for larger targets
AUTO_K = 5


class FoldError(ValueError):
    """Folds or budgets that a corpus cannot give; the message names the corpus and what would work."""


@dataclass(frozen=True)
class FoldScheme:
    """A parsed ``--folds`` value: ``kind`` is ``auto``, ``loso``, ``kfold`` or ``split``."""

    kind: str
    k: int | None = None

    @classmethod
    def parse(cls, value: str) -> FoldScheme:
        """``"loso"``, ``"split"``, ``"auto"`` or an integer K >= 2; else a ``ValueError``."""
        text = str(value).strip().lower()
        if text in ("loso", "split", "auto"):
            return cls(text)
        try:
            k = int(text)
        except ValueError:
            k = 0
        if k < 2:
            raise ValueError(f"--folds {value!r}: expected loso, split, auto or a number of folds >= 2")
        return cls("kfold", k)

    def resolve(self, speaker_count: int) -> FoldScheme:
        """The concrete scheme for a target with ``speaker_count`` speakers (``auto`` decided)."""
        if self.kind != "auto":
            return self
        return FoldScheme("loso") if speaker_count <= LOSO_MAX_SPEAKERS else FoldScheme("kfold", AUTO_K)

    @property
    def label(self) -> str:
        return {"loso": "leave-one-speaker-out", "split": "one random split", "auto": "auto"}.get(
            self.kind, f"{self.k}-fold"
        )

    def __str__(self) -> str:
        return str(self.k) if self.kind == "kfold" else self.kind


def derived_seed(*parts: int | str) -> int:
    """A 63-bit seed from integers and strings (stable across runs and machines)."""
    words = [
        p if isinstance(p, int) else int.from_bytes(str(p).encode()[:8].ljust(8, b"\0"), "little")
        for p in parts
    ]
    return int(np.random.SeedSequence(words).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class Fold:
    """One fold: its speakers, and whether validation rows come from training speakers' utterances.

    ``test_sentences`` (``--split-by speaker+sentence``): the sentences the fold tests; its test rows
    are the test speakers' utterances of those sentences, its training and validation rows the other
    speakers' utterances of the other sentences. Empty: the split is by speaker only.
    """

    index: int
    count: int
    split: SpeakerSplit
    test_sentences: tuple[str, ...] = ()

    @property
    def test(self) -> tuple[str, ...]:
        return self.split.test

    @property
    def val_from_training_rows(self) -> bool:
        return not self.split.val


def _train_val(
    remaining: list[str],
    n_all: int,
    rng: np.random.Generator,
    val_fraction: float = 0.2,
    min_train_speakers: int = 3,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Validation speakers from ``remaining`` by split_speakers' rule (see the module docstring)."""
    order = [remaining[i] for i in rng.permutation(len(remaining))]
    n_val = max(1, round(n_all * val_fraction))
    if len(order) - n_val < min_train_speakers:
        n_val = 0
    return tuple(sorted(order[n_val:])), tuple(sorted(order[:n_val]))


def speaker_folds(
    speakers: Sequence[str], scheme: FoldScheme, *, fold_seed: int, repeat: int, corpus: str = "corpus"
) -> list[Fold]:
    """The folds of one repeat for a corpus whose rows have these ``speakers`` (one entry per row).

    Raises:
        FoldError: fewer speakers than the scheme needs, naming the corpus, its speakers and what
            would work.
    """
    counts = Counter(str(s) for s in speakers)
    unique = sorted(counts)
    scheme = scheme.resolve(len(unique))
    rng = np.random.default_rng(derived_seed(fold_seed, repeat, corpus, "folds"))
    listed = ", ".join(unique[:12]) + (" ..." if len(unique) > 12 else "")
    if scheme.kind == "split":
        from emokit.data.splits import split_speakers

        try:
            split = split_speakers(
                unique, seed=derived_seed(fold_seed, repeat, corpus, "split"), corpus=corpus
            )
        except SplitError as exc:
            raise FoldError(f"{exc}; use --folds loso for a corpus this small") from None
        return [Fold(0, 1, split)]
    if len(unique) < 2:
        raise FoldError(
            f"{corpus}: speaker folds need at least 2 speakers, found {len(unique)} ({listed or 'none'})"
        )
    if scheme.kind == "loso":
        groups = [[s] for s in unique]
    else:
        assert scheme.k is not None
        if scheme.k > len(unique):
            raise FoldError(
                f"{corpus}: --folds {scheme.k} needs at least {scheme.k} speakers, but it has {len(unique)} "
                f"({listed}); use --folds loso or --folds 2..{len(unique)}"
            )
        groups = [[] for _ in range(scheme.k)]
        sizes = [0] * scheme.k
        for i in rng.permutation(len(unique)):
            speaker = unique[i]
            lightest = min(range(scheme.k), key=lambda f: (sizes[f], len(groups[f]), f))
            groups[lightest].append(speaker)
            sizes[lightest] += counts[speaker]
    folds = []
    for index, group in enumerate(groups):
        remaining = [s for s in unique if s not in group]
        train, val = _train_val(remaining, len(unique), rng)
        folds.append(Fold(index, len(groups), SpeakerSplit(train=train, val=val, test=tuple(sorted(group)))))
    return folds


# -- budgets -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    """A target budget: a share of each class's training rows, or a number of shots per class."""

    fraction: float | None = None
    shots: int | None = None

    def __post_init__(self) -> None:
        if (self.fraction is None) == (self.shots is None):
            raise ValueError("a budget is a fraction or a number of shots, not both")

    @property
    def label(self) -> str:
        if self.shots is not None:
            return f"{self.shots}-shot"
        assert self.fraction is not None
        return f"{100 * self.fraction:g}%"

    @property
    def is_full(self) -> bool:
        return self.fraction == 1.0

    def count(self, available: int) -> int:
        """How many of ``available`` rows of one class carry labels (round half up; may be 0)."""
        if self.shots is not None:
            return min(self.shots, available)
        assert self.fraction is not None
        return min(available, math.floor(self.fraction * available + 0.5))

    def sort_key(self) -> tuple[int, float]:
        return (0, float(self.shots)) if self.shots is not None else (1, float(self.fraction or 0))

    def to_dict(self) -> dict[str, float | int | str | None]:
        return {"label": self.label, "fraction": self.fraction, "shots": self.shots}


FULL_BUDGET = Budget(fraction=1.0)


def parse_budgets(fractions: str | None, shots: str | None) -> list[Budget]:
    """``--target-budget 0.05,0.1,1`` and ``--target-shots 5,10`` as budgets (full data by default).

    Raises:
        ValueError: a share outside (0, 1], shots below 1, a repeat, or something not a number.
    """
    budgets: list[Budget] = []
    for value in [v.strip() for v in (fractions or "").split(",") if v.strip()]:
        try:
            share = float(value.rstrip("%")) / (100 if value.endswith("%") else 1)
        except ValueError:
            share = -1.0
        if not 0.0 < share <= 1.0:
            raise ValueError(
                f"--target-budget {fractions!r}: {value!r} is not a share in (0, 1] "
                "(e.g. 0.05,0.1,0.25,1 or 10%)"
            )
        budgets.append(Budget(fraction=share))
    for value in [v.strip() for v in (shots or "").split(",") if v.strip()]:
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(
                f"--target-shots {shots!r}: {value!r} is not a number of utterances per class >= 1"
            )
        budgets.append(Budget(shots=n))
    labels = [b.label for b in budgets]
    if len(set(labels)) != len(labels):
        raise ValueError(f"target budgets repeat: {', '.join(labels)}")
    return sorted(budgets, key=Budget.sort_key) or [FULL_BUDGET]


def budget_masks(
    labels: np.ndarray, budgets: Sequence[Budget], *, seed: int, at_least_one: bool = False
) -> dict[str, np.ndarray]:
    """Per budget label, a boolean mask of the rows of ``labels`` that carry labels.

    One seeded order per class; each budget takes its first ``budget.count(n)`` rows (at least one
    per class with ``at_least_one``, for validation rows), so smaller budgets are subsets of larger.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    orders = {c: rng.permutation(np.flatnonzero(labels == c)) for c in sorted(set(labels.tolist()))}
    masks = {}
    for budget in budgets:
        mask = np.zeros(len(labels), dtype=bool)
        for rows in orders.values():
            take = budget.count(len(rows))
            if at_least_one:
                take = max(take, min(1, len(rows)))
            mask[rows[:take]] = True
        masks[budget.label] = mask
    return masks


def check_budgets(
    labels: np.ndarray, budgets: Sequence[Budget], classes: Sequence[str], *, corpus: str, fold: str
) -> None:
    """Refuse budgets that leave a class of a fold's training rows without a labelled utterance.

    ``labels`` are the harmonised labels of the fold's training rows; ``fold`` describes the fold
    (e.g. ``"test speaker DC"``) for the message.

    Raises:
        FoldError: naming the corpus, the fold, the class and the budget that would work.
    """
    counts = Counter(np.asarray(labels).tolist())
    for label in classes:
        available = counts.get(label, 0)
        if available == 0:
            raise FoldError(
                f"{corpus}: the training speakers of the fold with {fold} have no {label!r} utterance; "
                "use fewer folds (e.g. --folds split) or leave that class out"
            )
        for budget in budgets:
            if budget.shots is not None and budget.shots > available:
                raise FoldError(
                    f"{corpus}: --target-shots {budget.shots} asks for {budget.shots} {label!r} utterances, "
                    f"but the training speakers of the fold with {fold} have only {available}; "
                    f"use --target-shots {available} or fewer"
                )
            if budget.count(available) == 0:
                smallest = math.ceil(0.5 / available * 1000) / 1000
                raise FoldError(
                    f"{corpus}: --target-budget {budget.fraction:g} leaves class {label!r} without a "
                    f"training utterance in the fold with {fold} ({available} available); use a budget "
                    f"of at least {smallest:g} or --target-shots 1"
                )


def check_split_by(value: str) -> str:
    """``value`` if it is one of :data:`SPLIT_BY`, else a ``ValueError`` naming the flag."""
    if value not in SPLIT_BY:
        raise ValueError(f"--split-by {value!r}: expected one of {', '.join(SPLIT_BY)}")
    return value


def sentence_groups(
    sentences: Sequence[str | None],
    *,
    fold_seed: int,
    repeat: int,
    corpus: str = "corpus",
    folds: int = SENTENCE_GROUPS,
) -> list[tuple[str, ...]]:
    """The corpus's distinct sentences in seeded groups of about equal size, for
    ``--split-by speaker+sentence``: fold ``i`` tests group ``i mod len(groups)``. There are
    :data:`SENTENCE_GROUPS` groups, or fewer where the corpus has fewer sentences or the run fewer
    ``folds`` (at least 2), so that every sentence is tested in some fold.

    Raises:
        FoldError: a row has no sentence, or the corpus has fewer than two sentences.
    """
    missing = sum(s is None or str(s) == "" for s in sentences)
    if missing:
        raise FoldError(
            f"{corpus}: --split-by speaker+sentence needs every utterance's sentence, but {missing} of "
            f"{len(sentences)} have none (its loader records no sentences); use --split-by speaker"
        )
    unique = sorted({str(s) for s in sentences})
    if len(unique) < 2:
        raise FoldError(
            f"{corpus}: --split-by speaker+sentence needs at least 2 sentences, found {len(unique)} "
            f"({', '.join(unique) or 'none'}); use --split-by speaker"
        )
    rng = np.random.default_rng(derived_seed(fold_seed, repeat, corpus, "sentence groups"))
    order = [unique[i] for i in rng.permutation(len(unique))]
    count = min(max(2, min(SENTENCE_GROUPS, folds)), len(unique))
    return [tuple(sorted(order[g::count])) for g in range(count)]
