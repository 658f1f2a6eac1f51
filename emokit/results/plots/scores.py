"""Figures of a run's scores: confusion matrices, the train x test matrix, UAR against the budget."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from emokit.bench.summary import MAJORITY
from emokit.results.plots._base import (
    Names,
    Plot,
    RunView,
    budget_of,
    budget_size,
    colorbar,
    experiment_key,
    heatmap,
    new_figure,
)


def confusion_figures(view: RunView, names: Names) -> Iterator[Plot]:
    """Per (experiment, budget): one panel per method (majority-class left out: it predicts one
    class), the confusion matrix summed over the cells and normalised by row (recall per class)."""
    for key, budget, cells in view.groups():
        methods = view.methods_of(cells)
        if not methods:
            continue
        classes = list(cells[0]["classes"])
        figure, axes = new_figure(len(methods), panel=(3.4, 3.3), extra=0.8)
        image = None
        for ax, method in zip(axes, methods, strict=True):
            group = [c for c in cells if c["method"] == method]
            confusion = np.sum([np.asarray(c["scores"]["confusion"], dtype=float) for c in group], axis=0)
            totals = confusion.sum(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                normalised = np.where(totals > 0, confusion / totals, np.nan)  # a class absent from the test
            image = heatmap(ax, normalised, vmin=0.0, vmax=1.0, cmap="Blues", text=lambda v: f"{v:.2f}")
            uar = np.mean([c["scores"]["uar"] for c in group])
            ax.set_title(f"{method} (UAR {100 * uar:.1f} %, {len(group)} cells)", fontsize=9)
            ticks = np.arange(len(classes))
            ax.set_xticks(ticks, classes, rotation=45, ha="right", fontsize=8)
            ax.set_yticks(ticks, classes, fontsize=8)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
        assert image is not None
        colorbar(figure, image, axes, "share of the true class")
        title = f"Confusion (row-normalised): {view.title(key, budget)}"
        figure.suptitle(title)
        yield Plot(
            name=names("confusion", view.stem(key, budget)),
            kind="confusion",
            title=title,
            description="recall per class and what each class is taken for, per method, summed over "
            f"{len({(c.get('fold'), c.get('repeat')) for c in cells})} fold x repeat cells",
            figure=figure,
        )


def matrix_corpora(view: RunView) -> dict[tuple[str | None, str | None], list[str]]:
    """The (modality, features) whose single-source experiments are exactly every ordered pair of
    a set of >= 2 corpora (a ``--matrix`` run), with those corpora in run order."""
    pairs: dict[tuple[str | None, str | None], list[tuple[str, str]]] = {}
    for sources, target, modality, features in view.experiments:
        if len(sources) == 1:
            pairs.setdefault((modality, features), []).append((sources[0], target))
    found = {}
    for space, among in pairs.items():
        corpora = list(dict.fromkeys(c for pair in among for c in pair))
        if len(corpora) >= 2 and set(among) == {(a, b) for a in corpora for b in corpora}:
            found[space] = corpora
    return found


def matrix_figures(view: RunView, names: Names) -> Iterator[Plot]:
    """Per matrix (see :func:`matrix_corpora`): one panel per method at the largest budget, mean UAR
    of each (test corpus, training corpus) pair."""
    for (modality, features), corpora in matrix_corpora(view).items():
        rows = [
            r
            for r in view.summary
            if r.get("modality") == modality
            and r.get("features") == features
            and len(r["sources"]) == 1
            and r["sources"][0] in corpora
            and r["target"] in corpora
        ]
        if not rows:
            continue
        largest = max((budget_of(r) for r in rows), key=budget_size)
        rows = [r for r in rows if budget_of(r)["label"] == largest["label"]]
        methods = view.methods_of(rows)
        if not methods:
            continue
        index = {c: i for i, c in enumerate(corpora)}
        values = {m: np.full((len(corpora), len(corpora)), np.nan) for m in methods}
        for row in rows:
            if row["method"] in values and row["uar"]["mean"] is not None:
                values[row["method"]][index[row["target"]], index[row["sources"][0]]] = row["uar"]["mean"]
        finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
        if finite.size == 0:
            continue
        # one scale for every panel, rounded out to 5 points, so shades compare across methods
        low, high = np.floor(finite.min() * 20) / 20, np.ceil(finite.max() * 20) / 20
        high = max(high, low + 0.05)
        size = max(3.0, 0.9 * len(corpora) + 1.6)
        figure, axes = new_figure(len(methods), columns=3, panel=(size, size * 0.9), extra=0.8)
        image = None
        for ax, method in zip(axes, methods, strict=True):
            image = heatmap(
                ax, values[method], vmin=low, vmax=high, cmap="viridis", text=lambda v: f"{100 * v:.1f}"
            )
            ticks = np.arange(len(corpora))
            ax.set_xticks(ticks, corpora, rotation=30, ha="right", fontsize=8)
            ax.set_yticks(ticks, corpora, fontsize=8)
            ax.set_xlabel("trained on")
            ax.set_ylabel("test corpus")
            ax.set_title(method, fontsize=9)
        assert image is not None
        colorbar(figure, image, axes, "UAR (mean over the cells)", percent=True)
        budget = f", budget {largest['label']}" if len(view.budgets) > 1 else ""
        title = f"Train x test UAR %: {modality}/{features}{budget}"
        figure.suptitle(title)
        yield Plot(
            name=names("matrix", f"{modality}-{features}-{largest['label']}"),
            kind="matrix",
            title=title,
            description=f"mean UAR of every train -> test pair of {', '.join(corpora)} "
            "(rows: test corpus, columns: trained on), per method",
            figure=figure,
        )


def _positions(budgets: list[dict[str, Any]]) -> tuple[list[float], str, bool]:
    """x of each budget: the share in % when all are shares, else their places in budget order."""
    if all(b.get("shots") is None and b.get("fraction") is not None for b in budgets):
        shares = [100.0 * b["fraction"] for b in budgets]
        return shares, "target budget (share of the labelled training utterances, %)", True
    label = "target budget (labelled utterances per class)"
    if any(b.get("shots") is None for b in budgets):
        label = "target budget (shots per class, or share)"
    return [float(i) for i in range(len(budgets))], label, False


def budget_figures(view: RunView, names: Names) -> Iterator[Plot]:
    """Per experiment, when the run has >= 2 budgets: UAR against the budget with its 95 % interval,
    one line per method, and the chance level."""
    if len(view.budgets) < 2:
        return
    for key in view.experiments:
        rows = [r for r in view.summary if experiment_key(r) == key and r["method"] != MAJORITY]
        labels = {budget_of(r)["label"] for r in rows}
        budgets = [b for label, b in view.budgets.items() if label in labels]
        if len(budgets) < 2:
            continue
        x, xlabel, numeric = _positions(budgets)
        at = {b["label"]: x[i] for i, b in enumerate(budgets)}
        figure, (ax,) = new_figure(1, panel=(6.4, 4.2))
        for method in view.methods_of(rows):
            mine = sorted((r for r in rows if r["method"] == method), key=lambda r: at[budget_of(r)["label"]])
            xs = [at[budget_of(r)["label"]] for r in mine]
            (line,) = ax.plot(xs, [r["uar"]["mean"] for r in mine], marker="o", label=method)
            banded = [(x_, r["uar"]["ci95"]) for x_, r in zip(xs, mine, strict=True) if r["uar"].get("ci95")]
            if len(banded) >= 2:
                ax.fill_between(
                    [b[0] for b in banded],
                    [b[1][0] for b in banded],
                    [b[1][1] for b in banded],
                    color=line.get_color(),
                    alpha=0.18,
                    linewidth=0,
                )
        chance = next((r.get("chance") for r in rows if r.get("chance")), None)
        if chance:
            ax.axhline(chance, color="grey", linestyle=":", linewidth=1, label="chance (1/classes)")
        if numeric and max(x) / max(min(x), 1e-9) >= 10:
            ax.set_xscale("log")  # shares such as 5, 10, 25, 100 % spread evenly
        ax.set_xticks(x, [b["label"] for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylabel("UAR (test)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        title = f"UAR by target budget: {view.title(key)}"
        ax.set_title(title, fontsize=10)
        yield Plot(
            name=names("budget", view.stem(key)),
            kind="budget",
            title=title,
            description="mean test UAR per method against the target's labelled budget, with 95 % "
            "confidence bands over the cells",
            figure=figure,
        )
