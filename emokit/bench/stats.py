"""Statistics for comparing transfer methods: confidence intervals, paired tests, bootstrap of UAR.

scipy does the tests it has (Student t, permutation test, Wilcoxon signed-rank); the paired
bootstrap of UAR and the Holm correction are written here, vectorised with numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

_PERMUTATION_NAME = "paired permutation test (sign flips of the differences)"


@dataclass(frozen=True)
class Interval:
    """Mean of a sample with its Student-t confidence interval (``low``/``high`` None for n == 1)."""

    mean: float
    std: float  # sample standard deviation (ddof=1), 0.0 for n == 1
    low: float | None
    high: float | None
    n: int
    level: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PairedTest:
    """Result of a two-sided paired test of ``a`` against ``b``.

    ``statistic`` is the mean of ``a - b`` for the permutation test and scipy's signed-rank statistic
    (the smaller of the two rank sums) for the Wilcoxon test.
    """

    test: str
    p: float
    statistic: float
    n: int
    exact: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BootstrapResult:
    """Paired bootstrap of the UAR difference of two predictions of one test set."""

    uar_a: float
    uar_b: float
    diff: float  # uar_a - uar_b on all rows
    low: float  # percentile confidence interval of the difference
    high: float
    p: float  # two-sided bootstrap p-value of "no difference"
    n_rows: int
    n_units: int  # resampled units: distinct groups, or rows without groups
    n_boot: int
    test: str

    def to_dict(self) -> dict:
        return asdict(self)


def _check_level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(level)


def _as_1d_float(values: Sequence[float], name: str) -> np.ndarray:
    """``values`` as a finite 1-D float64 array, or ValueError naming the argument."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _paired(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` as finite 1-D float64 arrays of one non-zero length."""
    x, y = _as_1d_float(a, "a"), _as_1d_float(b, "b")
    if len(x) != len(y):
        raise ValueError(f"a and b must have one length, got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ValueError("a and b are empty")
    return x, y


def mean_ci(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean ± Student-t confidence interval ``t_{(1+level)/2, n-1} * std / sqrt(n)``.

    ``std`` is the sample standard deviation (ddof=1, 0.0 for a single value); with a single value
    there is no interval and ``low``/``high`` are None.
    """
    level = _check_level(level)
    x = _as_1d_float(values, "values")
    n = len(x)
    if n == 0:
        raise ValueError("values is empty")
    mean = float(np.mean(x))
    if n == 1:
        return Interval(mean=mean, std=0.0, low=None, high=None, n=1, level=level)
    std = float(np.std(x, ddof=1))
    half = float(stats.t.ppf((1.0 + level) / 2.0, n - 1)) * std / math.sqrt(n)
    return Interval(mean=mean, std=std, low=mean - half, high=mean + half, n=n, level=level)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def paired_permutation_test(
    a: Sequence[float],
    b: Sequence[float],
    *,
    exact_max_n: int = 18,
    n_resamples: int = 100_000,
    seed: int = 0,
) -> PairedTest:
    """Two-sided sign-flip permutation test of the paired differences ``d = a - b``, statistic mean(d).

    Exact (all 2^n sign vectors) when ``n <= exact_max_n``, otherwise ``n_resamples`` random sign
    vectors drawn from a generator seeded by ``seed``. The exact p-value is the share of sign vectors
    ``s`` with ``|mean(s * d)| >= |mean(d)|`` (scipy treats values within a relative 100 machine
    epsilons as ties); all-zero differences and a single pair give p = 1.
    """
    x, y = _paired(a, b)
    d = x - y
    n = len(d)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    statistic = float(np.mean(d))
    # scipy enumerates all sign vectors by itself once n_resamples reaches 2^n
    exact = n <= exact_max_n or 2**n <= n_resamples
    test = f"{_PERMUTATION_NAME}, " + (f"exact over 2^{n}" if exact else f"{n_resamples} random sign flips")
    if not np.any(d):
        return PairedTest(test=test, p=1.0, statistic=0.0, n=n, exact=exact)
    if n == 1:  # scipy refuses one pair; both sign vectors reach |d|
        return PairedTest(test=test, p=1.0, statistic=statistic, n=n, exact=exact)
    res = stats.permutation_test(
        (x, y),
        _mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=np.inf if exact else n_resamples,
        batch=1 << 15,  # bounds memory of the exact enumeration (2^18 x 18 index pairs)
        alternative="two-sided",
        rng=np.random.default_rng(seed),  # scipy >= 1.15; random_state=int means a legacy RandomState
    )
    return PairedTest(test=test, p=float(res.pvalue), statistic=statistic, n=n, exact=exact)


def wilcoxon_test(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test of ``a - b`` (zero differences dropped, as Wilcoxon did).

    Exact null distribution when n <= 50 with no zero differences and no ties in ``|a - b|``,
    otherwise the normal approximation (scipy's ``method="asymptotic"``, no continuity correction).
    All-zero differences give p = 1.
    """
    x, y = _paired(a, b)
    d = x - y
    n = len(d)
    abs_d = np.abs(d)
    exact = n <= 50 and bool(np.all(abs_d > 0)) and len(np.unique(abs_d)) == n
    test = "Wilcoxon signed-rank test, " + ("exact" if exact else "normal approximation")
    if not np.any(d):
        return PairedTest(test=test, p=1.0, statistic=0.0, n=n, exact=exact)
    res = stats.wilcoxon(d, method="exact" if exact else "asymptotic", alternative="two-sided")
    return PairedTest(test=test, p=float(res.pvalue), statistic=float(res.statistic), n=n, exact=exact)


def _class_indices(y: Sequence[int], name: str, num_classes: int) -> np.ndarray:
    """``y`` as a 1-D int64 array of class indices in [0, num_classes), or ValueError naming it."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    integral = arr.dtype.kind in "iu" or (arr.dtype.kind == "f" and bool(np.all(np.mod(arr, 1) == 0)))
    if arr.size and not integral:
        raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(f"{name} has class indices outside [0, {num_classes})")
    return arr


def _uar(correct: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """UAR per row of ``[..., num_classes]`` correct counts and class totals (absent classes left out)."""
    present = totals > 0
    recall = np.divide(correct, totals, out=np.zeros_like(correct), where=present)
    return recall.sum(axis=-1) / present.sum(axis=-1)


def paired_bootstrap_uar(
    y_true: Sequence[int],
    pred_a: Sequence[int],
    pred_b: Sequence[int],
    *,
    num_classes: int,
    groups: Sequence | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> BootstrapResult:
    """Paired bootstrap of ``UAR(pred_a) - UAR(pred_b)`` on one test set.

    UAR is the mean over the classes present in ``y_true`` of per-class recall (scikit-learn's
    balanced accuracy). Units (the distinct values of ``groups``, e.g. utterance ids whose rows are
    repeats of one utterance; else single rows) are drawn with replacement ``n_units`` times, ``n_boot``
    times, from ``np.random.default_rng(seed)``; both predictions are scored on the same draw.
    Classes absent from a resample are left out of its UAR. The interval is the percentile interval of
    the resampled differences; ``p = min(1, 2 * min((#{d* <= 0} + 1), (#{d* >= 0} + 1)) / (B + 1))``.
    """
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    level = _check_level(level)
    y = _class_indices(y_true, "y_true", num_classes)
    pa = _class_indices(pred_a, "pred_a", num_classes)
    pb = _class_indices(pred_b, "pred_b", num_classes)
    n_rows = len(y)
    if n_rows == 0:
        raise ValueError("y_true is empty")
    for name, arr in (("pred_a", pa), ("pred_b", pb)):
        if len(arr) != n_rows:
            raise ValueError(f"{name} has {len(arr)} rows, y_true has {n_rows}")
    if groups is None:
        unit_of_row = None
    else:
        g = np.asarray(groups)
        if g.ndim != 1 or len(g) != n_rows:
            raise ValueError(f"groups must be 1-D with {n_rows} rows like y_true, got shape {g.shape}")
        _, unit_of_row = np.unique(g, return_inverse=True)
        unit_of_row = unit_of_row.reshape(-1)

    # per-unit counts [n_units, 3 * num_classes]: class totals, correct of a, correct of b
    onehot = np.zeros((n_rows, num_classes))
    onehot[np.arange(n_rows), y] = 1.0
    row_counts = np.concatenate([onehot, onehot * (pa == y)[:, None], onehot * (pb == y)[:, None]], axis=1)
    if unit_of_row is None:
        unit_counts = row_counts
    else:
        unit_counts = np.zeros((int(unit_of_row.max()) + 1, 3 * num_classes))
        np.add.at(unit_counts, unit_of_row, row_counts)
    n_units = len(unit_counts)

    def uar_pair(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        totals, ca, cb = np.split(counts, 3, axis=-1)
        return _uar(ca, totals), _uar(cb, totals)

    full_a, full_b = uar_pair(unit_counts.sum(axis=0))
    uar_a, uar_b = float(full_a), float(full_b)

    # W [n_boot, n_units]: how often each unit is drawn (multinomial counts); products with the unit
    # counts give every resample's totals. Chunked so W stays under ~16 MB.
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, (1 << 21) // n_units))
    diffs = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.integers(0, n_units, size=(size, n_units))
        flat = draws + (np.arange(size) * n_units)[:, None]
        weights = np.bincount(flat.ravel(), minlength=size * n_units).reshape(size, n_units)
        boot_a, boot_b = uar_pair(weights.astype(np.float64) @ unit_counts)
        diffs[start : start + size] = boot_a - boot_b

    alpha = 1.0 - level
    low, high = np.quantile(diffs, [alpha / 2.0, 1.0 - alpha / 2.0])
    tail = min(np.count_nonzero(diffs <= 0), np.count_nonzero(diffs >= 0))
    p = min(1.0, 2.0 * (tail + 1) / (n_boot + 1))
    return BootstrapResult(
        uar_a=uar_a,
        uar_b=uar_b,
        diff=uar_a - uar_b,
        low=float(low),
        high=float(high),
        p=float(p),
        n_rows=n_rows,
        n_units=n_units,
        n_boot=int(n_boot),
        test=f"paired bootstrap of the UAR difference, {n_boot} resamples of "
        + ("groups" if groups is not None else "rows")
        + f", {100 * level:g}% percentile interval",
    )


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni step-down adjusted p-values, in the input order.

    The k-th smallest of m p-values becomes ``max_{j <= k} min(1, (m - j + 1) * p_(j))``. None entries
    (tests not run) are passed through and do not count in the family size m.
    """
    values: list[float] = []
    for i, p in enumerate(pvalues):
        if p is None:
            continue
        if not (isinstance(p, (int, float, np.floating, np.integer)) and 0.0 <= float(p) <= 1.0):
            raise ValueError(f"pvalues[{i}] must be a p-value in [0, 1] or None, got {p!r}")
        values.append(float(p))
    m = len(values)
    order = np.argsort(values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[idx]))
        adjusted[idx] = running
    it = iter(adjusted.tolist())
    return [None if p is None else next(it) for p in pvalues]
