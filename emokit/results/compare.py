"""Two runs compared cell by cell (``emokit compare A.json B.json``): what differs between them, and
for each (experiment, budget, method) B's UAR against A's on the cells both ran.

Cells are matched by :func:`~emokit.bench.results.cell_key` (sources, target, modality, features,
budget, method, fold, repeat), so a matched pair saw the same training rows and test speakers (when
the configs agree). Per (experiment, budget, method):

- the mean UAR of A and of B over the matched cells, and B − A;
- a paired permutation test over the matched cells' UARs (:func:`emokit.bench.stats.paired_permutation_test`);
- where both runs stored predictions for every matched cell and tested the same utterances, a paired
  bootstrap over the pooled test utterances (:func:`emokit.bench.stats.paired_bootstrap_uar`, an
  utterance's rows resampled together) with its 95 % interval and p;
- each test's p Holm-corrected across all the rows of the comparison.

:meth:`Comparison.regressions` gives the rows where B's mean is lower than A's by more than a
threshold in UAR percentage points: what ``emokit compare`` exits 1 on.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emokit.bench import stats
from emokit.bench.results import cell_key
from emokit.results.run import RunResults

#: a drop smaller than this (in points) is float noise of a mean, not a drop
_EPSILON_POINTS = 1e-9
_SHOW = reprlib.Repr()
_SHOW.maxstring = 80
_SHOW.maxother = 80
_SHOW.maxlist = 8
_SHOW.maxdict = 8


class _Absent:
    """A key one side does not have (shown as ``(absent)``)."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()

#: identity keys the config says already (or says better): not listed twice
_IDENTITY_IN_CONFIG = frozenset(
    {"emokit_version", "methods", "experiments", "raw_options", "norm", "folds", "fold_seed", "budgets",
     "repeats", "data_root"}
)  # fmt: skip

#: the sections of :attr:`Comparison.differences`, in the order they are listed
SECTIONS = ("config", "identity", "versions", "git commit", "kernel backend", "platform", "status")


@dataclass(frozen=True)
class Difference:
    """One key in which two runs differ: ``options.epochs: '150' -> '5'`` (``a``/``b`` may be
    :data:`ABSENT`)."""

    section: str
    key: str
    a: Any
    b: Any

    def __str__(self) -> str:
        return f"{self.key}: {_SHOW.repr(self.a)} -> {_SHOW.repr(self.b)}"


@dataclass
class ComparedRow:
    """B against A for one (experiment, budget, method) over the cells both ran (UAR as fractions).

    ``fold_test`` is the permutation test of B − A over matched cells; ``bootstrap`` the paired
    bootstrap of B − A over pooled test utterances, None with ``bootstrap_note`` saying why.
    """

    experiment: str
    sources: tuple[str, ...]
    target: str
    modality: str | None
    features: str | None
    budget: str
    method: str
    cells_a: int
    cells_b: int
    matched: int
    mean_a: float
    mean_b: float
    fold_test: stats.PairedTest
    fold_p_holm: float | None = None
    bootstrap: stats.BootstrapResult | None = None
    bootstrap_p_holm: float | None = None
    bootstrap_note: str | None = None

    @property
    def diff(self) -> float:
        """B − A, mean UAR over the matched cells (a fraction)."""
        return self.mean_b - self.mean_a

    @property
    def diff_points(self) -> float:
        """B − A in UAR percentage points."""
        return 100.0 * self.diff

    @property
    def label(self) -> str:
        """``sim-savee -> sim-emodb (audio, egemaps), budget 10%, pathnet``."""
        return f"{self.experiment} ({self.modality}, {self.features}), budget {self.budget}, {self.method}"


@dataclass
class Comparison:
    """Run B (the candidate) against run A (the baseline): see the module docstring.

    ``only_a``/``only_b`` are the keys of finished cells that only one run has; ``failed`` the keys
    finished in one run and failed in the other, with the run that failed (``"A"``/``"B"``).
    """

    a: RunResults = field(repr=False)
    b: RunResults = field(repr=False)
    differences: list[Difference]
    rows: list[ComparedRow]
    only_a: list[tuple]
    only_b: list[tuple]
    failed: list[tuple[tuple, str]] = field(default_factory=list)

    @property
    def matched_cells(self) -> int:
        """How many cells both runs finished."""
        return sum(row.matched for row in self.rows)

    def regressions(self, threshold_points: float = 0.0) -> list[ComparedRow]:
        """The rows where B's mean UAR is lower than A's by more than ``threshold_points`` UAR
        percentage points (0: any drop; an equal mean is no drop)."""
        if threshold_points < 0:
            raise ValueError(f"threshold_points must be >= 0, got {threshold_points}")
        return [row for row in self.rows if row.diff_points < -threshold_points - _EPSILON_POINTS]

    def differences_in(self, section: str) -> list[Difference]:
        """The differences of one of :data:`SECTIONS`."""
        return [d for d in self.differences if d.section == section]


