"""Figures of how the methods trained: PathNet's search and reuse, validation UAR by epoch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from emokit.results.plots._base import (
    Names,
    Plot,
    RunView,
    budget_of,
    budget_size,
    cell_colours,
    cell_label,
    colorbar,
    experiment_key,
    heatmap,
    new_figure,
)

#: line style per series of a search curve; any other series is dash-dotted
SEARCH_SERIES = {"best_fitness": "-", "mean_fitness": "--", "val_uar": ":"}
SERIES_LABELS = {
    "best_fitness": "best fitness",
    "mean_fitness": "mean fitness",
    "val_uar": "champion's validation UAR",
}


def _curves(cell: dict[str, Any], x: str) -> list[dict[str, Any]]:
    return [c for c in cell.get("curves") or [] if c.get("x") == x and c.get("series")]


def _by_step(ax: Any, xlabel: str, ylabel: str) -> None:
    """Labels and whole-number ticks of a panel of values by generation or epoch."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _legend(figure: Any, handles: list[Any]) -> None:
    """The figure's legend below its panels (beside the title it would hide it)."""
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), fontsize=8)


def search_figures(view: RunView, names: Names) -> Iterator[Plot]:
    """Per (experiment, budget, method with curves by generation, i.e. PathNet): one panel per task,
    best and mean fitness and the champion's validation UAR by generation, one colour per cell."""
    from matplotlib.lines import Line2D

    for key, budget, cells in view.groups():
        for method in view.methods_of(c for c in cells if _curves(c, "generation")):
            mine = [c for c in cells if c["method"] == method and _curves(c, "generation")]
            tasks = list(dict.fromkeys(curve["name"] for c in mine for curve in _curves(c, "generation")))
            series = list(
                dict.fromkeys(s for c in mine for curve in _curves(c, "generation") for s in curve["series"])
            )
            colours = cell_colours(len(mine))
            figure, axes = new_figure(len(tasks), columns=3, panel=(4.4, 3.4))
            for ax, task in zip(axes, tasks, strict=True):
                for cell, colour in zip(mine, colours, strict=True):
                    curve = next((c for c in _curves(cell, "generation") if c["name"] == task), None)
                    for name, values in (curve or {}).get("series", {}).items():
                        if values:
                            ax.plot(
                                np.arange(1, len(values) + 1),
                                values,
                                color=colour,
                                linestyle=SEARCH_SERIES.get(name, "-."),
                                linewidth=1.2,
                            )
                role = "target" if task == key[1] else "source"
                drawn = [next((c for c in _curves(x, "generation") if c["name"] == task), None) for x in mine]
                # a source stage is evolved once per repeat and shared by its cells: one line shows
                same = len(mine) > 1 and all(d == drawn[0] for d in drawn)
                ax.set_title(f"task {task} ({role}{', the same in every cell' if same else ''})", fontsize=9)
                _by_step(ax, "generation", "fitness / validation UAR")
            styles = [
                Line2D(
                    [], [], color="black", linestyle=SEARCH_SERIES.get(s, "-."), label=SERIES_LABELS.get(s, s)
                )
                for s in series
            ]
            runs = [Line2D([], [], color=c, label=cell_label(x)) for x, c in zip(mine, colours, strict=True)]
            _legend(figure, runs + styles)
            title = f"{method} search by generation: {view.title(key, budget)}"
            figure.suptitle(title)
            shown = ", ".join(SERIES_LABELS.get(s, s) for s in series)
            yield Plot(
                name=names("pathnet-search", f"{view.stem(key, budget)}-{method}"),
                kind="pathnet-search",
                title=title,
                description=f"{shown} by generation, per task, one colour per cell",
                figure=figure,
            )


def _reuse_counts(cells: list[dict[str, Any]]) -> tuple[list[str], np.ndarray]:
    """Panels (each source task, then the target's new modules) and, per panel, how many cells'
    target paths use each (layer, module)."""
    infos = [c["method_info"] for c in cells]
    layers = max(int((i.get("architecture") or {}).get("layers") or len(i["target_path"])) for i in infos)
    modules = max(
        int(
            (i.get("architecture") or {}).get("modules")
            or 1 + max(m for layer in i["target_path"] for m in layer)
        )
        for i in infos
    )
    # ``tasks`` lists every task the model learnt, the target last: the sources are the others
    sources = [t for i in infos for t in (i.get("tasks") or [])[:-1]]
    panels = list(dict.fromkeys([*sources, *(r["from"] for i in infos for r in i["reused_modules"])]))
    target = len(panels)
    counts = np.zeros((target + 1, layers, modules))
    for info in infos:
        reused = {(r["layer"] - 1, r["module"]): panels.index(r["from"]) for r in info["reused_modules"]}
        for layer, path in enumerate(info["target_path"]):
            for module in set(path):  # a path may name a module twice in a layer
                counts[reused.get((layer, module), target), layer, module] += 1
    return [*panels, "trained for the target"], counts


