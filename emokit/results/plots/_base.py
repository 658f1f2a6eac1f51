"""What every figure kind shares: the :class:`Plot` record, grouping of a run's cells, names, panels."""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from emokit.bench.summary import MAJORITY

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn (it is an extra)
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

    from emokit.results.run import RunResults

#: the label matplotlib gives a colorbar's axes; :func:`panels` leaves those out
COLORBAR = "<colorbar>"
INSTALL_HINT = "emokit plot needs matplotlib: pip install 'emokit[plot]'"

#: (sources, target, modality, features): an experiment's identity (its label is not unique)
ExperimentKey = tuple[tuple[str, ...], str, str | None, str | None]


class PlotDependencyError(RuntimeError):
    """matplotlib, which the figures need, is not installed."""


def require_matplotlib() -> None:
    """Raise :class:`PlotDependencyError` (with the install hint) when matplotlib is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        raise PlotDependencyError(INSTALL_HINT)


@dataclass
class Plot:
    """One figure of a run.

    Attributes:
        name: the file stem (safe for file systems, unique within the run).
        kind: confusion, matrix, budget, pathnet-search, pathnet-reuse or training-curves.
        title: the figure's title (experiment, modality/features, budget).
        description: one line saying what the figure shows.
        figure: the matplotlib :class:`~matplotlib.figure.Figure` (no pyplot state behind it).
    """

    name: str
    kind: str
    title: str
    description: str
    figure: Figure

    @property
    def panels(self) -> list[Axes]:
        """The figure's panels: its axes without the colorbars."""
        return panels(self.figure)


def panels(figure: Figure) -> list[Axes]:
    """A figure's axes without its colorbars."""
    return [ax for ax in figure.axes if ax.get_label() != COLORBAR]


# -- the run's cells, grouped ---------------------------------------------------------------------
def experiment_key(item: dict[str, Any]) -> ExperimentKey:
    """The experiment of a cell, a summary row or a config entry."""
    return (tuple(item["sources"]), item["target"], item.get("modality"), item.get("features"))


def budget_of(item: dict[str, Any]) -> dict[str, Any]:
    return item.get("budget") or {"label": "100%", "fraction": 1.0, "shots": None}


def budget_size(budget: dict[str, Any]) -> tuple:
    """Sort key of budgets: shots below shares, the full share largest (as the bench's matrix)."""
    return (budget.get("shots") is None, budget.get("fraction") or 0, budget.get("shots") or 0)


class RunView:
    """A run's ok cells and summary rows, in the config's order of experiments, budgets and methods."""

    def __init__(self, results: RunResults) -> None:
        self.results = results
        self.cells = results.ok_cells
        self.summary = results.summary
        config = results.config
        items = [*config.get("experiments", []), *self.cells]
        self.experiments: list[ExperimentKey] = list(dict.fromkeys(experiment_key(e) for e in items))
        self.labels: dict[ExperimentKey, str] = {}
        for cell in self.cells:
            self.labels.setdefault(experiment_key(cell), cell.get("experiment") or "")
        budgets = [*config.get("budgets", []), *(budget_of(c) for c in self.cells)]
        self.budgets: dict[str, dict[str, Any]] = {}
        for budget in budgets:
            self.budgets.setdefault(budget["label"], budget)
        self.methods = results.methods

    def label(self, key: ExperimentKey) -> str:
        sources, target = key[0], key[1]
        default = (
            f"{target} (within-corpus)" if list(sources) == [target] else f"{'+'.join(sources)} -> {target}"
        )
        return self.labels.get(key) or default

    def title(self, key: ExperimentKey, budget: str | None = None) -> str:
        """``experiment, modality/features[, budget B]``: what a figure's title starts from."""
        text = f"{self.label(key)}, {key[2]}/{key[3]}"
        return text if budget is None else f"{text}, budget {budget}"

    def stem(self, key: ExperimentKey, budget: str | None = None) -> str:
        """File-name words of an experiment (and budget), before :func:`slug`."""
        words = ["+".join(key[0]), "to", key[1], str(key[2]), str(key[3])]
        return "-".join(words + ([] if budget is None else [budget]))

    def groups(self, methods: bool = False) -> list[tuple[ExperimentKey, str, list[dict[str, Any]]]]:
        """``(experiment, budget label, ok cells)`` per experiment and budget, in run order, with
        the cells sorted by method, fold and repeat."""
        grouped: dict[tuple[ExperimentKey, str], list[dict[str, Any]]] = {}
        for cell in self.cells:
            grouped.setdefault((experiment_key(cell), budget_of(cell)["label"]), []).append(cell)
        order = {k: i for i, k in enumerate(self.experiments)}
        budgets = {b: i for i, b in enumerate(self.budgets)}
        keys = sorted(grouped, key=lambda k: (order.get(k[0], len(order)), budgets.get(k[1], len(budgets))))
        return [(k[0], k[1], sorted(grouped[k], key=self.cell_order)) for k in keys]

    def cell_order(self, cell: dict[str, Any]) -> tuple:
        methods = {m: i for i, m in enumerate(self.methods)}
        return (methods.get(cell["method"], len(methods)), cell.get("fold") or 0, cell.get("repeat") or 0)

    def methods_of(self, cells: Iterable[dict[str, Any]]) -> list[str]:
        """The methods among ``cells`` in run order, without majority-class."""
        present = {c["method"] for c in cells}
        return [m for m in self.methods if m in present and m != MAJORITY]


