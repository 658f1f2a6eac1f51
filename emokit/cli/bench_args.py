"""``emokit bench``'s arguments as a run: the :class:`BenchConfig` (what to run) and the
:class:`Execution` (where to run it). Usage errors name the flag."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from emokit.bench.executors import check_picklable, check_ray_address
from emokit.bench.machine import DEFAULT_THREADS, CellRuntime, default_jobs, parse_positive, resolve_device
from emokit.bench.protocol import BenchConfig, Experiment
from emokit.cli.arguments import (
    UsageError,
    parse_options,
    parse_seeds,
    split_list,
)
from emokit.data.folds import FoldScheme, check_split_by, parse_budgets
from emokit.folders import cache_dir as default_cache_dir
from emokit.folders import data_root_from_env
from emokit.methods.normalisation import check_scheme
from emokit.options import OptionError
from emokit.registry import Registry
from emokit.suites import DEFAULT_SUITE, Suite

#: repeats of an experiment named with --target (or --matrix), when its suite sets none
DEFAULT_REPEATS = "2"
#: the default of --jobs when set (e.g. 1 on a shared machine)
JOBS_ENV = "EMOKIT_JOBS"
#: where result files go without --out
DEFAULT_OUT = Path("emokit-results")


def defaults_suite(registry: Registry) -> Suite | None:
    """The suite whose methods, features and reference are every run's defaults, if a plugin gives one."""
    return registry.providers["suite"].get(DEFAULT_SUITE)


def run_suite(args: argparse.Namespace, registry: Registry) -> Suite | None:
    """The suite this command runs: ``--suite NAME``, or the default one when no experiment is named;
    ``None`` when the command names its own experiment (``--target``, ``--matrix``)."""
    named = getattr(args, "suite", None)
    own = args.target is not None or getattr(args, "matrix", None)
    if getattr(args, "experiments", None):  # listed by a config file; a suite named there lends defaults
        return registry.suite(named) if named else None
    if named:
        if own or args.source:
            raise UsageError(
                f"--suite {named} runs its own experiments: give it without --source/--target/--matrix"
            )
        return registry.suite(named)
    if own:
        return None
    suite = defaults_suite(registry)
    if suite is None:
        known = ", ".join(registry.names("suite")) or "none is registered"
        raise UsageError(
            f"no experiment named and no {DEFAULT_SUITE!r} suite registered (suites: {known}): give "
            "--source and --target, --matrix, or --suite NAME"
        )
    return suite


def default_methods(registry: Registry, suite: Suite | None) -> list[str]:
    """The methods of ``suite`` (else of the default suite) that are registered."""
    suite = suite or defaults_suite(registry)
    names = [m for m in (suite.methods if suite else ()) if m in registry.providers["method"]]
    if not names:
        raise UsageError(
            "--method: no default methods (no suite names registered ones); name them, e.g. "
            f"--method {','.join(registry.names('method')[:2])}"
        )
    return names


def with_baselines(named: list[str], registry: Registry) -> list[str]:
    """``named`` followed by the baselines each named method asks to be compared with
    (:attr:`Method.compare_with`) that are registered and not named already."""
    methods = list(dict.fromkeys(named))
    for name in named:
        for other in registry.method(name).compare_with:
            if other not in methods and other in registry.providers["method"]:
                methods.append(other)
    return methods


def _features_for(modality: str, args: argparse.Namespace, registry: Registry, suite: Suite | None) -> str:
    if args.features:
        return args.features
    for candidate in (suite, defaults_suite(registry)):
        feature = candidate.feature_for(modality) if candidate else None
        if feature:
            return feature
    raise UsageError(
        f"--features: no suite gives a default feature for {modality!r}; name one "
        f"({', '.join(registry.names('feature'))})"
    )


def experiments_from_args(
    args: argparse.Namespace, registry: Registry, suite: Suite | None = None
) -> list[Experiment]:
    """The experiments that ``--source``, ``--target``, ``--matrix``, ``--suite``, ``--modality`` and
    ``--features`` ask for."""
    sources = split_list(args.source)
    listed = getattr(args, "experiments", None)
    if listed:  # named one by one in a config file (or recorded by a run)
        chosen = [e for e in listed if args.modality in (None, e["modality"])]
        if not chosen:
            raise UsageError(f"--modality {args.modality}: the config file names no such experiment")
        return [
            Experiment(
                tuple(e["sources"]),
                e["target"],
                e["modality"],
                args.features or e.get("features") or _features_for(e["modality"], args, registry, suite),
            )
            for e in chosen
        ]
    if getattr(args, "matrix", None):
        if sources or args.target:
            raise UsageError("--matrix replaces --source and --target; give one or the other")
        corpora = split_list(args.matrix)
        if len(corpora) < 2 or len(set(corpora)) != len(corpora):
            raise UsageError(f"--matrix {args.matrix!r}: expected two or more distinct corpora")
        modality = args.modality or "audio"
        features = _features_for(modality, args, registry, None)
        return [Experiment((src,), tgt, modality, features) for src in corpora for tgt in corpora]
    if args.target is None:
        if sources:
            raise UsageError("--source needs --target (the corpus to transfer into)")
        suite = suite or run_suite(args, registry)
        assert suite is not None
        chosen = [e for e in suite.experiments if args.modality in (None, e.modality)]
        if not chosen:
            raise UsageError(f"--modality {args.modality}: suite {suite.name!r} has no such experiment")
        return [
            Experiment(
                e.sources,
                e.target,
                e.modality,
                args.features or e.features or _features_for(e.modality, args, registry, suite),
            )
            for e in chosen
        ]
    if "," in args.target:
        raise UsageError(f"--target {args.target!r}: expected one corpus")
    modality = args.modality or "audio"
    if len(set(sources)) != len(sources):
        raise UsageError(f"--source {args.source!r}: a corpus is named twice")
    return [
        Experiment(
            tuple(sources) or (args.target,),
            args.target,
            modality,
            _features_for(modality, args, registry, None),
        )
    ]


