"""PathNet genetic-search throughput: paths trained and evaluated per second, three engines compared.

Runs the same search (emokit_plugins.pathnet.search.evolve, same seed, same data, a fixed number of
generations) three ways, interleaved in one process:

``ext``     the ``batched`` engine on the compiled kernels (``engine="batched", backend="ext"``);
``torch``   the ``batched`` engine on the pure-PyTorch fallback (``backend="torch"``);
``serial``  the ``serial`` engine: one path at a time with plain torch ops, as public PathNet
            re-implementations do (a reference, not a backend).

The data are synthetic (seeded): rows shaped like emokit's inputs, ``audio`` (88 eGeMAPS
functionals) and ``visual`` (2304, a flattened 48x48 face crop), 6 classes, 600 training, 150
fitness and 150 validation rows. Before anything is timed, the engines run a 2-generation search
each and must agree (same genotypes at every generation, module parameters within 1e-4): engines
that disagree are never timed. Prints a table and writes every number to a JSON file.

    python benchmarks/pathnet_ga.py [--out FILE.json] [--repeats N] [--generations G] [--population P]
        [--width W] [--inputs audio,visual] [--threads T] [--quick]

Exit status: 0 when the run completed, 1 when the extension is missing (the fallback and the serial
engine are still timed) or the engines disagree, 2 for bad options.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from emokit.kernels import extension_state
from emokit.kernels._loader import BUILD_HINT
from emokit.kernels.profile import environment
from emokit.measure import TimingStats, load_average, machine_line, timestamped_path, write_report
from emokit.training import class_weights
from emokit_plugins.pathnet.model import Architecture, PathNet
from emokit_plugins.pathnet.search import SearchConfig, SearchResult, StageData, evolve

RESULTS = Path(__file__).resolve().parent / "results"
REPORT_FORMAT = 1

#: input kind -> features per row (eGeMAPS functionals; a flattened 48x48 face crop)
INPUTS = {"audio": 88, "visual": 2304}
#: engine name -> the SearchConfig fields that select it
ENGINES: dict[str, dict[str, str | None]] = {
    "ext": {"engine": "batched", "backend": "ext"},
    "torch": {"engine": "batched", "backend": "torch"},
    "serial": {"engine": "serial", "backend": None},
}
#: ratios reported, numerator / denominator of median paths/s
RATIOS = (("ext", "torch"), ("ext", "serial"), ("torch", "serial"))
CLASSES = 6
#: class shares of the synthetic labels (emotion corpora are imbalanced, so the loss is weighted)
CLASS_SHARES = (0.25, 0.2, 0.2, 0.15, 0.1, 0.1)
#: norm of each class's mean offset, in units of the per-feature noise (a learnable, not trivial task)
SEPARATION = 1.5
TRAIN_ROWS, FITNESS_ROWS, VAL_ROWS = 600, 150, 150
#: the agreement check run before timing: its generations, its dtype and its tolerance on parameters.
#: It runs in float64: in float32 the engines' rounding differs (sums in another order), and 20 Adam
#: steps amplify that (a near-zero gradient moves a weight by up to lr whatever its size; a ReLU input
#: within rounding of 0 flips), so equivalent engines end up to ~1e-3 apart on the 2304-wide input,
#: the pure-PyTorch ``torch`` and ``serial`` engines as much as any. In float64 they agree to ~1e-14.
CHECK_GENERATIONS = 2
CHECK_DTYPE = torch.float64
PARAM_ATOL = 1e-4


@dataclass(frozen=True)
class BenchConfig:
    """What the benchmark runs (``population``, ``generations``: the SearchConfig's; ``width``: the
    Architecture's; everything else in both at their defaults)."""

    inputs: tuple[str, ...] = ("audio", "visual")
    population: int = SearchConfig.population
    generations: int = 8
    width: int = Architecture.width
    repeats: int = 3
    warmup: int = 1
    threads: int | None = None
    seed: int = 0
    quick: bool = False

    def validate(self) -> None:
        unknown = [kind for kind in self.inputs if kind not in INPUTS]
        if unknown or not self.inputs:
            raise ValueError(f"--inputs must name some of {', '.join(INPUTS)}, got {','.join(self.inputs)!r}")
        if len(set(self.inputs)) != len(self.inputs):
            raise ValueError(f"--inputs names an input twice: {','.join(self.inputs)}")
        for name in ("generations", "width", "repeats"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ValueError(f"--warmup must be at least 0, got {self.warmup}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {self.threads}")
        self.search("serial")  # SearchConfig checks the population
        self.architecture("audio")

    def search(self, engine: str, generations: int | None = None) -> SearchConfig:
        """The search every engine runs: SearchConfig's defaults, no early stop, this engine."""
        return SearchConfig(
            population=self.population,
            generations=generations or self.generations,
            patience=None,
            **ENGINES[engine],  # type: ignore[arg-type]
        )

    def architecture(self, kind: str) -> Architecture:
        return Architecture(input_dim=INPUTS[kind], width=self.width)

    def to_json(self) -> dict[str, Any]:
        search = self.search("ext").to_dict()
        for key in ("engine", "backend"):
            search.pop(key)
        return {
            **asdict(self),
            "inputs": list(self.inputs),
            "search": search,
            "architectures": {kind: asdict(self.architecture(kind)) for kind in self.inputs},
            "data": {
                "classes": CLASSES,
                "class_shares": list(CLASS_SHARES),
                "separation": SEPARATION,
                "train_rows": TRAIN_ROWS,
                "fitness_rows": FITNESS_ROWS,
                "val_rows": VAL_ROWS,
            },
            "check": {
                "generations": CHECK_GENERATIONS,
                "dtype": str(CHECK_DTYPE).removeprefix("torch."),
                "param_atol": PARAM_ATOL,
            },
            "engines": ENGINES,
        }


QUICK_CONFIG = BenchConfig(inputs=("audio",), population=4, generations=2, width=16, repeats=1, quick=True)


# --- data and one search ------------------------------------------------------------------------------


def make_stage_data(input_dim: int, seed: int) -> StageData:
    """Synthetic, z-scored rows: Gaussian noise around one mean per class, imbalanced labels."""
    generator = torch.Generator().manual_seed(seed)
    means = torch.randn(CLASSES, input_dim, generator=generator)
    means *= SEPARATION / means.norm(dim=1, keepdim=True)
    shares = torch.tensor(CLASS_SHARES)

    def rows(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.multinomial(shares, n, replacement=True, generator=generator)
        return means[y] + torch.randn(n, input_dim, generator=generator), y

    (X_train, y_train), (X_fit, y_fit), (X_val, y_val) = rows(TRAIN_ROWS), rows(FITNESS_ROWS), rows(VAL_ROWS)
    mean, scale = X_train.mean(0), X_train.std(0).clamp_min(1e-6)  # z-scored with the training rows
    return StageData(
        X_train=(X_train - mean) / scale,
        y_train=y_train,
        X_fitness=(X_fit - mean) / scale,
        y_fitness=y_fit,
        X_val=(X_val - mean) / scale,
        y_val=y_val,
        num_classes=CLASSES,
        class_weights=class_weights(y_train.numpy(), CLASSES),
    )


@dataclass
class Run:
    """One search: its result, the model it left and the wall time of the whole ``evolve`` call."""

    result: SearchResult
    model: PathNet
    call_s: float

    def to_json(self, repeat: int) -> dict[str, Any]:
        r = self.result
        return {
            "repeat": repeat,
            "seconds": r.seconds,
            "call_s": self.call_s,
            "paths_evaluated": r.paths_evaluated,
            "paths_per_s": r.paths_per_s,
            "generation_seconds": [g.seconds for g in r.history],
            "distinct_paths": [g.distinct_paths for g in r.history],
            "best_fitness": r.best_fitness,
            "val_uar": r.val_uar,
            "best_generation": r.best_generation,
            "stopped_because": r.stopped_because,
        }


def as_dtype(data: StageData, dtype: torch.dtype) -> StageData:
    """``data`` with its feature rows in ``dtype`` (labels and class weights as they are)."""
    return replace(
        data, X_train=data.X_train.to(dtype), X_fitness=data.X_fitness.to(dtype), X_val=data.X_val.to(dtype)
    )


def run_search(
    config: BenchConfig, kind: str, data: StageData, engine: str, generations: int | None = None
) -> Run:
    """``evolve`` on a fresh PathNet; the model, the head and the search draw from fixed seeds.

    The model and the head take the dtype of ``data``'s rows (drawn in float32, then cast), so a
    float64 search starts from the same numbers as a float32 one.
    """
    dtype = data.X_train.dtype
    model = PathNet(config.architecture(kind), torch.Generator().manual_seed(config.seed + 1))
    if dtype != torch.float32:
        model.weights = [w.detach().to(dtype).requires_grad_() for w in model.weights]
        model.biases = [b.detach().to(dtype).requires_grad_() for b in model.biases]
    search = config.search(engine, generations)
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(config.seed + 2)
    # the head evolve would draw first from the search's generator, in the model's dtype
    head = tuple(t.detach().to(dtype).requires_grad_() for t in model.new_head(data.num_classes, generator))
    result = evolve(model, data, search, generator, head=head)  # type: ignore[arg-type]
    return Run(result, model, time.perf_counter() - start)


def _same_genotypes(a: SearchResult, b: SearchResult) -> bool:
    return len(a.genotypes) == len(b.genotypes) and all(
        torch.equal(x, y) for x, y in zip(a.genotypes, b.genotypes, strict=True)
    )


def _max_param_diff(a: Run, b: Run) -> float:
    """Largest absolute difference of the module weights, biases and the head of two searches."""
    pairs = zip(
        (*a.model.weights, *a.model.biases, *a.result.head),
        (*b.model.weights, *b.model.biases, *b.result.head),
        strict=True,
    )
    return max(float((x.detach() - y.detach()).abs().max()) for x, y in pairs)


def compare_runs(runs: Mapping[str, Run]) -> dict[str, dict[str, Any]]:
    """Each engine's search against the first one's: same genotypes at every generation, and the
    largest difference of the parameters it ended with."""
    reference = next(iter(runs.values()))
    return {
        engine: {
            "genotypes_equal": _same_genotypes(run.result, reference.result),
            "max_param_diff": _max_param_diff(run, reference),
        }
        for engine, run in runs.items()
    }


def check_engines(config: BenchConfig, kind: str, data: StageData, engines: Sequence[str]) -> dict[str, Any]:
    """A short search per engine in :data:`CHECK_DTYPE`; each must match the first one (genotypes
    exactly, parameters within :data:`PARAM_ATOL`).

    Returns ``{"generations", "dtype", "reference", "agree", "engines": {name: facts}, "error"}``.
    """
    data = as_dtype(data, CHECK_DTYPE)
    runs = {engine: run_search(config, kind, data, engine, CHECK_GENERATIONS) for engine in engines}
    reference = engines[0]
    facts: dict[str, Any] = {}
    errors = []
    for engine, compared in compare_runs(runs).items():
        same, diff = compared["genotypes_equal"], compared["max_param_diff"]
        facts[engine] = {**compared, "seconds": runs[engine].result.seconds}
        if not same:
            errors.append(f"{engine} evolved other genotypes than {reference}")
        if not diff <= PARAM_ATOL:  # also catches NaN
            errors.append(f"{engine}'s parameters differ from {reference}'s by {diff:.3g} (> {PARAM_ATOL:g})")
    return {
        "generations": CHECK_GENERATIONS,
        "dtype": str(CHECK_DTYPE).removeprefix("torch."),
        "reference": reference,
        "agree": not errors,
        "engines": facts,
        "error": "; ".join(errors) or None,
    }


# --- timing -------------------------------------------------------------------------------------------


def _spread(values: Sequence[float]) -> dict[str, Any]:
    stats = TimingStats.of(values)
    return {"median": stats.median_s, "iqr": stats.iqr_s, "values": list(stats.times_s)}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 and math.isfinite(a / b) else None


def time_input(
    config: BenchConfig, kind: str, data: StageData, engines: Sequence[str], console: Console
) -> dict[str, Any]:
    """Warm-up searches, then ``repeats`` rounds of one timed search per engine, interleaved."""
    for _ in range(config.warmup):
        for engine in engines:
            run_search(config, kind, data, engine)
    runs: dict[str, list[Run]] = {engine: [] for engine in engines}
    for repeat in range(config.repeats):
        for engine in engines:
            runs[engine].append(run_search(config, kind, data, engine))
        line = ", ".join(f"{e} {runs[e][-1].result.paths_per_s:.1f}" for e in engines)
        console.print(f"[dim]{kind} round {repeat + 1}/{config.repeats}: paths/s {line}[/]", highlight=False)

    reference = runs[engines[0]][0].result
    record: dict[str, Any] = {
        "input": kind,
        "input_dim": INPUTS[kind],
        "engines": {},
        "ratios": {},
        "paired_ratios": {},
        # In float32 longer searches than the check's may part on a near-tie of fitness (the engines
        # round differently, training amplifies it: see CHECK_DTYPE): recorded, not fatal, since the
        # work then differs a little (distinct paths per generation).
        "searches_agree": all(_same_genotypes(r.result, reference) for rs in runs.values() for r in rs),
        # The first timed searches compared as the check compares, for information.
        "float32_drift": compare_runs({engine: engine_runs[0] for engine, engine_runs in runs.items()}),
    }
    for engine, engine_runs in runs.items():
        record["engines"][engine] = {
            **ENGINES[engine],
            "paths_per_s": _spread([r.result.paths_per_s for r in engine_runs]),
            "seconds": TimingStats.of([r.result.seconds for r in engine_runs]).to_json(),
            # every repeat evolved the genotypes of the first (bitwise reproducible from the seed)
            "repeats_agree": all(_same_genotypes(r.result, engine_runs[0].result) for r in engine_runs),
            "runs": [r.to_json(repeat) for repeat, r in enumerate(engine_runs)],
        }
    for num, den in RATIOS:
        key = f"{num}/{den}"
        if num in runs and den in runs:
            medians = (record["engines"][name]["paths_per_s"]["median"] for name in (num, den))
            record["ratios"][key] = _ratio(*medians)
            record["paired_ratios"][key] = [
                _ratio(a.result.paths_per_s, b.result.paths_per_s)
                for a, b in zip(runs[num], runs[den], strict=True)
            ]
        else:
            record["ratios"][key] = None
    return record


def run_benchmark(config: BenchConfig, console: Console) -> dict[str, Any]:
    """Check the engines agree, then time them on every input kind; the report (see the README)."""
    config.validate()
    started, load = time.perf_counter(), load_average()
    state = extension_state()
    missing = None if state.loaded else (state.error or "emokit._C is not usable")
    engines = [e for e in ENGINES if e != "ext" or missing is None]
    if missing is not None:
        console.print(f"[yellow]![/] no ext engine: {missing}; timing torch and serial only", highlight=False)
    threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        data = {kind: make_stage_data(INPUTS[kind], config.seed) for kind in config.inputs}
        checks = {}
        for kind in config.inputs:
            checks[kind] = check_engines(config, kind, data[kind], engines)
            check = checks[kind]
            diff = max(facts["max_param_diff"] for facts in check["engines"].values())
            verdict = (
                f"agree (same genotypes, parameters within {diff:.1g})"
                if check["agree"]
                else f"DISAGREE: {check['error']}"
            )
            console.print(
                f"[dim]{kind}: check of {'/'.join(engines)}, {CHECK_GENERATIONS} generations in "
                f"{check['dtype']}: {verdict}[/]",
                highlight=False,
            )
        agree = all(check["agree"] for check in checks.values())
        results = (
            [time_input(config, kind, data[kind], engines, console) for kind in config.inputs]
            if agree
            else []
        )
        env = environment(torch.device("cpu"))  # torch threads as timed
    finally:
        torch.set_num_threads(threads)
    env["load_average"] = {"start": load, "end": load_average()}  # 1, 5, 15 min: others' work too
    return {
        "format": REPORT_FORMAT,
        "benchmark": "pathnet_ga",
        "status": "mismatch" if not agree else "no-extension" if missing is not None else "ok",
        "config": config.to_json(),
        "environment": env,
        "extension": {"available": missing is None, "reason": missing},
        "engines_timed": engines if agree else [],
        "check": checks,
        "wall_s": time.perf_counter() - started,
        "results": results,
    }


# --- output -------------------------------------------------------------------------------------------


def _rate(engine: Mapping[str, Any] | None) -> str:
    if engine is None:
        return "-"
    spread = engine["paths_per_s"]
    return f"{spread['median']:.1f} ± {spread['iqr']:.1f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def results_table(report: Mapping[str, Any]) -> Table:
    """One row per input kind: median paths/s (± IQR) per engine and the ratios of the medians."""
    config = report["config"]
    search = config["search"]
    table = Table(
        title=(
            f"PathNet GA throughput, paths trained and evaluated per second (median ± IQR of "
            f"{config['repeats']}): P={search['population']} T={search['steps']} "
            f"batch={search['batch_size']}, {search['generations']} generations"
        )
    )
    for name in ("input", "Din", "L/M/N/W", "distinct\nat end", "ext\npaths/s", "torch\npaths/s"):
        table.add_column(name, justify="right")
    for name in ("serial\npaths/s", "ext/\ntorch", "ext/\nserial", "torch/\nserial", "same\nsearch"):
        table.add_column(name, justify="right")
    for r in report["results"]:
        arch = config["architectures"][r["input"]]
        first = next(iter(r["engines"].values()))
        table.add_row(
            r["input"],
            str(r["input_dim"]),
            f"{arch['layers']}/{arch['modules']}/{arch['active']}/{arch['width']}",
            str(first["runs"][-1]["distinct_paths"][-1]),
            *(_rate(r["engines"].get(name)) for name in ENGINES),
            *(_x(r["ratios"][f"{num}/{den}"]) for num, den in RATIOS),
            "yes" if r["searches_agree"] else "[yellow]no[/]",
        )
    return table


def print_report(report: Mapping[str, Any], console: Console) -> None:
    if report["results"]:
        console.print(results_table(report))
    console.print(
        machine_line(
            report["environment"],
            f"paths/s = paths trained and scored / search seconds; {report['wall_s']:.0f} s in all",
        ),
        highlight=False,
    )
    for r in report["results"]:
        if not r["searches_agree"]:
            unstable = [name for name, engine in r["engines"].items() if not engine["repeats_agree"]]
            parted = [name for name, facts in r["float32_drift"].items() if not facts["genotypes_equal"]]
            first = next(iter(r["engines"]))
            console.print(
                f"[yellow]![/] {r['input']}: the timed float32 searches did not all evolve the same "
                f"genotypes (first searches that part from {first}'s: {', '.join(parted) or 'none'}; "
                f"engines whose repeats part: {', '.join(unstable) or 'none'}), so the work differs a little",
                highlight=False,
            )
    if report["status"] == "mismatch":
        for kind, check in report["check"].items():
            if not check["agree"]:
                console.print(
                    f"[red]error:[/] {kind}: the engines disagree after {check['generations']} generations "
                    f"({check['error']}); nothing was timed",
                    highlight=False,
                )
    if not report["extension"]["available"]:
        console.print(
            f"[yellow]![/] no ext column: {report['extension']['reason']}; {BUILD_HINT}", highlight=False
        )


def default_out() -> Path:
    """benchmarks/results/pathnet_ga-<host>-<date>.json (the folder is created when written)."""
    return timestamped_path(RESULTS, "pathnet_ga")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, help="JSON file (default: benchmarks/results/pathnet_ga-<host>-<date>.json)"
    )
    parser.add_argument("--inputs", help="input kinds, comma-separated: audio (Din 88), visual (Din 2304)")
    parser.add_argument("--population", type=int, help="P, paths in the population (default 32)")
    parser.add_argument("--generations", type=int, help="generations every search runs (default 8)")
    parser.add_argument("--width", type=int, help="units of every module (default 64)")
    parser.add_argument("--repeats", type=int, help="timed searches per engine and input (default 3)")
    parser.add_argument("--warmup", type=int, help="untimed searches per engine and input first (default 1)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, help="seed of the data, the model and the search (default 0)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny search (audio, P=4, 2 generations, 1 repeat) to try the script",
    )
    console = Console(width=max(Console().width, 130))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad options, 0 for --help
        return int(exc.code or 0)

    base = QUICK_CONFIG if args.quick else BenchConfig()
    options = {
        name: getattr(args, name)
        for name in ("population", "generations", "width", "repeats", "warmup", "threads", "seed")
        if getattr(args, name) is not None
    }
    if args.inputs is not None:
        options["inputs"] = tuple(kind.strip() for kind in args.inputs.split(",") if kind.strip())
    config = BenchConfig(**{**asdict(base), **options})
    try:
        config.validate()
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return 2
    report = run_benchmark(config, console)
    print_report(report, console)
    path = write_report(report, args.out or default_out())
    console.print(f"results written to {path}", highlight=False)
    return 0 if report["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