def reuse_figures(view: RunView, names: Names) -> Iterator[Plot]:
    """Per experiment with PathNet cells (at its largest budget): which modules the target's path
    reuses frozen from each source task and which it trains anew, as a share of the cells."""

    def usable(cell: dict[str, Any]) -> bool:
        info = cell.get("method_info") or {}
        return isinstance(info.get("target_path"), list) and isinstance(info.get("reused_modules"), list)

    for key in view.experiments:
        pathnet = [c for c in view.cells if experiment_key(c) == key and usable(c)]
        for method in view.methods_of(pathnet):
            mine = [c for c in pathnet if c["method"] == method]
            largest = max((budget_of(c) for c in mine), key=budget_size)
            mine = sorted((c for c in mine if budget_of(c)["label"] == largest["label"]), key=view.cell_order)
            panels, counts = _reuse_counts(mine)
            shares = counts / len(mine)
            layers, modules = shares.shape[1:]
            figure, axes = new_figure(
                len(panels), columns=2, panel=(max(3.2, 0.42 * modules + 1.2), 0.5 * layers + 1.4), extra=0.8
            )
            image = None
            for ax, panel, share in zip(axes, panels, shares, strict=True):
                image = heatmap(
                    ax,
                    share,
                    vmin=0.0,
                    vmax=1.0,
                    cmap="Blues",
                    text=lambda v: f"{100 * v:.0f}" if v > 0 else "",
                )
                ax.set_xticks(np.arange(modules), [str(m) for m in range(modules)], fontsize=8)
                ax.set_yticks(np.arange(layers), [str(layer + 1) for layer in range(layers)], fontsize=8)
                ax.set_xlabel("module")
                ax.set_ylabel("layer")
                ax.set_title(panel if panel == panels[-1] else f"reused from {panel}", fontsize=9)
            assert image is not None
            colorbar(figure, image, axes, "share of the cells", percent=True)
            where = view.title(key, largest["label"])
            title = f"{method} target path, modules by origin: {where} ({len(mine)} cells)"
            figure.suptitle(title, fontsize=10)
            yield Plot(
                name=names("pathnet-reuse", f"{view.stem(key, largest['label'])}-{method}"),
                kind="pathnet-reuse",
                title=title,
                description="share of cells whose target path uses each layer x module frozen by each "
                "source task, or trained for the target",
                figure=figure,
            )


def training_figures(view: RunView, names: Names) -> Iterator[Plot]:
    """Per (experiment, budget): validation UAR by epoch, one panel per (method, curve), one line per
    cell (FDAN, cascade stages, the MLP baselines)."""
    from matplotlib.lines import Line2D

    for key, budget, cells in view.groups():
        panels: dict[tuple[str, str], list[tuple[dict[str, Any], list[float]]]] = {}
        for cell in cells:
            for curve in _curves(cell, "epoch"):
                if curve["series"].get("val_uar"):
                    panels.setdefault((cell["method"], curve["name"]), []).append(
                        (cell, curve["series"]["val_uar"])
                    )
        if not panels:
            continue
        runs = list(dict.fromkeys((c.get("fold") or 0, c.get("repeat") or 0) for c in cells))
        runs.sort()
        colours = dict(zip(runs, cell_colours(len(runs)), strict=True))
        figure, axes = new_figure(len(panels), panel=(3.6, 3.0))
        for ax, ((method, name), lines) in zip(axes, panels.items(), strict=True):
            for cell, values in lines:
                colour = colours[(cell.get("fold") or 0, cell.get("repeat") or 0)]
                ax.plot(np.arange(1, len(values) + 1), values, color=colour, linewidth=1.2, marker=".")
            ax.set_title(f"{method}: {name}", fontsize=9)
            _by_step(ax, "epoch", "validation UAR")
        handles = [Line2D([], [], color=colours[r], label=f"fold {r[0]}, repeat {r[1]}") for r in runs]
        _legend(figure, handles)
        title = f"Validation UAR by epoch: {view.title(key, budget)}"
        figure.suptitle(title)
        yield Plot(
            name=names("training-curves", view.stem(key, budget)),
            kind="training-curves",
            title=title,
            description="validation UAR by epoch per method and training stage, one line per cell",
            figure=figure,
        )
