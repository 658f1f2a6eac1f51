"""Running cells: the work a worker process (or a Ray task, or the main process) does.

The main process loads corpora and extracts features once, then hands workers a :class:`RunData`
(the config and every corpus's feature rows) and the method objects, and sends them
:class:`WorkUnit` s: one method's cells of one (experiment, repeat), on some of its folds. A unit
yields events as it goes (:class:`CellStarted`, :class:`MethodProgress`, :class:`CellDone`);
the main process alone writes the result file and the live view.

Everything a cell computes depends only on the config, the features and its own seed, and each cell
runs with a fixed number of torch threads, so a cell is the same bitwise whichever process runs it,
in whichever order (the methods' caches of source stages restore their state exactly).

A cell whose method raises is recorded as failed (error type, message, traceback, the method and the
cell named) and the unit goes on with its next cell.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

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
from emokit.bench.config import BenchConfig, Experiment
from emokit.bench.machine import CellRuntime
from emokit.bench.metrics import score
from emokit.bench.results import cell_key
from emokit.data.folds import (
    Budget,
    FoldError,
    budget_masks,
    check_budgets,
    derived_seed,
    sentence_groups,
    speaker_folds,
)
from emokit.data.labels import shared_labels
from emokit.data.splits import split_speakers
from emokit.methods.normalisation import TARGET_DATA_USED, normalise_task
from emokit.methods.task import CorpusSplits, LabelsWithheldError, TransferTask

#: the runner's own row in every summary: the majority class of the labelled target training rows
MAJORITY = "majority-class"
#: seconds between two progress events of one running cell (a worker must not flood the pipe)
PROGRESS_INTERVAL_S = 0.25


class MethodContractError(ValueError):
    """A method broke the runner's contract (read withheld labels, returned the wrong shape)."""


# -- what travels to workers ----------------------------------------------------------------------
@dataclass
class RunData:
    """Everything a worker needs to run any cell of a run (picklable; sent once per worker)."""

    config: BenchConfig
    features: dict[tuple[str, str, str], CorpusFeatures]  # (corpus, modality, features) -> rows
    layouts: dict[str, Any]  # feature extractor name -> its layout()
    method_options: dict[str, dict[str, Any]]  # method -> typed option values
    runtime: CellRuntime = field(default_factory=CellRuntime)


@dataclass(frozen=True)
class WorkUnit:
    """One method's cells of one (experiment, repeat) on ``folds``, every budget of each fold."""

    index: int
    experiment: int  # index into config.experiments
    repeat: int
    method: str
    folds: tuple[int, ...]
    skip: frozenset = frozenset()  # cell keys finished already (a resumed run)

    def keys(self, config: BenchConfig) -> list[dict[str, Any]]:
        """The identifying fields of this unit's cells (finished ones included), in running order."""
        exp = config.experiments[self.experiment]
        return [
            _base_key(exp, budget, fold, self.repeat, self.method)
            for fold in self.folds
            for budget in config.budgets
        ]


# -- events a unit yields ---------------------------------------------------------------------------
@dataclass
class CellStarted:
    unit: int
    key: dict[str, Any]  # the cell's identifying fields (see :func:`~emokit.bench.results.cell_key`)
    where: str  # the cell in words
    experiment: str
    seed: int
    method: str


@dataclass
class MethodProgress:
    unit: int
    method: str
    stage: str
    done: int
    total: int | None
    figures: dict[str, Any]


@dataclass
class CellDone:
    unit: int
    cell: dict[str, Any]
    predictions: dict[str, Any] | None  # ids, true and predicted labels (None for a failed cell)


Event = CellStarted | MethodProgress | CellDone


def _base_key(exp: Experiment, budget: Budget, fold: int, repeat: int, method: str) -> dict[str, Any]:
    return {**exp.to_dict(), "budget": budget.to_dict(), "fold": fold, "repeat": repeat, "method": method}


# -- planning: the same in the main process and in every worker -------------------------------------
def shared_classes(exp: Experiment, label_sets: list[set[str]]) -> list[str]:
    """The harmonised classes every corpus of ``exp`` has (at least two, else a ``ValueError``)."""
    classes = shared_labels(*label_sets)
    if len(classes) < 2:
        raise ValueError(f"{exp.label}: the corpora share {len(classes)} class(es) {classes}; need 2 or more")
    return classes


