"""The summary of a run: one row per (experiment, budget, method), and each method against a reference.

Per row: UAR, WA and macro-F1 as mean ± std with a 95 % t confidence interval over the row's cells
(folds × repeats; clipped to [0, 1], the range of the scores), per-class recall over the pooled
test predictions, the chance level 1/C, the validation score the method selected on, and the time.

Each method is compared with the reference method (``--reference``, default ``target-only``) on
matched cells, the same (fold, repeat) of the same experiment and budget, so both saw the same
training rows and were tested on the same utterances:

- a paired permutation test over the matched cells' UAR differences (exact over all 2^n sign
  flips for small n), with scipy's Wilcoxon signed-rank test beside it;
- a paired bootstrap over the pooled test utterances (the utterances of all matched cells, an
  utterance's repeats resampled together) giving a 95 % interval of the UAR difference and a p;
- Holm's correction across the methods compared within one experiment and budget, per test.

A row is marked better or worse when the Holm-corrected permutation test is below ``alpha``; the
bootstrap's verdict is recorded beside it. Repeats of leave-one-speaker-out test the same speakers
again, so the (fold, repeat) cells are not independent samples of speakers: with few speakers the
fold-level test is the conservative one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from emokit.bench import stats
from emokit.bench.metrics import METRIC_NAMES
from emokit.bench.results import cell_key

ALPHA = 0.05
MAJORITY = "majority-class"


def _group_key(cell: dict[str, Any]) -> tuple:
    budget = cell.get("budget") or {"label": "100%"}
    return (cell["experiment"], cell["modality"], cell["features"], budget["label"])


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def in_run_order(
    cells: list[dict[str, Any]],
    experiments: list[dict[str, Any]],
    budgets: list[str],
    methods: list[str],
) -> list[dict[str, Any]]:
    """``cells`` in the order of a run's config: experiment (``experiments``: the config's
    ``to_dict()`` entries), budget label, method, fold, repeat, whatever order they finished in
    (workers finish in any order), so that the summary's rows are in that order too."""

    def experiment_key(e: dict[str, Any]) -> tuple:
        # an experiment's label names its corpora only: the same pair can run in two modalities
        return (tuple(e["sources"]), e["target"], e.get("modality"), e.get("features"))

    experiment_rank = {experiment_key(e): i for i, e in enumerate(experiments)}
    budget_rank = {label: i for i, label in enumerate(budgets)}
    method_rank = {m: i for i, m in enumerate(methods)}

    def rank(cell: dict[str, Any]) -> tuple:
        return (
            experiment_rank.get(experiment_key(cell), len(experiment_rank)),
            budget_rank.get((cell.get("budget") or {}).get("label"), len(budget_rank)),
            method_rank.get(cell["method"], len(method_rank)),
            cell.get("fold") or 0,
            cell.get("repeat") or 0,
        )

    return sorted(cells, key=rank)