def cell_label(cell: dict[str, Any]) -> str:
    return f"fold {cell.get('fold') or 0}, repeat {cell.get('repeat') or 0}"


def cell_colours(n: int) -> list[Any]:
    """n distinguishable colours (tab10, tab20, then a continuous map)."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["viridis"](i / max(1, n - 1)) for i in range(n)]


# -- names ------------------------------------------------------------------------------------------
def slug(text: str) -> str:
    """A file-system-safe stem: ``%`` as pct, ``->`` as to, anything but ``[A-Za-z0-9.]`` as ``-``."""
    text = text.replace("%", "pct").replace("->", "-to-").replace("+", "-and-")
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-.").lower() or "figure"


class Names:
    """Unique file stems within a run (a clash gets -2, -3...)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def __call__(self, kind: str, words: str) -> str:
        base = slug(f"{kind}-{words}")
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}-{n}"
        self.taken.add(name)
        return name


# -- drawing ------------------------------------------------------------------------------------------
def new_figure(
    n_panels: int, *, columns: int = 4, panel: tuple[float, float] = (3.6, 3.2), extra: float = 0.0
) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure with ``n_panels`` panels in rows of at most ``columns``."""
    from matplotlib.figure import Figure

    ncols = max(1, min(n_panels, columns))
    nrows = math.ceil(n_panels / ncols)
    figure = Figure(figsize=(panel[0] * ncols + extra, panel[1] * nrows + 0.6), layout="constrained")
    axes = list(np.asarray(figure.subplots(nrows, ncols, squeeze=False)).ravel())
    for ax in axes[n_panels:]:
        ax.remove()  # an empty slot of the last row
    return figure, axes[:n_panels]


def heatmap(
    ax: Axes,
    values: np.ndarray,
    *,
    vmin: float,
    vmax: float,
    cmap: str,
    text: Callable[[float], str],
    fontsize: float = 7.0,
) -> AxesImage:
    """``values`` as an image with each finite value written on it, in black or white by the shade."""
    image = ax.imshow(values, vmin=vmin, vmax=vmax, cmap=cmap, aspect="auto", interpolation="nearest")
    for (i, j), value in np.ndenumerate(values):
        label = text(value) if np.isfinite(value) else ""
        if not label:
            continue
        r, g, b, _ = image.cmap(image.norm(value))
        light = 0.299 * r + 0.587 * g + 0.114 * b > 0.5
        ax.text(j, i, label, ha="center", va="center", fontsize=fontsize, color="black" if light else "white")
    return image


def colorbar(figure: Figure, image: AxesImage, axes: list[Axes], label: str, percent: bool = False) -> None:
    """One colorbar for all ``axes`` (they share ``image``'s scale); ``percent``: shares as %."""
    from matplotlib.ticker import PercentFormatter

    bar = figure.colorbar(image, ax=axes, shrink=0.85, aspect=30)
    if percent:
        bar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    bar.set_label(label)