def checked_folds(
    config: BenchConfig,
    exp: Experiment,
    classes: list[str],
    labels: np.ndarray,
    speakers: np.ndarray,
    repeat: int,
    sentences: np.ndarray | None = None,
) -> list[FoldRows]:
    """The target's folds of one repeat as row masks (over rows with these ``labels``,
    ``speakers`` and, for ``--split-by speaker+sentence``, ``sentences``), each checked against
    every budget.

    Raises:
        FoldError: folds or budgets the target cannot give, naming the corpus and what would work.
    """
    keep = np.isin(labels, classes)
    folds = speaker_folds(
        speakers[keep], config.folds, fold_seed=config.fold_seed, repeat=repeat, corpus=exp.target
    )
    if config.split_by == "speaker+sentence":
        if sentences is None:
            sentences = np.full(len(labels), "", dtype=object)
        groups = sentence_groups(
            list(sentences[keep]),
            fold_seed=config.fold_seed,
            repeat=repeat,
            corpus=exp.target,
            folds=len(folds),
        )
        folds = [replace(fold, test_sentences=groups[fold.index % len(groups)]) for fold in folds]
    checked = []
    for fold in folds:
        seed = derived_seed(config.fold_seed, repeat, fold.index, exp.target, "validation rows")
        rows = target_fold_rows(labels, speakers, keep, fold, seed, sentences)
        if not rows.test.any():
            raise FoldError(
                f"{exp.target}: the fold with {fold_description(fold)} has no test utterance (its test "
                "speakers never say its test sentences); use --split-by speaker, or fewer folds"
            )
        check_budgets(
            labels[rows.train], config.budgets, classes, corpus=exp.target, fold=fold_description(fold)
        )
        checked.append(rows)
    return checked


class Planner:
    """Builds the fold plans of a run from its :class:`RunData` (cached per experiment and repeat)."""

    def __init__(self, data: RunData) -> None:
        self.data = data
        self._plans: dict[tuple[int, int], dict[int, FoldPlan]] = {}

    def rows(self, exp: Experiment, corpus: str) -> CorpusFeatures:
        return self.data.features[(corpus, exp.modality, exp.features)]

    def classes_of(self, exp: Experiment) -> list[str]:
        return shared_classes(exp, [set(self.rows(exp, n).labels) for n in (*exp.sources, exp.target)])

    def plans(self, experiment: int, repeat: int) -> dict[int, FoldPlan]:
        """Fold index -> plan, for one (experiment, repeat)."""
        key = (experiment, repeat)
        if key not in self._plans:
            self._plans.clear()  # a worker moves on: keep one (experiment, repeat) at a time
            self._plans[key] = self._build(experiment, repeat)
        return self._plans[key]

    def _build(self, experiment: int, repeat: int) -> dict[int, FoldPlan]:
        config = self.data.config
        exp = config.experiments[experiment]
        seed = config.seeds[repeat]
        classes = self.classes_of(exp)
        target = self.rows(exp, exp.target)
        sources, source_splits = self._source_splits(exp, classes, repeat)
        # on the feature rows (a file may have failed): the same folds, checked again
        return {
            rows.fold.index: self._fold_plan(exp, classes, target, rows, sources, source_splits, repeat, seed)
            for rows in checked_folds(
                config, exp, classes, target.labels, target.speakers, repeat, target.sentences
            )
        }

    def _source_splits(
        self, exp: Experiment, classes: list[str], repeat: int
    ) -> tuple[list[CorpusSplits], dict[str, Any]]:
        """Each (non-target) source split by speaker into train and validation, per repeat."""
        sources, used = [], {}
        for name in exp.sources:
            if name == exp.target:
                continue
            rows = self.rows(exp, name)
            keep = np.isin(rows.labels, classes)
            seed = derived_seed(self.data.config.fold_seed, repeat, name, "source split")
            split = split_speakers(rows.speakers[keep], seed=seed, with_test=False, corpus=name)
            train, val, _ = split_masks(rows.labels, rows.speakers, keep, split, seed)
            sources.append(
                CorpusSplits(train=rows.subset(train, classes, "train"), val=rows.subset(val, classes, "val"))
            )
            used[name] = {"train": list(split.train), "val": list(split.val), "val_from": val_from(split)}
        return sources, used

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
        config = self.data.config
        fold = rows.fold
        budget_seed = derived_seed(config.fold_seed, repeat, fold.index, exp.target, "budget")
        train_masks = budget_masks(target.labels[rows.train], config.budgets, seed=budget_seed)
        val_masks = budget_masks(
            target.labels[rows.val], config.budgets, seed=budget_seed + 1, at_least_one=True
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
            feature_layout=self.data.layouts.get(exp.features),
            fold=fold.index,
            repeat=repeat,
            device=self.data.runtime.device,
        )
        splits_used = {
            exp.target: {
                "train": list(fold.split.train),
                "val": list(fold.split.val),
                "test": list(fold.test),
                "val_from": val_from(fold.split),
                **({"test_sentences": list(fold.test_sentences)} if fold.test_sentences else {}),
            },
            **source_splits,
        }
        return FoldPlan(exp, fold, repeat, seed, task, train_masks, val_masks, splits_used)


