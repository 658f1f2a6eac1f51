"""The cross-corpus protocol: load corpora, extract features, split by speaker, run methods, score.

One *cell* is (experiment, seed, method). For a given experiment and seed every method sees the
same splits, so methods are compared on identical test speakers. Each finished cell is written to
the result file at once, so an interrupted run keeps everything it finished.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emokit.bench.metrics import score
from emokit.bench.results import ResultFile
from emokit.bench.task import CorpusSplits, SplitData, TransferTask
from emokit.data.corpus import MODALITIES, Corpus, LoadProblem, provides
from emokit.data.datasets import LoadContext
from emokit.data.labels import label_index, shared_labels
from emokit.data.splits import SpeakerSplit, split_speakers, validation_rows
from emokit.features.cache import compute_features
from emokit.registry import Registry

#: features used when an experiment names none
DEFAULT_FEATURES = {"audio": "egemaps", "visual": "face", "audiovisual": "face-logmel"}


@dataclass(frozen=True)
class Experiment:
    """Sources (in order) transferred into one target, in one modality, with one feature set."""

    sources: tuple[str, ...]
    target: str
    modality: str
    features: str

    @property
    def label(self) -> str:
        return f"{'+'.join(self.sources)} -> {self.target}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "target": self.target,
            "modality": self.modality,
            "features": self.features,
        }


@dataclass
class BenchConfig:
    """Everything that determines a bench run (recorded in its result file)."""

    methods: list[str]
    experiments: list[Experiment]
    seeds: list[int]
    data_root: Path | None = None
    cache_dir: Path | None = None
    sim_scale: float = 1.0
    sim_seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "methods": self.methods,
            "experiments": [e.to_dict() for e in self.experiments],
            "seeds": self.seeds,
            "data_root": str(self.data_root) if self.data_root else None,
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
            "sim_scale": self.sim_scale,
            "sim_seed": self.sim_seed,
            "options": self.options,
        }


class Reporter:
    """What the runner tells the user. The CLI's rich reporter overrides these; tests use this one."""

    def info(self, message: str) -> None:
        """A line of information (shared classes, corpus sizes)."""

    def warn(self, message: str) -> None:
        """A problem the user should see (skipped files)."""

    def progress(self, description: str, done: int, total: int) -> None:
        """Progress of a long step (generation, feature extraction)."""

    def cell_started(self, experiment: Experiment, seed: int, method: str) -> None:
        """A cell is about to run."""

    def method_progress(
        self, method: str, stage: str, done: int, total: int | None, figures: dict[str, Any]
    ) -> None:
        """A running method's progress (see :meth:`TransferTask.report_progress`)."""

    def cell_finished(self, cell: dict[str, Any]) -> None:
        """A cell finished; ``cell`` is what the result file records."""


@dataclass
class CorpusFeatures:
    """A corpus's usable utterances (one modality) and their feature rows, aligned."""

    corpus: Corpus
    X: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    ids: np.ndarray

    def subset(self, mask: np.ndarray, classes: list[str]) -> SplitData:
        index = label_index(classes)
        return SplitData(
            corpus=self.corpus.name,
            X=self.X[mask],
            y=np.array([index[label] for label in self.labels[mask]], dtype=np.int64),
            speakers=self.speakers[mask],
            ids=self.ids[mask],
        )


