"""The cross-corpus protocol: load corpora, extract features, fold by speaker, budget, run, score.

One *cell* is (experiment, target budget, method, fold, repeat). Within one (experiment, fold,
repeat) every method sees the same speakers, the same labelled rows at each budget and the same
normalised features, so methods are compared on identical test utterances (matched cells). Each
finished cell is written to the result file at once, so an interrupted run keeps everything it
finished.

The runner enforces what a method may see (see :class:`~emokit.bench.task.TransferTask`): test
labels never reach a method (the runner scores), a method that declares it uses no target labels
gets every target split without labels, and features are normalised before any method sees them.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from emokit import __version__
from emokit.bench.cells import (
    CorpusFeatures,
    FoldPlan,
    FoldRows,
    fold_description,
    jsonable,
    rows_of,
    split_masks,
    target_access,
    target_fold_rows,
    val_from,
)
from emokit.bench.config import BenchConfig, Experiment, Reporter
from emokit.bench.metrics import score
from emokit.bench.normalisation import TARGET_DATA_USED, check_scheme, normalise_task
from emokit.bench.options import check_option_keys, method_option_values
from emokit.bench.results import ResultFile
from emokit.bench.task import CorpusSplits, LabelsWithheldError, TransferTask
from emokit.data.corpus import MODALITIES, Corpus, LoadProblem, provides, simulation_marker
from emokit.data.datasets import LoadContext
from emokit.data.folds import (
    Budget,
    Fold,
    budget_masks,
    check_budgets,
    derived_seed,
    speaker_folds,
)
from emokit.data.labels import shared_labels
from emokit.data.splits import split_speakers
from emokit.features.cache import compute_features
from emokit.registry import Registry

#: features used when an experiment names none
DEFAULT_FEATURES = {"audio": "egemaps", "visual": "face", "audiovisual": "face-logmel"}
#: the runner's own row in every summary: the majority class of the labelled target training rows
MAJORITY = "majority-class"


class MethodContractError(ValueError):
    """A method broke the runner's contract (read withheld labels, returned the wrong shape)."""