# -- running a unit ---------------------------------------------------------------------------------
@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run with exactly ``threads`` torch and BLAS threads (restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        limits: Any = contextlib.nullcontext()
    else:
        limits = threadpool_limits(threads)
    try:
        with limits:
            yield
    finally:
        torch.set_num_threads(before)


class UnitRunner:
    """Runs :class:`WorkUnit` s against one set of method objects (one per worker process)."""

    def __init__(self, data: RunData, methods: dict[str, Any]) -> None:
        self.data = data
        self.methods = methods
        self.planner = Planner(data)

    def run(self, unit: WorkUnit) -> Iterator[Event]:
        """Every cell of ``unit`` not in ``unit.skip``, as events (a failed cell is a :class:`CellDone`
        with status ``failed``)."""
        with torch_threads(self.data.runtime.threads):
            yield from self._run(unit)

    def _run(self, unit: WorkUnit) -> Iterator[Event]:
        config = self.data.config
        exp = config.experiments[unit.experiment]
        try:
            plans = self.planner.plans(unit.experiment, unit.repeat)
        except Exception as exc:  # e.g. a fold the feature rows cannot give: every cell fails
            for key in unit.keys(config):
                if cell_key(key) not in unit.skip:
                    yield CellDone(unit.index, failed_cell(key, exp, exc, "planning the folds"), None)
            return
        for fold in unit.folds:
            plan = plans.get(fold)
            budget_free: dict[str, Any] | None = None  # a method that uses no target label: one run
            for budget in config.budgets:
                key = _base_key(exp, budget, fold, unit.repeat, unit.method)
                if cell_key(key) in unit.skip:
                    continue
                where = cell_description(exp, budget.label, fold, unit.repeat)
                seed = config.seeds[unit.repeat]
                yield CellStarted(unit.index, key, where, exp.label, seed, unit.method)
                if plan is None:
                    missing = ValueError(f"fold {fold + 1} does not exist on the target's feature rows")
                    yield CellDone(unit.index, failed_cell(key, exp, missing, where), None)
                    continue
                if budget_free is not None:
                    cell, predictions = budget_free
                    same = {**cell, **key, "same_as_budget": cell["budget"]["label"], "time_s": 0.0}
                    yield CellDone(unit.index, same, predictions)
                    continue
                try:
                    if unit.method == MAJORITY:
                        cell, predictions = self._majority(plan, key, budget)
                    else:
                        cell, predictions = self._method(plan, key, budget, unit.index, where)
                except Exception as exc:
                    yield CellDone(unit.index, failed_cell(key, exp, exc, where), None)
                    continue
                record = self._predictions(plan, predictions)
                yield CellDone(unit.index, cell, record)
                method = self.methods.get(unit.method)
                if method is not None and not method.uses_target_labels and not exp.within_corpus:
                    budget_free = (cell, record)

    #: where a running method's progress goes (a generator cannot yield from inside the method's
    #: callback): the executor sets it, to the live view or to the pipe to the main process
    progress_sink: Callable[[MethodProgress], None] | None = None

    def _progress(self, unit: int, method: str) -> Callable[..., None]:
        last = [0.0]

        def report(stage: str, done: int, total: int | None, figures: dict[str, Any]) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_INTERVAL_S and (total is None or done < total):
                return
            last[0] = now
            event = MethodProgress(unit, method, stage, done, total, dict(figures))
            if self.progress_sink is not None:
                self.progress_sink(event)

        return report

    def _majority(
        self, plan: FoldPlan, key: dict[str, Any], budget: Budget
    ) -> tuple[dict[str, Any], np.ndarray]:
        classes = plan.task.classes
        counts = np.bincount(plan.task.target.train.y[plan.train_masks[budget.label]], minlength=len(classes))
        majority = int(np.argmax(counts))
        predictions = np.full(len(plan.test), majority, dtype=np.int64)
        note = {"note": f"predicts {classes[majority]} (most frequent labelled class)"}
        return self._cell(plan, key, budget, predictions, 0.0, scheme="none", info=note), predictions

    def _method(
        self,
        plan: FoldPlan,
        key: dict[str, Any],
        budget: Budget,
        unit: int,
        where: str,
    ) -> tuple[dict[str, Any], np.ndarray]:
        """Run one method on one budget of a fold; the cell it gives and its predictions."""
        method = self.methods[key["method"]]
        scheme = "none" if method.raw_features else self.data.config.norm
        view = normalise_task(plan.task, scheme) if scheme != "none" else plan.task
        task = self._task_for(method, view, budget, plan, scheme)
        task.progress = self._progress(unit, method.name)
        started = time.perf_counter()
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
        if not np.issubdtype(predictions.dtype, np.integer) or (
            len(predictions) and (predictions.min() < 0 or predictions.max() >= len(plan.task.classes))
        ):
            raise MethodContractError(
                f"method {method.name!r} returned predictions that are not class indices 0..."
                f"{len(plan.task.classes) - 1} in the cell {where}"
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
            curves=task.curves,
            options=self.data.method_options.get(method.name, {}),
            uses_labels=method.uses_target_labels,
        )
        return cell, predictions

    def _predictions(self, plan: FoldPlan, predictions: np.ndarray) -> dict[str, Any]:
        classes = plan.task.classes
        return {
            "ids": [str(i) for i in plan.test.ids],
            "true": [classes[i] for i in plan.test.y],
            "pred": [classes[int(i)] for i in predictions],
        }

    def _task_for(
        self, method: Any, view: TransferTask, budget: Budget, plan: FoldPlan, scheme: str
    ) -> TransferTask:
        """The task one method gets at one budget: labels withheld where the method may not see them."""
        train_mask, val_mask = plan.train_masks[budget.label], plan.val_masks[budget.label]
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
        sources = [labelled] if plan.exp.within_corpus else list(view.sources)
        return TransferTask(
            classes=view.classes,
            sources=sources,
            target=target,
            modality=view.modality,
            seed=view.seed,
            options=dict(self.data.method_options.get(method.name, {})),
            feature_layout=view.feature_layout,
            unlabelled_target=unlabelled,
            normalisation=scheme,
            fold=view.fold,
            repeat=view.repeat,
            budget=budget.label,
            device=self.data.runtime.device,
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
        curves: list[dict[str, Any]] | None = None,
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
            "fold_seed": self.data.config.fold_seed,
            "folds": plan.fold.count,
            "test_speakers": list(plan.fold.test),
            "classes": classes,
            "scores": scores.to_dict(),
            "per_class_recall": recall,
            "validation": validation,
            "time_s": round(elapsed, 3),
            "runtime": self.data.runtime.facts(),
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
            "curves": curves or [],
        }


# -- failed cells -----------------------------------------------------------------------------------
def cell_description(exp: Experiment, budget: str, fold: int, repeat: int) -> str:
    """``sim-savee -> sim-emodb, budget 10%, fold 2, repeat 0`` (as messages name a cell)."""
    return f"{exp.label}, budget {budget}, fold {fold + 1}, repeat {repeat}"


def failed_cell(
    key: dict[str, Any],
    exp: Experiment,
    error: BaseException | None,
    where: str,
    *,
    error_type: str | None = None,
    message: str | None = None,
    trace: str | None = None,
) -> dict[str, Any]:
    """The record of a cell that did not finish: what failed, where, and the traceback."""
    kind = error_type or (type(error).__name__ if error is not None else "Error")
    text = message if message is not None else str(error)
    if trace is None and error is not None:
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {
        **key,
        "experiment": exp.label,
        "within_corpus": exp.within_corpus,
        "status": "failed",
        "error": {
            "type": kind,
            "message": text,
            "method": key["method"],
            "cell": where,
            "traceback": trace,
        },
    }


def is_failed(cell: dict[str, Any]) -> bool:
    return cell.get("status", "ok") == "failed"


__all__ = [
    "MAJORITY",
    "CellDone",
    "CellStarted",
    "Event",
    "MethodContractError",
    "MethodProgress",
    "Planner",
    "RunData",
    "UnitRunner",
    "WorkUnit",
    "cell_description",
    "checked_folds",
    "failed_cell",
    "shared_classes",
    "torch_threads",
]