def compare_runs(a: RunResults, b: RunResults, *, n_boot: int = 2000, seed: int = 0) -> Comparison:
    """Compare run ``b`` (candidate) with run ``a`` (baseline): their differences, then B − A per
    (experiment, budget, method) on matched cells (see the module docstring)."""
    ok_a = {cell_key(c): c for c in a.cells_in_run_order() if c.get("status", "ok") == "ok"}
    ok_b = {cell_key(c): c for c in b.cells_in_run_order() if c.get("status", "ok") == "ok"}
    failed_a = {cell_key(c) for c in a.failed_cells}
    failed_b = {cell_key(c) for c in b.failed_cells}
    failed = [(k, "B") for k in ok_a if k in failed_b] + [(k, "A") for k in ok_b if k in failed_a]
    groups: dict[tuple, list[tuple]] = {}
    for key in ok_a:
        if key in ok_b:
            groups.setdefault(key[:6], []).append(key)
    cells_a = _count_by_group(ok_a)
    cells_b = _count_by_group(ok_b)
    rows = [
        _compare_group(keys, ok_a, ok_b, a, b, cells_a[group], cells_b[group], n_boot=n_boot, seed=seed)
        for group, keys in groups.items()
    ]
    for attr, test in (("fold_p_holm", "fold_test"), ("bootstrap_p_holm", "bootstrap")):
        tests = [getattr(row, test) for row in rows]
        adjusted = stats.holm([t.p if t is not None else None for t in tests])
        for row, p in zip(rows, adjusted, strict=True):
            setattr(row, attr, p)
    return Comparison(
        a=a,
        b=b,
        differences=run_differences(a, b),
        rows=rows,
        only_a=[k for k in ok_a if k not in ok_b and k not in failed_b],
        only_b=[k for k in ok_b if k not in ok_a and k not in failed_a],
        failed=failed,
    )


def _count_by_group(cells: dict[tuple, dict[str, Any]]) -> dict[tuple, int]:
    counts: dict[tuple, int] = {}
    for key in cells:
        counts[key[:6]] = counts.get(key[:6], 0) + 1
    return counts


def _compare_group(
    keys: list[tuple],
    ok_a: dict[tuple, dict[str, Any]],
    ok_b: dict[tuple, dict[str, Any]],
    a: RunResults,
    b: RunResults,
    cells_a: int,
    cells_b: int,
    *,
    n_boot: int,
    seed: int,
) -> ComparedRow:
    uar_a = [float(ok_a[k]["scores"]["uar"]) for k in keys]
    uar_b = [float(ok_b[k]["scores"]["uar"]) for k in keys]
    first = ok_a[keys[0]]
    bootstrap, note = _bootstrap(keys, ok_a, ok_b, a, b, n_boot=n_boot, seed=seed)
    return ComparedRow(
        experiment=str(first.get("experiment") or f"{'+'.join(first['sources'])} -> {first['target']}"),
        sources=tuple(first["sources"]),
        target=first["target"],
        modality=first.get("modality"),
        features=first.get("features"),
        budget=str(keys[0][4]),
        method=first["method"],
        cells_a=cells_a,
        cells_b=cells_b,
        matched=len(keys),
        mean_a=float(np.mean(uar_a)),
        mean_b=float(np.mean(uar_b)),
        fold_test=stats.paired_permutation_test(uar_b, uar_a),
        bootstrap=bootstrap,
        bootstrap_note=note,
    )