class BenchRunner:
    """Runs a :class:`BenchConfig` against the plugins of a :class:`Registry`."""

    def __init__(self, registry: Registry, config: BenchConfig, reporter: Reporter | None = None):
        self.registry = registry
        self.config = config
        self.reporter = reporter or Reporter()
        self._corpora: dict[str, Corpus] = {}
        self._features: dict[tuple[str, str, str], CorpusFeatures] = {}
        self.problems: dict[str, list[LoadProblem]] = {}
        self.option_warnings: list[str] = []
        self.method_options: dict[str, dict[str, Any]] = {}
        self.validate()

    # -- checks before anything slow happens -------------------------------------------------
    def validate(self) -> None:
        """Fail fast on unknown names, unsupported modalities, bad options and impossible sources."""
        if not self.config.methods:
            raise ValueError("no method to run")
        if not self.config.seeds:
            raise ValueError("--seeds must give at least one seed")
        if not self.config.experiments:
            raise ValueError("no experiment to run")
        if not self.config.budgets:
            raise ValueError("no target budget to run")
        check_scheme(self.config.norm)
        methods = [self.registry.method(name) for name in self.config.methods]
        if self.config.reference is not None and self.config.reference not in self.config.methods:
            raise ValueError(
                f"--reference {self.config.reference!r} is not a method of this run "
                f"(methods: {', '.join(self.config.methods)})"
            )
        self.option_warnings = check_option_keys(methods, self.config.options)
        self.method_options = {m.name: method_option_values(m, self.config.options) for m in methods}
        for method in methods:
            for exp in self.config.experiments:
                if exp.modality not in method.modalities:
                    raise ValueError(
                        f"method {method.name!r} does not support modality {exp.modality!r} "
                        f"(it supports {', '.join(method.modalities)})"
                    )
        for exp in self.config.experiments:
            if exp.modality not in MODALITIES:
                raise ValueError(f"--modality must be one of {', '.join(MODALITIES)}, got {exp.modality!r}")
            if exp.target in exp.sources and not exp.within_corpus:
                raise ValueError(
                    f"--source {','.join(exp.sources)} names the target {exp.target!r} beside other "
                    f"corpora: a source must not be the target (its labelled rows would train every "
                    f"method); drop {exp.target!r} from --source, or give --source {exp.target} alone "
                    "for a within-corpus run"
                )
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
        """Load (once per run) the corpus registered as ``name``; say so when it is simulated."""
        if name not in self._corpora:
            corpus = self.registry.dataset(name).load(self._context())
            if corpus.simulation is None:
                marker = simulation_marker(corpus.root)
                if marker is not None:
                    corpus.simulation = {**marker, "detected_from": "folder marker"}
                    self.reporter.warn(
                        f"{name}: {corpus.root} was written by emokit's corpus simulator "
                        f"({marker.get('name')}, seed {marker.get('seed')}, scale {marker.get('scale')}): "
                        "these are simulated recordings, not the real corpus"
                    )
            self._corpora[name] = corpus
            self.problems.setdefault(name, []).extend(corpus.problems)
            skipped = sum(p.skipped for p in corpus.problems)
            accepted = len(corpus.problems) - skipped
            simulated = " (simulated)" if corpus.simulation else ""
            self.reporter.info(
                f"{name}{simulated}: {len(corpus)} utterances, {len(corpus.speakers)} speakers, "
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

    # -- the plan --------------------------------------------------------------------------------
    def _shared_classes(self, exp: Experiment, label_sets: list[set[str]]) -> list[str]:
        classes = shared_labels(*label_sets)
        if len(classes) < 2:
            raise ValueError(
                f"{exp.label}: the corpora share {len(classes)} class(es) {classes}; need 2 or more"
            )
        return classes

    def classes_of(self, exp: Experiment) -> list[str]:
        """The harmonised classes shared by every corpus of ``exp`` (at least two)."""
        names = (*exp.sources, exp.target)
        return self._shared_classes(
            exp, [set(self.features(n, exp.modality, exp.features).labels) for n in names]
        )

    def checked_folds(
        self, exp: Experiment, classes: list[str], labels: np.ndarray, speakers: np.ndarray, repeat: int
    ) -> list[FoldRows]:
        """The target's folds of one repeat as row masks (over rows with these ``labels`` and
        ``speakers``), each checked against every budget.

        Raises:
            FoldError: folds or budgets the target cannot give, naming the corpus and what would work.
        """
        keep = np.isin(labels, classes)
        folds = speaker_folds(
            speakers[keep],
            self.config.folds,
            fold_seed=self.config.fold_seed,
            repeat=repeat,
            corpus=exp.target,
        )
        checked = []
        for fold in folds:
            rows = target_fold_rows(labels, speakers, keep, fold, self._val_seed(exp, repeat, fold))
            check_budgets(
                labels[rows.train],
                self.config.budgets,
                classes,
                corpus=exp.target,
                fold=fold_description(fold),
            )
            checked.append(rows)
        return checked

    def check_plan(self) -> int:
        """Check, before any feature is extracted, that every fold and budget is possible; return
        the number of cells (methods and the majority-class row) the run holds.

        Raises:
            FoldError: folds or budgets a target cannot give, naming the corpus and what would work.
        """
        total = 0
        for exp in self.config.experiments:
            corpora = {n: self.corpus(n).with_modality(exp.modality) for n in (*exp.sources, exp.target)}
            classes = self._shared_classes(exp, [set(c.labels) for c in corpora.values()])
            target = corpora[exp.target]
            labels = np.array([u.label for u in target.utterances])
            speakers = np.array([u.speaker for u in target.utterances])
            for repeat in range(len(self.config.seeds)):
                folds = self.checked_folds(exp, classes, labels, speakers, repeat)
                total += len(folds) * len(self.config.budgets) * (len(self.config.methods) + 1)
        return total

    def _val_seed(self, exp: Experiment, repeat: int, fold: Fold) -> int:
        return derived_seed(self.config.fold_seed, repeat, fold.index, exp.target, "validation rows")

    def identity(self) -> dict[str, Any]:
        """Everything that makes two runs' cells comparable; ``--resume`` refuses a different one.

        Call after the corpora are loaded (it holds each corpus's fingerprint)."""
        config = self.config
        return {
            "emokit_version": __version__,
            "methods": list(config.methods),
            "experiments": [e.to_dict() for e in config.experiments],
            "options": {name: jsonable(values) for name, values in self.method_options.items()},
            "raw_options": dict(config.options),
            "norm": config.norm,
            "folds": str(config.folds),
            "fold_seed": config.fold_seed,
            "budgets": [b.label for b in config.budgets],
            "repeats": list(config.seeds),
            "sim_scale": config.sim_scale,
            "sim_seed": config.sim_seed,
            "data_root": str(config.data_root) if config.data_root else None,
            "corpora": {name: corpus.fingerprint for name, corpus in sorted(self._corpora.items())},
        }

    # -- the protocol ------------------------------------------------------------------------
    def _source_splits(
        self, exp: Experiment, classes: list[str], repeat: int
    ) -> tuple[list[CorpusSplits], dict[str, Any]]:
        """Each (non-target) source split by speaker into train and validation, per repeat."""
        sources, used = [], {}
        for name in exp.sources:
            if name == exp.target:
                continue
            data = self.features(name, exp.modality, exp.features)
            keep = np.isin(data.labels, classes)
            seed = derived_seed(self.config.fold_seed, repeat, name, "source split")
            split = split_speakers(data.speakers[keep], seed=seed, with_test=False, corpus=name)
            train, val, _ = split_masks(data.labels, data.speakers, keep, split, seed)
            sources.append(
                CorpusSplits(train=data.subset(train, classes, "train"), val=data.subset(val, classes, "val"))
            )
            used[name] = {"train": list(split.train), "val": list(split.val), "val_from": val_from(split)}
        return sources, used

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
            target = self.features(exp.target, exp.modality, exp.features)
            for repeat, seed in enumerate(self.config.seeds):
                sources, source_splits = self._source_splits(exp, classes, repeat)
                # on the feature rows now (a file may have failed): the same folds, checked again
                for rows in self.checked_folds(exp, classes, target.labels, target.speakers, repeat):
                    plan = self._fold_plan(exp, classes, target, rows, sources, source_splits, repeat, seed)
                    self._run_fold(plan, results, should_skip)

    def _run_fold(
        self, plan: FoldPlan, results: ResultFile, should_skip: Callable[[dict[str, Any]], bool] | None
    ) -> None:
        """Every cell of one (experiment, fold, repeat): each budget, the majority row, each method."""
        exp, classes, repeat = plan.exp, plan.task.classes, plan.repeat
        views = {"none": plan.task}
        budget_free: dict[str, tuple[dict[str, Any], np.ndarray]] = {}  # methods that use no target label
        for budget in self.config.budgets:
            base_key = {
                **exp.to_dict(),
                "budget": budget.to_dict(),
                "fold": plan.fold.index,
                "repeat": repeat,
            }
            majority_key = {**base_key, "method": MAJORITY}
            if should_skip is None or not should_skip(majority_key):
                counts = np.bincount(
                    plan.task.target.train.y[plan.train_masks[budget.label]], minlength=len(classes)
                )
                majority = int(np.argmax(counts))
                predictions = np.full(len(plan.test), majority, dtype=np.int64)
                note = {"note": f"predicts {classes[majority]} (most frequent labelled class)"}
                cell = self._cell(plan, majority_key, budget, predictions, 0.0, scheme="none", info=note)
                self._record(results, plan, cell, predictions)
            for method_name in self.config.methods:
                key = {**base_key, "method": method_name}
                if should_skip is not None and should_skip(key):
                    continue
                if method_name in budget_free:
                    # the method sees no target label: every budget gives the same cell
                    earlier, earlier_predictions = budget_free[method_name]
                    cell = {**earlier, **key, "same_as_budget": earlier["budget"]["label"], "time_s": 0.0}
                    self._record(results, plan, cell, earlier_predictions)
                    continue
                method = self.registry.method(method_name)
                scheme = "none" if method.raw_features else self.config.norm
                if scheme not in views:
                    views[scheme] = normalise_task(plan.task, scheme)
                cell, predictions = self._run_method(plan, method, views[scheme], budget, key, scheme)
                self._record(results, plan, cell, predictions)
                if not method.uses_target_labels and not exp.within_corpus:
                    budget_free[method_name] = (cell, predictions)

    def _fold_plan(
        self,
        exp: Experiment,
        classes: list[str],
        target: CorpusFeatures,
        rows: FoldRows,
        sources: list[CorpusSplits],
        source_splits: dict[str, Any],
        repeat: int,
        seed: int,
    ) -> FoldPlan:
        """One fold's splits, budget masks and un-normalised task (every budget is cut from it)."""
        fold = rows.fold
        budget_seed = derived_seed(self.config.fold_seed, repeat, fold.index, exp.target, "budget")
        train_masks = budget_masks(target.labels[rows.train], self.config.budgets, seed=budget_seed)
        val_masks = budget_masks(
            target.labels[rows.val], self.config.budgets, seed=budget_seed + 1, at_least_one=True
        )
        task = TransferTask(
            classes=classes,
            sources=sources,
            target=CorpusSplits(
                train=target.subset(rows.train, classes, "train"),
                val=target.subset(rows.val, classes, "val"),
                test=target.subset(rows.test, classes, "test"),
            ),
            modality=exp.modality,
            seed=seed,
            feature_layout=self.registry.feature(exp.features).layout(),
            fold=fold.index,
            repeat=repeat,
        )
        splits_used = {
            exp.target: {
                "train": list(fold.split.train),
                "val": list(fold.split.val),
                "test": list(fold.test),
                "val_from": val_from(fold.split),
            },
            **source_splits,
        }
        return FoldPlan(exp, fold, repeat, seed, task, train_masks, val_masks, splits_used)

    def _run_method(
        self,
        plan: FoldPlan,
        method: Any,
        view: TransferTask,
        budget: Budget,
        key: dict[str, Any],
        scheme: str,
    ) -> tuple[dict[str, Any], np.ndarray]:
        """Run one method on one budget of a fold; the cell it gives and its predictions."""
        task = self._task_for(
            method,
            view,
            budget,
            plan.train_masks[budget.label],
            plan.val_masks[budget.label],
            plan.exp,
            scheme,
        )
        task.progress = functools.partial(self.reporter.method_progress, method.name)
        self.reporter.cell_started(plan.exp, plan.seed, method.name)
        started = time.perf_counter()
        where = f"{plan.exp.label}, budget {budget.label}, fold {plan.fold.index + 1}, repeat {plan.repeat}"
        try:
            predictions = np.asarray(method.run(task))
        except LabelsWithheldError as exc:
            raise MethodContractError(
                f"method {method.name!r} read labels it may not see in the cell {where}: {exc}"
            ) from exc
        elapsed = time.perf_counter() - started
        if predictions.shape != (len(plan.test),):
            raise MethodContractError(
                f"method {method.name!r} returned predictions of shape {predictions.shape} in the cell "
                f"{where}; expected ({len(plan.test)},) (one per target test row)"
            )
        cell = self._cell(
            plan,
            key,
            budget,
            predictions,
            elapsed,
            scheme=scheme,
            info=method.info(),
            validation=task.validation,
            options=self.method_options.get(method.name, {}),
            uses_labels=method.uses_target_labels,
        )
        return cell, predictions

    def _record(
        self, results: ResultFile, plan: FoldPlan, cell: dict[str, Any], predictions: np.ndarray
    ) -> None:
        classes = plan.task.classes
        results.add_cell(
            cell,
            {
                "ids": [str(i) for i in plan.test.ids],
                "true": [classes[i] for i in plan.test.y],
                "pred": [classes[int(i)] for i in predictions],
            },
        )
        self.reporter.cell_finished(cell)

    def _task_for(
        self,
        method: Any,
        view: TransferTask,
        budget: Budget,
        train_mask: np.ndarray,
        val_mask: np.ndarray,
        exp: Experiment,
        scheme: str,
    ) -> TransferTask:
        """The task one method gets at one budget: labels withheld where the method may not see them."""
        t = view.target
        test = t.test.without_labels("the runner scores the test split") if t.test is not None else None
        labelled = CorpusSplits(rows_of(t.train, train_mask), rows_of(t.val, val_mask))
        if not method.uses_target_labels:
            why = f"{method.name} declares that it uses no target labels"
            target = CorpusSplits(t.train.without_labels(why), t.val.without_labels(why), test)
            unlabelled = None
        else:
            target = CorpusSplits(labelled.train, labelled.val, test)
            unlabelled = (
                rows_of(t.train, ~train_mask).without_labels(f"outside the target budget {budget.label}")
                if (~train_mask).any()
                else None
            )
        # within-corpus: the source is the target's own labelled (budgeted) training side
        sources = [labelled] if exp.within_corpus else list(view.sources)
        return TransferTask(
            classes=view.classes,
            sources=sources,
            target=target,
            modality=view.modality,
            seed=view.seed,
            options=dict(self.method_options.get(method.name, {})),
            feature_layout=view.feature_layout,
            unlabelled_target=unlabelled,
            normalisation=scheme,
            fold=view.fold,
            repeat=view.repeat,
            budget=budget.label,
        )

    def _cell(
        self,
        plan: FoldPlan,
        key: dict[str, Any],
        budget: Budget,
        predictions: np.ndarray,
        elapsed: float,
        *,
        scheme: str,
        info: dict[str, Any],
        validation: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        uses_labels: bool = True,
    ) -> dict[str, Any]:
        classes = plan.task.classes
        scores = score(plan.test.y, predictions, len(classes))
        confusion = np.asarray(scores.confusion)
        totals = confusion.sum(axis=1)
        recall = {
            c: (float(confusion[i, i] / totals[i]) if totals[i] else None) for i, c in enumerate(classes)
        }
        train_mask, val_mask = plan.train_masks[budget.label], plan.val_masks[budget.label]
        return {
            **key,
            "experiment": plan.exp.label,
            "within_corpus": plan.exp.within_corpus,
            "status": "ok",
            "seed": plan.seed,
            "fold_seed": self.config.fold_seed,
            "folds": plan.fold.count,
            "test_speakers": list(plan.fold.test),
            "classes": classes,
            "scores": scores.to_dict(),
            "per_class_recall": recall,
            "validation": validation,
            "time_s": round(elapsed, 3),
            "splits": plan.splits_used,
            "val_from_training_rows": plan.fold.val_from_training_rows,
            "labelled_target": {
                "train": int(train_mask.sum()) if uses_labels else 0,
                "val": int(val_mask.sum()) if uses_labels else 0,
                "unlabelled_train": int((~train_mask).sum()) if uses_labels else len(train_mask),
            },
            "target_access": target_access(uses_labels, train_mask, val_mask, scheme),
            "normalisation": {"scheme": scheme, "target_data_used": TARGET_DATA_USED[scheme]},
            "options": jsonable(options or {}),
            "method_info": info,
        }

    def corpus_summary(self) -> dict[str, Any]:
        """Per corpus: size, speakers, classes, simulation and every problem file, for the result file."""
        out = {}
        for name, corpus in self._corpora.items():
            out[name] = {
                "root": str(corpus.root),
                "utterances": len(corpus),
                "speakers": corpus.speakers,
                "label_counts": corpus.label_counts(),
                "fingerprint": corpus.fingerprint,
                "simulated": corpus.simulation is not None,
                "simulation": corpus.simulation,
                "speaker_utterances": dict(sorted(Counter(u.speaker for u in corpus.utterances).items())),
                "problems": [
                    {"path": str(p.path), "reason": p.reason, "skipped": p.skipped}
                    for p in self.problems.get(name, [])
                ],
            }
        return out