class BenchRunner:
    """Runs a :class:`BenchConfig` against the plugins of a :class:`Registry`."""

    def __init__(self, registry: Registry, config: BenchConfig, reporter: Reporter | None = None):
        self.registry = registry
        self.config = config
        self.reporter = reporter or Reporter()
        self._corpora: dict[str, Corpus] = {}
        self._features: dict[tuple[str, str, str], CorpusFeatures] = {}
        self.problems: dict[str, list[LoadProblem]] = {}
        self.validate()

    # -- checks before anything slow happens -------------------------------------------------
    def validate(self) -> None:
        """Fail fast on unknown names, unsupported modalities and empty settings."""
        if not self.config.methods:
            raise ValueError("no method to run")
        if not self.config.seeds:
            raise ValueError("--seeds must give at least one seed")
        if not self.config.experiments:
            raise ValueError("no experiment to run")
        for name in self.config.methods:
            method = self.registry.method(name)
            for exp in self.config.experiments:
                if exp.modality not in method.modalities:
                    raise ValueError(
                        f"method {name!r} does not support modality {exp.modality!r} "
                        f"(it supports {', '.join(method.modalities)})"
                    )
        for exp in self.config.experiments:
            if exp.modality not in MODALITIES:
                raise ValueError(f"--modality must be one of {', '.join(MODALITIES)}, got {exp.modality!r}")
            extractor = self.registry.feature(exp.features)
            if extractor.modality != exp.modality:
                raise ValueError(
                    f"features {exp.features!r} are for {extractor.modality} data, but the experiment "
                    f"{exp.label} is {exp.modality}; pick a {exp.modality} feature extractor"
                )
            for name in (*exp.sources, exp.target):
                dataset = self.registry.dataset(name)
                if not provides(dataset.modalities, exp.modality):
                    raise ValueError(
                        f"dataset {name!r} has no {exp.modality} data (it provides "
                        f"{', '.join(dataset.modalities)})"
                    )

    # -- data ----------------------------------------------------------------------------------
    def _context(self) -> LoadContext:
        return LoadContext(
            data_root=self.config.data_root,
            cache_dir=self.config.cache_dir,
            sim_scale=self.config.sim_scale,
            sim_seed=self.config.sim_seed,
            progress=self.reporter.progress,
            providers=dict(self.registry.providers["dataset"]),
        )

    def corpus(self, name: str) -> Corpus:
        """Load (once per run) the corpus registered as ``name``."""
        if name not in self._corpora:
            corpus = self.registry.dataset(name).load(self._context())
            self._corpora[name] = corpus
            self.problems.setdefault(name, []).extend(corpus.problems)
            skipped = sum(p.skipped for p in corpus.problems)
            accepted = len(corpus.problems) - skipped
            self.reporter.info(
                f"{name}: {len(corpus)} utterances, {len(corpus.speakers)} speakers, "
                f"classes {', '.join(corpus.labels)}"
            )
            if corpus.problems:
                self.reporter.warn(
                    f"{name}: {skipped} file(s) skipped, {accepted} accepted with a warning "
                    f"(see the result file or `emokit data info {name}`)"
                )
                for problem in corpus.problems[:5]:
                    self.reporter.warn(f"  {problem}")
        return self._corpora[name]

    def features(self, name: str, modality: str, features: str) -> CorpusFeatures:
        """Feature rows of corpus ``name`` (cached on disk across runs, in memory within one)."""
        key = (name, modality, features)
        if key not in self._features:
            corpus = self.corpus(name).with_modality(modality)
            table = compute_features(
                corpus,
                self.registry.feature(features),
                cache_dir=self.config.cache_dir,
                progress=self.reporter.progress,
            )
            if table.problems:
                self.problems.setdefault(name, []).extend(table.problems)
                skipped = sum(p.skipped for p in table.problems)
                self.reporter.warn(
                    f"{name}: {features} features: {skipped} file(s) skipped, "
                    f"{len(table.problems) - skipped} with a warning"
                )
                for problem in table.problems[:5]:
                    self.reporter.warn(f"  {problem}")
            by_id = {u.id: u for u in corpus.utterances}
            ids = np.asarray(table.ids)
            self._features[key] = CorpusFeatures(
                corpus=corpus,
                X=np.asarray(table.X, dtype=np.float32),
                labels=np.array([by_id[i].label for i in ids]),
                speakers=np.array([by_id[i].speaker for i in ids]),
                ids=ids,
            )
        return self._features[key]

    # -- the protocol ------------------------------------------------------------------------
    def classes_of(self, exp: Experiment) -> list[str]:
        """The harmonised classes shared by every corpus of ``exp`` (at least two)."""
        sets = [set(self.features(n, exp.modality, exp.features).labels) for n in (*exp.sources, exp.target)]
        classes = shared_labels(*sets)
        if len(classes) < 2:
            raise ValueError(
                f"{exp.label}: the corpora share {len(classes)} class(es) {classes}; need 2 or more"
            )
        return classes

    def make_task(
        self, exp: Experiment, seed: int, classes: list[str]
    ) -> tuple[TransferTask, dict[str, Any]]:
        """The :class:`TransferTask` of ``exp`` for ``seed``, and the speaker splits it used."""
        target = self.features(exp.target, exp.modality, exp.features)
        keep = np.isin(target.labels, classes)
        split = split_speakers(target.speakers[keep], seed=seed, corpus=exp.target)
        target_splits = _splits_of(target, keep, split, classes, seed)
        splits_used = {exp.target: _split_dict(split)}
        sources = []
        for name in exp.sources:
            if name == exp.target:
                # within-corpus: the "source" is the target's own training side, never its test speakers
                sources.append(CorpusSplits(train=target_splits.train, val=target_splits.val))
                continue
            data = self.features(name, exp.modality, exp.features)
            keep_s = np.isin(data.labels, classes)
            s_split = split_speakers(data.speakers[keep_s], seed=seed, with_test=False, corpus=name)
            sources.append(_splits_of(data, keep_s, s_split, classes, seed))
            splits_used[name] = _split_dict(s_split)
        task = TransferTask(
            classes=classes,
            sources=sources,
            target=target_splits,
            modality=exp.modality,
            seed=seed,
            options=dict(self.config.options),
            feature_layout=self.registry.feature(exp.features).layout(),
        )
        return task, splits_used

    def run(self, results: ResultFile, should_skip: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Run every cell, appending each to ``results`` as soon as it finishes."""
        for exp in self.config.experiments:
            classes = self.classes_of(exp)
            everything = set().union(
                *(
                    set(self.features(n, exp.modality, exp.features).labels)
                    for n in (*exp.sources, exp.target)
                )
            )
            dropped = sorted(everything - set(classes))
            self.reporter.info(
                f"{exp.label} ({exp.modality}, {exp.features}): {len(classes)} shared classes: "
                f"{', '.join(classes)}" + (f"; left out: {', '.join(dropped)}" if dropped else "")
            )
            for seed in self.config.seeds:
                task, splits_used = self.make_task(exp, seed, classes)
                for method_name in self.config.methods:
                    key = {"method": method_name, **exp.to_dict(), "seed": seed}
                    if should_skip is not None and should_skip(key):
                        continue
                    method = self.registry.method(method_name)
                    task.progress = functools.partial(self.reporter.method_progress, method_name)
                    self.reporter.cell_started(exp, seed, method_name)
                    started = time.perf_counter()
                    predictions = np.asarray(method.run(task))
                    elapsed = time.perf_counter() - started
                    if predictions.shape != task.target.test.y.shape:
                        raise ValueError(
                            f"method {method_name!r} returned predictions of shape {predictions.shape}; "
                            f"expected {task.target.test.y.shape} (one per target test row)"
                        )
                    scores = score(task.target.test.y, predictions, task.num_classes)
                    cell = {
                        **key,
                        "experiment": exp.label,
                        "classes": classes,
                        "scores": scores.to_dict(),
                        "time_s": round(elapsed, 3),
                        "splits": splits_used,
                        "sizes": {
                            "target_train": len(task.target.train),
                            "target_val": len(task.target.val),
                            "target_test": len(task.target.test),
                            "source_train": [len(s.train) for s in task.sources],
                        },
                        "method_info": method.info(),
                    }
                    results.add_cell(cell)
                    self.reporter.cell_finished(cell)


def _splits_of(
    data: CorpusFeatures, keep: np.ndarray, split: SpeakerSplit, classes: list[str], seed: int
) -> CorpusSplits:
    def part(mask: np.ndarray) -> SplitData:
        return data.subset(keep & mask, classes)

    train = np.isin(data.speakers, list(split.train))
    if split.val:
        val = np.isin(data.speakers, list(split.val))
    else:  # too few speakers for validation speakers: hold out training speakers' utterances
        val = np.zeros(len(train), dtype=bool)
        rows = np.flatnonzero(train & keep)
        val[rows[validation_rows(data.labels[rows], seed=seed)]] = True
        train &= ~val
    test = part(np.isin(data.speakers, list(split.test))) if split.test else None
    return CorpusSplits(train=part(train), val=part(val), test=test)


def _split_dict(split: SpeakerSplit) -> dict[str, Any]:
    return {
        "train": list(split.train),
        "val": list(split.val),
        "test": list(split.test),
        "val_from": "val speakers" if split.val else "20% of the training speakers' utterances",
    }