def _bootstrap(
    keys: list[tuple],
    ok_a: dict[tuple, dict[str, Any]],
    ok_b: dict[tuple, dict[str, Any]],
    a: RunResults,
    b: RunResults,
    *,
    n_boot: int,
    seed: int,
) -> tuple[stats.BootstrapResult | None, str | None]:
    """The paired bootstrap of B − A over the pooled test utterances of the matched cells, or
    None and why not (a run without predictions, cells of other utterances or classes)."""
    for name, run in (("A", a), ("B", b)):
        if not run.predictions:
            return None, f"{name} stored no predictions"
    classes = list(ok_a[keys[0]].get("classes") or [])
    index = {c: i for i, c in enumerate(classes)}
    y, pred_a, pred_b, ids = [], [], [], []
    for key in keys:
        rec_a, rec_b = a.predictions.get(key), b.predictions.get(key)
        if rec_a is None or rec_b is None:
            return None, f"{'A' if rec_a is None else 'B'} has no predictions of a matched cell"
        if list(ok_b[key].get("classes") or []) != classes:
            return None, "the runs' cells have other classes"
        if rec_a["ids"] != rec_b["ids"] or rec_a["true"] != rec_b["true"]:
            return None, "the runs tested other utterances"
        try:
            y += [index[t] for t in rec_a["true"]]
            pred_a += [index[p] for p in rec_a["pred"]]
            pred_b += [index[p] for p in rec_b["pred"]]
        except KeyError:
            return None, "a prediction names a class the cell does not have"
        ids += [str(i) for i in rec_a["ids"]]
    if not y:
        return None, "the matched cells have no test utterance"
    result = stats.paired_bootstrap_uar(
        y, pred_b, pred_a, num_classes=len(classes), groups=ids, n_boot=n_boot, seed=seed
    )
    return result, None


# -- what differs ---------------------------------------------------------------------------------
def dict_differences(section: str, a: Any, b: Any, prefix: str = "") -> list[Difference]:
    """The dotted keys in which ``a`` and ``b`` differ (dicts walked key by key; lists of dicts of
    one length item by item, ``experiments[2].target``; anything else compared whole)."""
    out: list[Difference] = []

    def walk(key: str, x: Any, y: Any) -> None:
        if x == y:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for name in sorted(set(x) | set(y), key=str):
                walk(f"{key}.{name}" if key else str(name), x.get(name, ABSENT), y.get(name, ABSENT))
        elif (
            isinstance(x, list)
            and isinstance(y, list)
            and len(x) == len(y)
            and any(isinstance(v, dict) for v in (*x, *y))
        ):
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                walk(f"{key}[{i}]", u, v)
        elif x != y:
            out.append(Difference(section, key or section, x, y))

    walk(prefix, a, b)
    return out


def run_differences(a: RunResults, b: RunResults) -> list[Difference]:
    """What differs between two runs, by :data:`SECTIONS`: config, identity (typed per-method
    options, devices, corpus fingerprints; keys the config already lists left out), package
    versions, git commit, kernel backend and its facts, platform, status."""
    config_a, config_b = a.config, b.config
    if a.identity is not None and b.identity is not None:
        # the identities hold each method's typed option values; the config's raw options differ
        # in spelling alone when one run came from a config file (typed) and one from flags (text)
        config_a = {k: v for k, v in config_a.items() if k != "options"}
        config_b = {k: v for k, v in config_b.items() if k != "options"}
    out = dict_differences("config", config_a, config_b)
    identity_a = {k: v for k, v in (a.identity or {}).items() if k not in _IDENTITY_IN_CONFIG}
    identity_b = {k: v for k, v in (b.identity or {}).items() if k not in _IDENTITY_IN_CONFIG}
    if (a.identity is None) != (b.identity is None):
        out.append(
            Difference(
                "identity",
                "identity",
                "recorded" if a.identity else ABSENT,
                "recorded" if b.identity else ABSENT,
            )
        )
    else:
        out += dict_differences("identity", identity_a, identity_b)
    out += dict_differences("versions", a.data.get("versions") or {}, b.data.get("versions") or {})
    if a.data.get("git_commit") != b.data.get("git_commit"):
        out.append(Difference("git commit", "git commit", a.data.get("git_commit"), b.data.get("git_commit")))
    out += dict_differences(
        "kernel backend", a.data.get("kernel_backend") or {}, b.data.get("kernel_backend") or {}
    )
    out += dict_differences("platform", a.data.get("platform") or {}, b.data.get("platform") or {})
    if a.status != b.status:
        out.append(Difference("status", "status", a.status, b.status))
    return out


def describe_key(key: tuple) -> str:
    """A cell key for people: ``pathnet, sim-savee -> sim-emodb (audio, egemaps), budget 10%,
    fold 1, repeat 0`` (folds counted from 1)."""
    sources, target, modality, features, budget, method, fold, repeat = key
    where = f"{'+'.join(sources)} -> {target}" if list(sources) != [target] else f"{target} (within-corpus)"
    shown = fold + 1 if isinstance(fold, int) else fold  # counted from 1, as emokit bench prints folds
    return f"{method}, {where} ({modality}, {features}), budget {budget}, fold {shown}, repeat {repeat}"


__all__ = [
    "ABSENT",
    "SECTIONS",
    "ComparedRow",
    "Comparison",
    "Difference",
    "compare_runs",
    "describe_key",
    "dict_differences",
    "run_differences",
]
