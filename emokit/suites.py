"""Experiments and suites: what a bench run transfers from where to where, and the named sets of them.

An :class:`Experiment` is sources (in order) transferred into one target, in one modality, with one
feature set. A :class:`Suite` is a named list of experiments with the protocol to run them by
(methods, folds, target budgets, repeats) that a plugin registers through
``emokit_register_suites``. The suite named :data:`DEFAULT_SUITE` is what ``emokit bench`` runs when
no ``--target`` or ``--matrix`` is given; its ``methods``, ``features`` and ``reference`` are also
the defaults of a run that names its own experiment. emokit's core names no corpus, feature or
method: all of that comes from the suites the plugins register.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: the suite ``emokit bench`` runs by default, and whose defaults every run uses
DEFAULT_SUITE = "default"


@dataclass(frozen=True)
class Experiment:
    """Sources (in order) transferred into one target, in one modality, with one feature set.

    A source list that is just the target is a within-corpus experiment (the target's own
    training speakers as the source); the target beside other sources is refused by the runner.
    In a :class:`Suite`, ``features`` may be left empty: the suite's feature for the modality is used.
    """

    sources: tuple[str, ...]
    target: str
    modality: str
    features: str = ""

    @property
    def within_corpus(self) -> bool:
        return self.sources == (self.target,)

    @property
    def label(self) -> str:
        if self.within_corpus:
            return f"{self.target} (within-corpus)"
        return f"{'+'.join(self.sources)} -> {self.target}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "target": self.target,
            "modality": self.modality,
            "features": self.features,
        }


@dataclass(frozen=True)
class Suite:
    """A named set of experiments and the protocol to run them by (``emokit bench --suite NAME``).

    Attributes:
        name: the name users type (lowercase letters, digits and dashes).
        description: one line for ``emokit list suites``.
        experiments: the experiments, in the order they run and are reported.
        methods: the methods a run uses when ``--method`` is not given (those not registered are
            left out, so a suite may name methods of optional plugins).
        features: the feature extractor of each modality, for experiments that name none
            (``{"audio": "egemaps", "visual": "face"}``).
        reference: the method every other is compared with on matched cells (``None``: none).
        folds, budgets, repeats: the protocol when the command line does not set one: a
            ``--folds`` value, a ``--target-budget`` value and a number of repeats (``None``: the
            command's own defaults).
    """

    name: str
    description: str
    experiments: tuple[Experiment, ...]
    methods: tuple[str, ...] = ()
    features: Mapping[str, str] = field(default_factory=dict)
    reference: str | None = None
    folds: str | None = None
    budgets: str | None = None
    repeats: int | None = None

    def feature_for(self, modality: str) -> str | None:
        """The extractor this suite uses for ``modality``, or ``None`` when it names none."""
        return self.features.get(modality)

    def resolved(self, modality: str | None = None) -> list[Experiment]:
        """The experiments (of ``modality`` only, when given) with their features filled in.

        Raises:
            ValueError: an experiment names no features and the suite has none for its modality.
        """
        out = []
        for exp in self.experiments:
            if modality is not None and exp.modality != modality:
                continue
            features = exp.features or self.feature_for(exp.modality)
            if not features:
                raise ValueError(
                    f"suite {self.name!r}: experiment {exp.label} ({exp.modality}) names no features and "
                    f"the suite has no feature for {exp.modality!r}"
                )
            out.append(Experiment(tuple(exp.sources), exp.target, exp.modality, features))
        return out
