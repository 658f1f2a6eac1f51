"""Statistics for comparing transfer methods: intervals, paired tests, bootstrap of UAR, Holm."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import balanced_accuracy_score

from emokit.bench.stats import (
    BootstrapResult,
    Interval,
    PairedTest,
    holm,
    mean_ci,
    paired_bootstrap_uar,
    paired_permutation_test,
    wilcoxon_test,
)


def _assert_plain_json(obj: Interval | PairedTest | BootstrapResult) -> None:
    d = obj.to_dict()
    assert set(d) == {f.name for f in dataclasses.fields(obj)}
    for value in d.values():
        assert value is None or type(value) in (float, int, str, bool)
    json.dumps(d)


def _bacc(y: np.ndarray, pred: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # predicted classes absent from y_true
        return float(balanced_accuracy_score(y, pred))


# ---------------------------------------------------------------- mean_ci


def test_mean_ci_matches_scipy_t_interval() -> None:
    rng = np.random.default_rng(123)
    for n in (2, 3, 5, 10, 31):
        for level in (0.9, 0.95, 0.99):
            x = rng.normal(0.6, 0.05, size=n)
            ci = mean_ci(x.tolist(), level=level)
            low, high = stats.t.interval(level, n - 1, loc=x.mean(), scale=stats.sem(x))
            assert ci.mean == pytest.approx(x.mean(), rel=1e-12)
            assert ci.std == pytest.approx(x.std(ddof=1), rel=1e-12)
            assert ci.low == pytest.approx(low, rel=1e-12)
            assert ci.high == pytest.approx(high, rel=1e-12)
            assert (ci.n, ci.level) == (n, level)


def test_mean_ci_hand_computed() -> None:
    ci = mean_ci([1, 2, 3, 4])
    assert ci.mean == 2.5
    assert ci.std == pytest.approx(1.2909944, abs=1e-7)
    half = 3.182446305284263 * 1.2909944487358056 / 2  # t(0.975, 3) * std / sqrt(4)
    assert ci.low == pytest.approx(2.5 - half, rel=1e-12)
    assert ci.high == pytest.approx(2.5 + half, rel=1e-12)
    _assert_plain_json(ci)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ci.mean = 0.0  # type: ignore[misc]


def test_mean_ci_single_value_and_constant() -> None:
    ci = mean_ci([0.42])
    assert (ci.mean, ci.std, ci.low, ci.high, ci.n) == (0.42, 0.0, None, None, 1)
    _assert_plain_json(ci)
    const = mean_ci([0.5, 0.5, 0.5])
    assert (const.std, const.low, const.high) == (0.0, 0.5, 0.5)


@pytest.mark.parametrize(
    ("values", "level", "word"),
    [([], 0.95, "values"), ([[1.0, 2.0]], 0.95, "values"), ([1.0, math.nan], 0.95, "values"),
     ([1.0, 2.0], 1.0, "level"), ([1.0, 2.0], 0.0, "level")],
)  # fmt: skip
def test_mean_ci_bad_input(values: list, level: float, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        mean_ci(values, level=level)


# ---------------------------------------------------------------- permutation test


def _brute_force_p(d: np.ndarray) -> float:
    """Share of all 2^n sign vectors with |mean(s*d)| >= |mean(d)|, ties within 100 eps relative."""
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
    null = (signs * d).mean(axis=1)
    obs = abs(d.mean())
    tol = 100 * np.finfo(np.float64).eps * obs
    return np.count_nonzero(np.abs(null) >= obs - tol) / len(signs)


def test_exact_permutation_p_equals_brute_force() -> None:
    rng = np.random.default_rng(7)
    checked = 0
    for n in range(1, 11):
        for kind in ("normal", "integers", "tenths", "shifted"):
            if kind == "normal":  # continuous, no ties
                a, b = rng.normal(size=n), rng.normal(size=n)
            elif kind == "integers":  # ties in |d| and zero differences
                a, b = rng.integers(0, 4, size=n).astype(float), rng.integers(0, 4, size=n).astype(float)
            elif kind == "tenths":  # float near-ties such as 0.1 + 0.2 vs 0.3
                a, b = rng.integers(0, 10, size=n) / 10, rng.integers(0, 10, size=n) / 10
            else:  # a real effect, small p
                a, b = rng.normal(0.5, 0.2, size=n), rng.normal(0.0, 0.2, size=n)
            res = paired_permutation_test(a, b)
            expected = _brute_force_p(a - b)
            assert res.p == pytest.approx(expected, abs=1e-12), (n, kind, a - b)
            assert res.exact and res.n == n
            assert res.statistic == pytest.approx(np.mean(a - b), abs=1e-15)
            checked += 1
    assert checked == 40


def test_permutation_known_cases() -> None:
    # all five differences positive and distinct: only s = +1 and s = -1 reach |mean(d)|
    res = paired_permutation_test([1.3, 2.0, 3.1, 4.7, 5.2], [0.3, 0.5, 0.6, 0.7, 0.1])
    assert res.p == 0.0625
    assert res.statistic == pytest.approx(np.mean([1.0, 1.5, 2.5, 4.0, 5.1]))
    # one pair: both sign vectors reach |d|
    assert paired_permutation_test([0.7], [0.5]).p == 1.0
    # all differences zero
    zero = paired_permutation_test([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert (zero.p, zero.statistic, zero.exact) == (1.0, 0.0, True)
    # symmetric differences, mean exactly 0
    assert paired_permutation_test([1.0, -1.0, 2.0, -2.0, 0.0], [0.0] * 5).p == 1.0
    # n = 10 all positive: 2 / 1024
    assert paired_permutation_test(np.arange(1, 11) / 10, np.zeros(10)).p == pytest.approx(2 / 1024)


def _exact_integer_p(d: np.ndarray) -> float:
    """Exact two-sided sign-flip p of integer differences via the distribution of sum(s * d)."""
    d = d.astype(np.int64)
    total = int(np.abs(d).sum())
    dist = np.zeros(2 * total + 1)  # index k <-> sum k - total
    dist[total] = 1.0
    for v in np.abs(d):
        dist = 0.5 * (np.roll(dist, v) + np.roll(dist, -v))  # no wrap-around: |sum| <= total
    sums = np.arange(-total, total + 1)
    return float(dist[np.abs(sums) >= abs(int(d.sum()))].sum())


_D25 = np.array([3, -1, 2, 4, -2, 1, 0, 5, -3, 2, 1, -4, 2, 3, -1, 0, 2, -2, 1, 3, -5, 2, 1, -1, 2])


def test_randomized_permutation_close_to_exact_and_seeded() -> None:
    d = _D25.astype(float)
    assert len(d) == 25
    reference = _exact_integer_p(d)  # exact over 2^25 sign vectors
    assert 0.02 < reference < 0.5  # the check below is meaningful
    b = np.linspace(0.2, 0.8, 25)
    res = paired_permutation_test(b + d, b)
    assert not res.exact
    assert res.test.endswith("100000 random sign flips")
    assert res.p == pytest.approx(reference, abs=0.008)  # ~5 standard errors of 1e5 draws
    assert paired_permutation_test(b + d, b, seed=0).p == res.p
    other = [paired_permutation_test(b + d, b, seed=s, n_resamples=20_000).p for s in (1, 2, 3)]
    assert len(set(other)) > 1
    assert all(p == pytest.approx(reference, abs=0.02) for p in other)


def test_permutation_exact_flag_and_name() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=10), rng.normal(size=10)
    exact = paired_permutation_test(a, b)
    assert exact.exact and "exact over 2^10" in exact.test and exact.test.startswith("paired permutation")
    sampled = paired_permutation_test(a, b, exact_max_n=5, n_resamples=500)
    assert not sampled.exact and sampled.test.endswith("500 random sign flips")
    # scipy enumerates by itself once n_resamples >= 2^n; the flag says so
    enumerated = paired_permutation_test(a, b, exact_max_n=5, n_resamples=2000)
    assert enumerated.exact and enumerated.p == exact.p
    _assert_plain_json(exact)


@pytest.mark.parametrize(
    ("a", "b", "word"),
    [([1.0, 2.0], [1.0], "length"), ([], [], "empty"), ([[1.0]], [[1.0]], "a"), ([1.0], [math.inf], "b")],
)
def test_paired_tests_bad_input(a: list, b: list, word: str) -> None:
    for fn in (paired_permutation_test, wilcoxon_test):
        with pytest.raises(ValueError, match=word):
            fn(a, b)


# ---------------------------------------------------------------- Wilcoxon


def test_wilcoxon_exact_matches_scipy() -> None:
    rng = np.random.default_rng(11)
    a, b = rng.normal(0.3, 1.0, size=12), rng.normal(size=12)
    res = wilcoxon_test(a, b)
    ref = stats.wilcoxon(a, b, method="exact")
    assert res.exact and res.test.endswith("exact")
    assert res.p == pytest.approx(float(ref.pvalue), rel=1e-12)
    assert res.statistic == float(ref.statistic)
    # all positive, n = 5: 2 / 2^5
    assert wilcoxon_test([1.3, 2.0, 3.1, 4.7, 5.2], [0.3, 0.5, 0.6, 0.7, 0.1]).p == pytest.approx(0.0625)
    _assert_plain_json(res)


def test_wilcoxon_approx_with_zeros_ties_or_large_n() -> None:
    a = np.array([0.5, 0.7, 0.6, 0.9, 0.4, 0.8, 0.55])
    b = np.array([0.5, 0.6, 0.6, 0.7, 0.3, 0.5, 0.45])  # two zero differences
    res = wilcoxon_test(a, b)
    assert not res.exact and "approximation" in res.test and res.n == 7
    ref = stats.wilcoxon(a - b, method="asymptotic")
    assert res.p == pytest.approx(float(ref.pvalue), rel=1e-12)
    assert not wilcoxon_test([1.0, 2.0, -1.0, 3.0], [0.0] * 4).exact  # tie in |d|
    rng = np.random.default_rng(5)
    big = wilcoxon_test(rng.normal(size=60), rng.normal(size=60))
    assert not big.exact and 0.0 < big.p < 1.0
    zero = wilcoxon_test([0.1, 0.2], [0.1, 0.2])
    assert (zero.p, zero.n) == (1.0, 2)


# ---------------------------------------------------------------- paired bootstrap of UAR


def _predictions(rng: np.random.Generator, y: np.ndarray, acc: float, num_classes: int) -> np.ndarray:
    """Correct with probability ``acc``, otherwise a uniformly drawn wrong class."""
    wrong = (y + rng.integers(1, num_classes, size=len(y))) % num_classes
    return np.where(rng.random(len(y)) < acc, y, wrong)


def test_bootstrap_diff_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(4, size=700, p=[0.55, 0.25, 0.15, 0.05])  # imbalanced; class 4 never true
    pa, pb = rng.integers(0, 5, size=700), _predictions(rng, y, 0.6, 5)
    res = paired_bootstrap_uar(y, pa, pb, num_classes=5, n_boot=300)
    assert res.uar_a == pytest.approx(_bacc(y, pa), abs=1e-12)
    assert res.uar_b == pytest.approx(_bacc(y, pb), abs=1e-12)
    assert res.diff == pytest.approx(_bacc(y, pa) - _bacc(y, pb), abs=1e-12)
    assert res.low < res.diff < res.high
    assert (res.n_rows, res.n_units, res.n_boot) == (700, 700, 300)
    _assert_plain_json(res)
    again = paired_bootstrap_uar(y.tolist(), pa.tolist(), pb.tolist(), num_classes=5, n_boot=300)
    assert again == res  # same seed, same resamples
    other = paired_bootstrap_uar(y, pa, pb, num_classes=5, n_boot=300, seed=1)
    assert (other.low, other.high) != (res.low, res.high)


def test_bootstrap_identical_predictions() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, size=200)
    pred = _predictions(rng, y, 0.5, 3)
    res = paired_bootstrap_uar(y, pred, pred.copy(), num_classes=3, n_boot=200)
    assert (res.diff, res.low, res.high, res.p) == (0.0, 0.0, 0.0, 1.0)


def test_bootstrap_large_difference() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, size=400)
    res = paired_bootstrap_uar(
        y, _predictions(rng, y, 0.9, 4), _predictions(rng, y, 0.5, 4), num_classes=4, n_boot=999
    )
    assert res.diff > 0.3 and res.low > 0.2 and res.high < 0.5
    assert res.p == pytest.approx(2 / 1000)  # no resample reaches 0: the smallest p there is
    flipped = paired_bootstrap_uar(
        y, _predictions(rng, y, 0.5, 4), _predictions(rng, y, 0.9, 4), num_classes=4, n_boot=999
    )
    assert flipped.high < 0 and flipped.p == pytest.approx(2 / 1000)


def test_bootstrap_groups_resample_together() -> None:
    rng = np.random.default_rng(3)
    n = 300
    y = rng.integers(0, 4, size=n)
    pa, pb = _predictions(rng, y, 0.7, 4), _predictions(rng, y, 0.6, 4)
    single = paired_bootstrap_uar(y, pa, pb, num_classes=4, n_boot=500)
    # every utterance predicted twice, rows of one utterance sharing its id
    ids = np.array([f"utt{i:04d}" for i in range(n)])
    order = rng.permutation(2 * n)
    y2, pa2, pb2, g2 = (np.concatenate([v, v])[order] for v in (y, pa, pb, ids))
    grouped = paired_bootstrap_uar(y2, pa2, pb2, num_classes=4, groups=list(g2), n_boot=500)
    assert grouped.uar_a == pytest.approx(single.uar_a, abs=1e-12)
    assert grouped.uar_b == pytest.approx(single.uar_b, abs=1e-12)
    assert (grouped.n_rows, grouped.n_units) == (2 * n, n)
    # sorted ids map to the original row order, so the resamples are those of the single copy
    assert grouped.low == pytest.approx(single.low, abs=1e-12)
    assert grouped.high == pytest.approx(single.high, abs=1e-12)
    assert grouped.p == single.p
    assert "groups" in grouped.test and "rows" in single.test
    # treating the duplicated rows as independent understates the uncertainty (~ 1/sqrt(2))
    naive = paired_bootstrap_uar(y2, pa2, pb2, num_classes=4, n_boot=500)
    assert naive.n_units == 2 * n
    assert naive.high - naive.low < 0.85 * (grouped.high - grouped.low)


def test_bootstrap_ci_coverage() -> None:
    rng = np.random.default_rng(2024)
    num_classes, per_class, n_sim = 4, 75, 200
    y = np.repeat(np.arange(num_classes), per_class)  # balanced: the true UAR difference is 0.7 - 0.6
    covered = 0
    for sim in range(n_sim):
        pa, pb = _predictions(rng, y, 0.7, num_classes), _predictions(rng, y, 0.6, num_classes)
        res = paired_bootstrap_uar(y, pa, pb, num_classes=num_classes, n_boot=500, seed=sim)
        covered += res.low <= 0.1 <= res.high
    assert 0.88 <= covered / n_sim <= 0.99


def test_bootstrap_is_vectorised() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 4, size=10_000)
    pa, pb = _predictions(rng, y, 0.7, 4), _predictions(rng, y, 0.68, 4)
    start = time.perf_counter()
    paired_bootstrap_uar(y, pa, pb, num_classes=4, n_boot=2000)
    assert time.perf_counter() - start < 3.0  # ~0.3 s here; a per-resample loop takes far longer


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"pred_a": [0, 1]}, "pred_a"),
        ({"pred_b": [0, 1, 2, 1]}, "pred_b"),
        ({"y_true": [0, 1, 3]}, "y_true"),
        ({"pred_a": [0, -1, 1]}, "pred_a"),
        ({"pred_b": [[0, 1, 1]]}, "pred_b"),
        ({"y_true": ["a", "b", "c"]}, "y_true"),
        ({"pred_a": [0.5, 1.0, 1.0]}, "pred_a"),
        ({"groups": [1, 2]}, "groups"),
        ({"num_classes": 0}, "num_classes"),
        ({"n_boot": 0}, "n_boot"),
        ({"level": 1.5}, "level"),
        ({"y_true": [], "pred_a": [], "pred_b": []}, "empty"),
    ],
)
def test_bootstrap_bad_input(kwargs: dict, word: str) -> None:
    args = {"y_true": [0, 1, 2], "pred_a": [0, 1, 1], "pred_b": [0, 2, 2], "num_classes": 3} | kwargs
    with pytest.raises(ValueError, match=word):
        paired_bootstrap_uar(**args)


# ---------------------------------------------------------------- Holm


def test_holm_hand_computed() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # None: not run, passed through, not counted in the family of 2
    assert holm([None, 0.01, None, 0.04]) == [None, pytest.approx(0.02), None, pytest.approx(0.04)]
    assert holm([0.5, 0.6, 0.2]) == [1.0, 1.0, pytest.approx(0.6)]
    assert holm([]) == [] and holm([None]) == [None]
    assert holm([0.02, 0.02]) == [pytest.approx(0.04)] * 2


def test_holm_monotone_and_capped() -> None:
    rng = np.random.default_rng(9)
    p = rng.uniform(0, 0.3, size=12)
    adjusted = np.array(holm(p.tolist()))
    order = np.argsort(p)
    assert np.all(np.diff(adjusted[order]) >= 0)
    assert np.all(adjusted >= p) and np.all(adjusted <= 1.0)
    assert adjusted[order[0]] == pytest.approx(12 * p[order[0]])
    assert all(type(v) is float for v in adjusted.tolist())


@pytest.mark.parametrize("bad", [[0.1, 1.5], [-0.1], [math.nan], ["0.1"]])
def test_holm_bad_input(bad: list) -> None:
    with pytest.raises(ValueError, match="pvalues"):
        holm(bad)