def data_options_from_args(
    args: argparse.Namespace, registry: Registry, experiments: list[Experiment]
) -> dict[str, Any]:
    """``--data-option KEY=VALUE`` pairs, plus ``--sim-scale S`` and ``--sim-seed K``: the shorthands of
    ``--data-option scale=S`` / ``seed=K`` that they have always been, for the datasets of the run
    that take those options (ignored, as they always were, by a run whose datasets take none)."""
    options = {
        **(getattr(args, "file_data_options", None) or {}),
        **parse_options(getattr(args, "data_option", None) or [], flag="--data-option"),
    }
    names = dict.fromkeys(n for e in experiments for n in (*e.sources, e.target))
    taken = {o.name: o for n in names for o in registry.dataset(n).options}
    for flag, key in (("sim_scale", "scale"), ("sim_seed", "seed")):
        value = getattr(args, flag, None)
        if value is not None and key in taken:
            try:
                taken[key].parse(value, key)
            except OptionError:
                shown = "--" + flag.replace("_", "-")
                raise UsageError(f"{shown} {value}: expected {taken[key].describe_expected()}") from None
            options.setdefault(key, value)
    return options


def config_from_args(args: argparse.Namespace, registry: Registry) -> BenchConfig:
    """The :class:`BenchConfig` that ``emokit bench``'s arguments ask for; usage errors name the flag."""
    suite = run_suite(args, registry)
    named = [m for value in (args.method or []) for m in split_list(value)]
    methods = with_baselines(named, registry) if named and not args.no_baselines else named
    methods = methods or default_methods(registry, suite)
    options = {**(getattr(args, "file_options", None) or {}), **parse_options(args.option or [])}
    pretrained = getattr(args, "pretrained", None)
    if pretrained is not None:
        pretrained = Path(pretrained)
        if not pretrained.is_file():
            raise UsageError(f"--pretrained {pretrained}: no such file (expected a model state dict)")
        options["pretrained"] = str(pretrained.expanduser().resolve())
    data_root = Path(args.data_root).expanduser() if args.data_root else data_root_from_env()
    if data_root is not None and not data_root.is_dir():
        raise UsageError(f"--data-root {data_root}: no such folder")
    experiments = experiments_from_args(args, registry, suite)
    try:
        folds = FoldScheme.parse(args.folds or (suite.folds if suite and suite.folds else "auto"))
        fractions, shots = args.target_budget, args.target_shots
        if suite is not None and suite.budgets and fractions is None and shots is None:
            fractions = suite.budgets
        budgets = parse_budgets(fractions, shots)
        option_norm = options.pop("norm", None)
        norm = check_scheme(args.norm or (str(option_norm) if option_norm is not None else "corpus"))
        split_by = check_split_by(getattr(args, "split_by", None) or "speaker")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    reference = args.reference
    if reference is None:
        preferred = (suite or defaults_suite(registry) or Suite("", "", ())).reference
        reference = preferred if preferred in methods else None
    elif reference.lower() in ("none", "off"):
        reference = None
    elif reference not in methods:
        raise UsageError(
            f"--reference {reference!r}: not a method of this run (methods: {', '.join(methods)}; "
            "none turns the comparison off)"
        )
    repeats = str(suite.repeats) if suite is not None and suite.repeats else DEFAULT_REPEATS
    return BenchConfig(
        methods=methods,
        experiments=experiments,
        seeds=parse_seeds(args.seeds or repeats),
        data_root=data_root,
        cache_dir=Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir(),
        data_options=data_options_from_args(args, registry, experiments),
        options=options,
        folds=folds,
        fold_seed=args.fold_seed if args.fold_seed is not None else 0,
        budgets=budgets,
        norm=norm,
        reference=reference,
        suite=suite.name if suite is not None else None,
        split_by=split_by,
        label_maps=label_maps_from_args(args, registry),
    )


