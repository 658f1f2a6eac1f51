"""The cross-corpus protocol: load corpora, extract features, fold by speaker, budget, run, score.

One *cell* is (experiment, target budget, method, fold, repeat). Within one (experiment, fold,
repeat) every method sees the same speakers, the same labelled rows at each budget and the same
normalised features, so methods are compared on identical test utterances (matched cells). Each
finished cell is written to the result file at once, so an interrupted run keeps everything it
finished. Cells run in this process, in local worker processes or as Ray tasks
(:mod:`emokit.bench.executors`); how a cell is computed is in :mod:`emokit.bench.units`.

The runner enforces what a method may see (see :class:`~emokit.methods.task.TransferTask`): test
labels never reach a method (the runner scores), a method that declares it uses no target labels
gets every target split without labels, and features are normalised before any method sees them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from emokit._version import __version__
from emokit.bench.cells import CorpusFeatures, jsonable
from emokit.bench.config import BenchConfig, Experiment, Reporter
from emokit.bench.executors import (
    ExecutorError,
    InProcessExecutor,
    LocalPoolExecutor,
    RayExecutor,
    check_picklable,
    check_ray_address,
)
from emokit.bench.machine import CellRuntime, usable_cores
from emokit.bench.results import ResultFile, cell_key
from emokit.bench.units import (
    MAJORITY,
    CellDone,
    CellStarted,
    MethodContractError,
    MethodProgress,
    RunData,
    WorkUnit,
    cell_description,
    checked_folds,
    failed_cell,
    shared_classes,
)
from emokit.data.corpus import MODALITIES, Corpus, LoadProblem, provides, simulation_marker
from emokit.data.labels import COMMON_LABELS, LabelMap, read_label_map, relabel
from emokit.data.provider import LoadContext
from emokit.features.cache import compute_features
from emokit.features.extractor import FeatureExtractor
from emokit.methods.normalisation import check_scheme
from emokit.methods.options import check_option_keys, method_option_values
from emokit.options import OptionError, option_values
from emokit.options import check_option_keys as check_option_keys_of
from emokit.registry import Registry

__all__ = [
    "MAJORITY",
    "BenchConfig",
    "BenchRunner",
    "ExecutorError",
    "Experiment",
    "MethodContractError",
    "Reporter",
]


class BenchRunner:
    """Runs a :class:`BenchConfig` against the plugins of a :class:`Registry`."""

    def __init__(
        self,
        registry: Registry,
        config: BenchConfig,
        reporter: Reporter | None = None,
        runtime: CellRuntime | None = None,
    ):
        self.registry = registry
        self.config = config
        self.reporter = reporter or Reporter()
        self.runtime = runtime or CellRuntime()
        self._folds: dict[tuple[int, int], list[int]] | None = None
        #: processes that extract features (the run's --jobs, at most the cores here)
        self.extract_jobs = 1
        self._corpora: dict[str, Corpus] = {}
        self._features: dict[tuple[str, str, str], CorpusFeatures] = {}
        self.problems: dict[str, list[LoadProblem]] = {}
        self.option_warnings: list[str] = []
        self.method_options: dict[str, dict[str, Any]] = {}
        #: each dataset's options, typed (the ``--data-option`` values and the defaults)
        self.dataset_options: dict[str, dict[str, Any]] = {}
        #: each feature extractor's options, typed (``--option NAME.KEY`` and the defaults)
        self.feature_options: dict[str, dict[str, Any]] = {}
        self._extractors: dict[str, FeatureExtractor] = {}
        #: the label map each loaded corpus was harmonised with (``None``: its provider's own way)
        self.label_maps: dict[str, LabelMap | None] = {}
        self._label_map_files: dict[str, LabelMap] = {}
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
        method_raw, feature_raw = self._split_options(self.config.options)
        self.option_warnings = check_option_keys(methods, method_raw)
        self.method_options = {m.name: method_option_values(m, method_raw) for m in methods}
        self._configure_extractors(feature_raw)
        datasets = [
            self.registry.dataset(name)
            for name in dict.fromkeys(n for e in self.config.experiments for n in (*e.sources, e.target))
        ]
        self.option_warnings += check_option_keys_of(
            datasets, self.config.data_options, flag="--data-option", kind="dataset"
        )
        self.dataset_options = {
            d.name: option_values(d, self.config.data_options, flag="--data-option", kind="dataset")
            for d in datasets
            if d.options
        }
        self._label_map_files = {
            name: read_label_map(path, corpus=name) for name, path in self.config.label_maps.items()
        }
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
            extractor = self.extractor(exp.features)
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

    def _split_options(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``--option`` keys for the methods, and those scoped to a feature extractor of the run
        (``ssl.model``): extractor options are always written ``NAME.KEY``."""
        methods = set(self.config.methods)
        run_features = {e.features for e in self.config.experiments}
        registered = set(self.registry.names("feature"))
        method_raw, feature_raw = {}, {}
        for key, value in raw.items():
            prefix, dot, _ = key.partition(".")
            if not dot or prefix in methods:
                method_raw[key] = value
            elif prefix in run_features:
                feature_raw[key] = value
            elif prefix in registered:
                raise OptionError(
                    f"--option {key}: the features {prefix!r} are not used by this run "
                    f"(its features: {', '.join(sorted(run_features))})"
                )
            else:
                method_raw[key] = value
        return method_raw, feature_raw

    def _configure_extractors(self, feature_raw: dict[str, Any]) -> None:
        """The extractors of the run, set up with their ``--option NAME.KEY`` values on the device."""
        names = dict.fromkeys(e.features for e in self.config.experiments)
        extractors = [self.registry.feature(name) for name in names]
        self.option_warnings += check_option_keys_of(extractors, feature_raw, kind="feature")
        self.feature_options = {
            e.name: option_values(e, feature_raw, kind="feature") for e in extractors if e.options
        }
        self._extractors = {}
        for extractor in extractors:
            values = self.feature_options.get(extractor.name, {})
            try:
                self._extractors[extractor.name] = extractor.configured(values, device=self.runtime.device)
            except (ValueError, OSError) as exc:
                raise ValueError(f"features {extractor.name!r}: {exc}") from None

    def extractor(self, name: str) -> FeatureExtractor:
        """The run's instance of the feature extractor ``name`` (its options applied)."""
        if name not in self._extractors:  # not one of the run's experiments' (a caller's own use)
            self._extractors[name] = self.registry.feature(name).configured({}, device=self.runtime.device)
        return self._extractors[name]

    # -- data ----------------------------------------------------------------------------------
    def _context(self) -> LoadContext:
        return LoadContext(
            data_root=self.config.data_root,
            cache_dir=self.config.cache_dir,
            options=dict(self.config.data_options),
            progress=self.reporter.progress,
            providers=dict(self.registry.providers["dataset"]),
        )

    def corpus(self, name: str) -> Corpus:
        """Load (once per run) the corpus registered as ``name``; say so when it is simulated."""
        if name not in self._corpora:
            provider = self.registry.dataset(name)
            corpus = provider.load(self._context())
            self.label_maps[name] = self._label_map_files.get(name) or provider.label_map
            if name in self._label_map_files:
                corpus = relabel(corpus, self._label_map_files[name])
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
                self.extractor(features),
                cache_dir=self.config.cache_dir,
                progress=self.reporter.progress,
                jobs=self.extract_jobs,
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
                sentences=np.array([by_id[i].sentence or "" for i in ids], dtype=object),
            )
        return self._features[key]

    # -- the plan --------------------------------------------------------------------------------
    def classes_of(self, exp: Experiment) -> list[str]:
        """The harmonised classes shared by every corpus of ``exp`` (at least two)."""
        names = (*exp.sources, exp.target)
        return shared_classes(exp, [set(self.features(n, exp.modality, exp.features).labels) for n in names])

    def check_plan(self) -> int:
        """Check, before any feature is extracted, that every fold and budget is possible; return
        the number of cells (methods and the majority-class row) the run holds.

        Raises:
            FoldError: folds or budgets a target cannot give, naming the corpus and what would work.
        """
        total = 0
        self._folds = {}
        for index, exp in enumerate(self.config.experiments):
            corpora = {n: self.corpus(n).with_modality(exp.modality) for n in (*exp.sources, exp.target)}
            classes = shared_classes(exp, [set(c.labels) for c in corpora.values()])
            target = corpora[exp.target]
            labels = np.array([u.label for u in target.utterances])
            speakers = np.array([u.speaker for u in target.utterances])
            sentences = np.array([u.sentence or "" for u in target.utterances], dtype=object)
            for repeat in range(len(self.config.seeds)):
                folds = checked_folds(self.config, exp, classes, labels, speakers, repeat, sentences)
                self._folds[(index, repeat)] = [rows.fold.index for rows in folds]
                total += len(folds) * len(self.config.budgets) * (len(self.config.methods) + 1)
        return total

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
            # only where it is not the default, so that older runs' identities stay as they were
            **({"split_by": config.split_by} if config.split_by != "speaker" else {}),
            "fold_seed": config.fold_seed,
            "budgets": [b.label for b in config.budgets],
            "repeats": list(config.seeds),
            "data_options": {name: jsonable(values) for name, values in self.dataset_options.items()},
            # only where an extractor takes options, so that older runs' identities stay as they were
            # with the params the feature cache keys on (an ssl checkpoint's content hash)
            **(
                {
                    "feature_options": {n: jsonable(v) for n, v in self.feature_options.items()},
                    "feature_params": {n: jsonable(self.extractor(n).params()) for n in self.feature_options},
                }
                if self.feature_options
                else {}
            ),
            "data_root": str(config.data_root) if config.data_root else None,
            # the numbers of a cell depend on its device and thread count: never mix them in one file
            "device": self.runtime.device,
            "torch_threads": self.runtime.threads,
            "corpora": {name: corpus.fingerprint for name, corpus in sorted(self._corpora.items())},
            # the labels a corpus's files are read with change its cells: overridden maps are identity
            **(
                {"label_maps": {n: dict(m.codes) for n, m in sorted(self._label_map_files.items())}}
                if self._label_map_files
                else {}
            ),
        }

    # -- the protocol ------------------------------------------------------------------------
    def run_data(self, on_failed: Callable[[dict[str, Any]], None] | None = None) -> tuple[RunData, set[int]]:
        """Extract (or read from the cache) the features of every experiment, once per corpus; the
        data workers need, and the experiments whose features could not be computed (each of
        their cells is handed to ``on_failed`` as a failed cell)."""
        features: dict[tuple[str, str, str], CorpusFeatures] = {}
        layouts: dict[str, Any] = {}
        failed: set[int] = set()
        for index, exp in enumerate(self.config.experiments):
            try:
                for name in (*exp.sources, exp.target):
                    features[(name, exp.modality, exp.features)] = self.features(
                        name, exp.modality, exp.features
                    )
                if exp.features not in layouts:
                    layouts[exp.features] = self.extractor(exp.features).layout()
                classes = self.classes_of(exp)
            except Exception as exc:
                failed.add(index)
                self.reporter.warn(
                    f"{exp.label}: {type(exc).__name__}: {exc}; its cells are recorded as failed"
                )
                if on_failed is not None:
                    for key in self._experiment_keys(index):
                        where = cell_description(exp, key["budget"]["label"], key["fold"], key["repeat"])
                        on_failed(failed_cell(key, exp, exc, f"{where}: extracting {exp.features} features"))
                continue
            everything = set().union(
                *(set(features[(n, exp.modality, exp.features)].labels) for n in (*exp.sources, exp.target))
            )
            dropped = sorted(everything - set(classes))
            self.reporter.info(
                f"{exp.label} ({exp.modality}, {exp.features}): {len(classes)} shared classes: "
                f"{', '.join(classes)}" + (f"; left out: {', '.join(dropped)}" if dropped else "")
            )
        data = RunData(self.config, features, layouts, self.method_options, self.runtime)
        return data, failed

    def _experiment_keys(self, index: int) -> list[dict[str, Any]]:
        keys = []
        for repeat in range(len(self.config.seeds)):
            for method in (MAJORITY, *self.config.methods):
                unit = WorkUnit(0, index, repeat, method, tuple(self._folds[(index, repeat)]))
                keys.extend(unit.keys(self.config))
        return keys

    def work_units(self, data: RunData, skip: set[tuple], slots: int, failed: set[int]) -> list[WorkUnit]:
        """The units of the run not finished yet (the longest first when several run at once).

        A unit is one method's cells of one (experiment, repeat) on all its folds, so a method's
        caches (a source stage evolved once for every target fold) serve the whole unit; when that
        gives fewer than two units per slot, each fold is a unit of its own, so every slot has work.
        """
        groups = [
            (index, repeat, method)
            for index in range(len(self.config.experiments))
            if index not in failed
            for repeat in range(len(self.config.seeds))
            for method in (MAJORITY, *self.config.methods)
        ]
        by_fold = len(groups) < 2 * slots
        frozen = frozenset(skip)
        units: list[tuple[float, WorkUnit]] = []
        for index, repeat, method in groups:
            folds = self._folds[(index, repeat)]
            for part in [(f,) for f in folds] if by_fold else [tuple(folds)]:
                unit = WorkUnit(len(units), index, repeat, method, part, frozen)
                todo = [k for k in unit.keys(self.config) if cell_key(k) not in frozen]
                if todo:
                    units.append((0.0 if method == MAJORITY else self._cost(data, index) * len(todo), unit))
        # several slots: the longest first, so no slot is left with a long unit at the end (stable:
        # the run's own order among equals); one slot: the run's order
        ordered = sorted(units, key=lambda item: -item[0]) if slots > 1 else units
        return [replace(unit, index=i) for i, (_, unit) in enumerate(ordered)]

    def _cost(self, data: RunData, index: int) -> float:
        """A unit's cells' relative cost: the feature values its corpora hold (rows x dimensions)."""
        exp = self.config.experiments[index]
        return float(
            sum(data.features[(n, exp.modality, exp.features)].X.size for n in (*exp.sources, exp.target))
        )

    def run(
        self,
        results: ResultFile,
        *,
        jobs: int = 1,
        executor: str = "local",
        address: str | None = None,
    ) -> int:
        """Run every cell that ``results`` does not hold finished yet (failed ones run again),
        appending each to ``results`` as it finishes; return the number of failed cells.

        ``jobs`` cells run at once (worker processes when more than one); ``executor="ray"`` runs
        them as Ray tasks (on the cluster at ``address``, or a local Ray instance).

        Raises:
            ExecutorError: the executor cannot start (ray missing, a method that cannot be pickled).
        """
        if self._folds is None:
            self.check_plan()
        failures = [0]
        skip = {cell_key(c) for c in results.cells if c.get("status", "ok") == "ok"}
        self.extract_jobs = max(1, min(jobs, usable_cores()))

        def record(cell: dict[str, Any], predictions: dict[str, Any] | None = None, slot: int = 0) -> None:
            if cell_key(cell) in skip:  # an experiment whose features failed: its finished cells stay
                return
            if cell.get("status") == "failed":
                failures[0] += 1
            results.add_cell(cell, predictions)
            self.reporter.cell_finished(cell, slot=slot)

        data, failed = self.run_data(on_failed=record)
        methods = {name: self.registry.method(name) for name in self.config.methods}
        if executor == "ray":
            check_ray_address(address)
        runner = self._executor(data, methods, jobs, executor, address)
        units = self.work_units(data, skip, runner.slots, failed)
        by_index = {u.index: u for u in units}

        def on_event(event: Any, slot: int) -> None:
            if isinstance(event, CellDone):
                record(event.cell, event.predictions, slot)
            elif isinstance(event, CellStarted):
                exp = self.config.experiments[by_index[event.unit].experiment]
                self.reporter.cell_started(exp, event.seed, event.method, slot=slot)
            elif isinstance(event, MethodProgress):
                self.reporter.method_progress(
                    event.method, event.stage, event.done, event.total, event.figures, slot=slot
                )

        try:
            runner.run(units, on_event)
        finally:
            runner.close()
        return failures[0]

    def _executor(
        self, data: RunData, methods: dict[str, Any], jobs: int, executor: str, address: str | None
    ):
        if executor == "ray":
            return RayExecutor(data, methods, jobs, address)
        if jobs <= 1:
            return InProcessExecutor(data, methods)
        check_picklable(methods, jobs)
        return LocalPoolExecutor(data, methods, jobs)

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
                "sentences": len({u.sentence for u in corpus.utterances if u.sentence}),
                "vocabulary": list(COMMON_LABELS),
                "label_map": label_map.to_dict() if (label_map := self.label_maps.get(name)) else None,
                "problems": [
                    {"path": str(p.path), "reason": p.reason, "skipped": p.skipped}
                    for p in self.problems.get(name, [])
                ],
            }
        return out