def summarise_run(
    cells: list[dict[str, Any]],
    predictions: dict[tuple, dict[str, Any]] | None = None,
    reference: str | None = "target-only",
    alpha: float = ALPHA,
    n_boot: int = 2000,
) -> list[dict[str, Any]]:
    """Summary rows of a run's cells (see the module docstring); JSON-ready."""
    predictions = predictions or {}
    ok = [c for c in cells if c.get("status", "ok") == "ok"]
    failed: dict[tuple, int] = defaultdict(int)
    for cell in cells:
        if cell.get("status") == "failed":
            failed[(*_group_key(cell), cell["method"])] += 1
    groups: dict[tuple, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for cell in ok:
        groups[_group_key(cell)][cell["method"]].append(cell)
    rows: list[dict[str, Any]] = []
    for group_key, methods in groups.items():
        group_rows = {name: _row(group) for name, group in methods.items()}
        for name, row in group_rows.items():
            row["failed_cells"] = failed.get((*group_key, name), 0)
        if reference is not None and reference in methods:
            compared = [m for m in methods if m not in (reference, MAJORITY)]
            comparisons = {
                m: _compare(methods[m], methods[reference], predictions, n_boot=n_boot) for m in compared
            }
            _holm(comparisons, alpha)
            for name, comparison in comparisons.items():
                group_rows[name]["comparison"] = comparison
        order = [m for m in methods if m != MAJORITY] + ([MAJORITY] if MAJORITY in methods else [])
        rows.extend(group_rows[m] for m in order)
    return rows


def _row(group: list[dict[str, Any]]) -> dict[str, Any]:
    first = group[0]
    classes = first["classes"]
    budget = first.get("budget") or {"label": "100%", "fraction": 1.0, "shots": None}
    row: dict[str, Any] = {
        "method": first["method"],
        "experiment": first["experiment"],
        "sources": first["sources"],
        "target": first["target"],
        "modality": first["modality"],
        "features": first["features"],
        "within_corpus": first.get("within_corpus", False),
        "budget": budget,
        "classes": classes,
        "chance": 1.0 / len(classes),
        "cells": len(group),
        "folds": first.get("folds"),
        "repeats": sorted({c.get("repeat") for c in group if c.get("repeat") is not None}),
        "seeds": sorted({c["seed"] for c in group}),
        "test_speakers": sorted({s for c in group for s in c.get("test_speakers", [])}),
        "time_s": round(sum(c.get("time_s", 0.0) for c in group), 3),
    }
    for metric in METRIC_NAMES:
        interval = stats.mean_ci([c["scores"][metric] for c in group])
        row[metric] = {
            "mean": _round(interval.mean),
            "std": _round(interval.std),
            # a t interval can reach past what a score can be: clipped to [0, 1]
            "ci95": None
            if interval.low is None
            else [_round(max(0.0, interval.low)), _round(min(1.0, interval.high))],
            "n": interval.n,
        }
    confusion = np.sum([np.asarray(c["scores"]["confusion"]) for c in group], axis=0)
    totals = confusion.sum(axis=1)
    row["per_class_recall"] = {
        c: (_round(confusion[i, i] / totals[i]) if totals[i] else None) for i, c in enumerate(classes)
    }
    row["confusion"] = confusion.tolist()
    validation = [c["validation"] for c in group if c.get("validation")]
    row["val_uar"] = (
        {
            "mean": _round(np.mean([v["uar"] for v in validation])),
            "std": _round(np.std([v["uar"] for v in validation], ddof=1) if len(validation) > 1 else 0.0),
            "n": len(validation),
            "on": sorted({v.get("on", "") for v in validation}),
        }
        if validation
        else None
    )
    return row


def _matched(method: list[dict[str, Any]], reference: list[dict[str, Any]]) -> list[tuple[dict, dict]]:
    by_cell = {(c.get("fold"), c.get("repeat")): c for c in reference}
    return [
        (c, by_cell[(c.get("fold"), c.get("repeat"))])
        for c in method
        if (c.get("fold"), c.get("repeat")) in by_cell
    ]


def _compare(
    method: list[dict[str, Any]],
    reference: list[dict[str, Any]],
    predictions: dict[tuple, dict[str, Any]],
    n_boot: int,
) -> dict[str, Any]:
    pairs = _matched(method, reference)
    out: dict[str, Any] = {"reference": reference[0]["method"], "matched_cells": len(pairs)}
    if not pairs:
        return out
    a = [m["scores"]["uar"] for m, _ in pairs]
    b = [r["scores"]["uar"] for _, r in pairs]
    diffs = np.asarray(a) - np.asarray(b)
    std = float(diffs.std(ddof=1)) if len(diffs) > 1 else 0.0
    out["mean_diff"] = _round(diffs.mean())
    out["effect_size"] = {
        "mean_uar_difference": _round(diffs.mean()),
        "d_z": _round(diffs.mean() / std) if std > 0 else None,
        "wins": int((diffs > 0).sum()),
        "ties": int((diffs == 0).sum()),
        "losses": int((diffs < 0).sum()),
    }
    out["fold_test"] = stats.paired_permutation_test(a, b).to_dict()
    out["wilcoxon"] = stats.wilcoxon_test(a, b).to_dict()
    pooled = _pooled_predictions(pairs, predictions)
    if pooled is not None:
        y, pa, pb, groups, classes = pooled
        boot = stats.paired_bootstrap_uar(y, pa, pb, num_classes=classes, groups=groups, n_boot=n_boot)
        out["bootstrap"] = boot.to_dict()
    return out


def _pooled_predictions(
    pairs: list[tuple[dict, dict]], predictions: dict[tuple, dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int] | None:
    """True labels, both methods' predictions and utterance ids over the matched cells' test rows."""
    classes = pairs[0][0]["classes"]
    index = {c: i for i, c in enumerate(classes)}
    y, pa, pb, ids = [], [], [], []
    for method_cell, reference_cell in pairs:
        rec_a = predictions.get(cell_key(method_cell))
        rec_b = predictions.get(cell_key(reference_cell))
        if rec_a is None or rec_b is None or rec_a["ids"] != rec_b["ids"]:
            return None  # predictions missing (an older file) or not of the same utterances
        y += [index[t] for t in rec_a["true"]]
        pa += [index[p] for p in rec_a["pred"]]
        pb += [index[p] for p in rec_b["pred"]]
        ids += rec_a["ids"]
    return np.asarray(y), np.asarray(pa), np.asarray(pb), np.asarray(ids), len(classes)


def _holm(comparisons: dict[str, dict[str, Any]], alpha: float) -> None:
    """Holm-correct each test across the compared methods, then give each comparison its verdict."""
    for test in ("fold_test", "bootstrap"):
        names = [n for n, c in comparisons.items() if test in c]
        adjusted = stats.holm([comparisons[n][test]["p"] for n in names])
        for name, p in zip(names, adjusted, strict=True):
            comparisons[name][test]["p_holm"] = _round(p)
    for comparison in comparisons.values():
        diff = comparison.get("mean_diff")
        fold = comparison.get("fold_test", {})
        boot = comparison.get("bootstrap", {})
        comparison["alpha"] = alpha
        comparison["verdict"] = _verdict(fold.get("p_holm"), diff, alpha)
        comparison["bootstrap_verdict"] = _verdict(boot.get("p_holm"), boot.get("diff"), alpha)


def _verdict(p: float | None, diff: float | None, alpha: float) -> str | None:
    if p is None or diff is None:
        return None
    if p < alpha and diff > 0:
        return "better"
    if p < alpha and diff < 0:
        return "worse"
    return "no significant difference"