def label_maps_from_args(args: argparse.Namespace, registry: Registry) -> dict[str, Path]:
    """``--label-map NAME=FILE`` (and a config file's ``[label-map]``): corpus name -> the file that
    replaces its label map; the name must be a dataset and the file must exist."""
    pairs = {
        **{str(k): str(v) for k, v in (getattr(args, "file_label_maps", None) or {}).items()},
        **parse_options(getattr(args, "label_map", None) or [], flag="--label-map"),
    }
    maps: dict[str, Path] = {}
    for name, file in pairs.items():
        registry.dataset(name)  # an unknown name lists the datasets
        path = Path(file).expanduser()
        if not path.is_file():
            raise UsageError(
                f"--label-map {name}={file}: no such file (expected a JSON object or a two-column CSV "
                "of code,label)"
            )
        maps[name] = path.resolve()
    return maps


class Execution:
    """Where and how a run's cells execute (none of it changes a cell's numbers except the runtime,
    which the result file records per cell and ``--resume`` checks)."""

    def __init__(self, runtime: CellRuntime, jobs: int, executor: str, address: str | None) -> None:
        self.runtime = runtime
        self.jobs = jobs
        self.executor = executor
        self.address = address

    def describe(self) -> str:
        where = "this process" if self.jobs == 1 and self.executor == "local" else f"{self.jobs} worker(s)"
        if self.executor == "ray":
            where = f"Ray ({self.address or 'local instance'})"
        return f"{where}, device {self.runtime.device}, {self.runtime.threads} torch thread(s) per cell"


def execution_from_args(args: argparse.Namespace, registry: Registry, methods: list[str]) -> Execution:
    """``--jobs``, ``--threads``, ``--device``, ``--executor`` and ``--address``, checked before any
    work: a bad value, a device this machine lacks, ray missing or an address that does not answer,
    and a method that cannot travel to worker processes are each one clear error."""
    try:
        threads = parse_positive(getattr(args, "threads", None), "--threads") or DEFAULT_THREADS
        device = resolve_device(getattr(args, "device", None))
        jobs = parse_positive(getattr(args, "jobs", None), "--jobs")
        if jobs is None and os.environ.get(JOBS_ENV, "").strip():
            jobs = parse_positive(os.environ[JOBS_ENV], JOBS_ENV)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    executor = getattr(args, "executor", None) or "local"
    address = getattr(args, "address", None)
    if address is not None and executor != "ray":
        raise UsageError("--address is the Ray cluster of --executor ray; give --executor ray too")
    if executor == "ray":
        check_ray_address(address)
    jobs = jobs or default_jobs(threads, device)
    if jobs > 1 and executor == "local":  # (Ray pickles with cloudpickle, which takes more)
        check_picklable({name: registry.method(name) for name in methods}, jobs)
    return Execution(CellRuntime(device=device, threads=threads), jobs, executor, address)


# -- config files ----------------------------------------------------------------------------------
#: how a config file's value becomes the flag's value (the rest are taken as they are)
_AS_FLAG = {
    "method": lambda v: [",".join(v) if isinstance(v, list) else v],
    "source": lambda v: ",".join(v) if isinstance(v, list) else v,
    "matrix": lambda v: ",".join(v) if isinstance(v, list) else v,
    "target-budget": lambda v: ",".join(str(x) for x in v) if isinstance(v, list) else str(v),
    "target-shots": lambda v: ",".join(str(x) for x in v) if isinstance(v, list) else str(v),
    "folds": str,
    "jobs": str,
    "threads": str,
    "data-root": Path,
    "out": Path,
    "cache-dir": Path,
    "pretrained": Path,
    "plots": Path,
}
#: the flags that name the experiments: any of them given on the command line replaces the file's
_EXPERIMENT_FLAGS = ("source", "target", "matrix", "suite")


def given(value: Any) -> bool:
    """Whether a flag was given on the command line (its value is not the parser's empty default)."""
    return value is not None and value is not False and value != []


def apply_config(args: argparse.Namespace, config: dict[str, Any]) -> list[str]:
    """Fill the flags the command line did not give from ``config`` (a checked config file, see
    :func:`emokit.results.config.read_config_file`); return the keys the command line overrode.

    ``option`` and ``data-option`` merge key by key (the command line's ``--option`` wins);
    ``experiments`` stand unless the command line names experiments of its own."""
    overridden: list[str] = []
    own_experiments = any(given(getattr(args, flag, None)) for flag in _EXPERIMENT_FLAGS)
    for name, value in config.items():
        if own_experiments and (name == "experiments" or name in _EXPERIMENT_FLAGS):
            overridden.append(name)  # the command line's experiments replace all of the file's
            continue
        if name == "experiments":
            args.experiments = value
            continue
        if name == "option":
            args.file_options = value
            continue
        if name == "data-option":
            args.file_data_options = value
            continue
        if name == "label-map":
            args.file_label_maps = value
            continue
        dest = name.replace("-", "_")
        if given(getattr(args, dest, None)):
            overridden.append(name)
            continue
        setattr(args, dest, _AS_FLAG.get(name, lambda v: v)(value))
    return overridden
