"""A run's figures, drawn with matplotlib (the ``plot`` extra): ``emokit plot`` and ``emokit bench --plots``.

:func:`figures` gives every figure the run's data allows, as :class:`Plot` records (name, kind,
title, description and the matplotlib :class:`~matplotlib.figure.Figure`); :func:`save_plots`
writes them as PNG and SVG. The kinds, in the order they come:

- ``confusion``: per experiment and budget, one panel per method, the row-normalised confusion
  matrix summed over the cells (majority-class is left out: it predicts a single class);
- ``matrix``: the train x test UAR heatmap of a ``--matrix`` run, one panel per method;
- ``budget``: UAR against the target budget with 95 % bands, per experiment (runs of >= 2 budgets);
- ``pathnet-search``: PathNet's best and mean fitness and champion validation UAR by generation;
- ``pathnet-reuse``: which modules PathNet's target path reuses from each source task;
- ``training-curves``: validation UAR by epoch of the methods that record it.

matplotlib is imported inside the functions only, so this module imports without it; drawing
without it raises :class:`PlotDependencyError` with the install hint. The figures are built with
matplotlib's object-oriented API (no pyplot): nothing is shown and no global state is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from emokit.results.plots._base import (
    INSTALL_HINT,
    Names,
    Plot,
    PlotDependencyError,
    RunView,
    panels,
    require_matplotlib,
)
from emokit.results.plots.curves import reuse_figures, search_figures, training_figures
from emokit.results.plots.scores import budget_figures, confusion_figures, matrix_figures

if TYPE_CHECKING:
    from emokit.results.run import RunResults

#: the figure kinds, in the order :func:`figures` gives them
KINDS = ("confusion", "matrix", "budget", "pathnet-search", "pathnet-reuse", "training-curves")
_DRAWERS = (
    confusion_figures,
    matrix_figures,
    budget_figures,
    search_figures,
    reuse_figures,
    training_figures,
)
FORMATS = ("png", "svg")
#: resolution of the PNG files (SVG is vector)
PNG_DPI = 150


class PlotFolderError(ValueError):
    """The folder for the figures cannot be created or written; the message names it."""


def iter_figures(results: RunResults) -> Iterator[Plot]:
    """The run's figures one at a time (see :func:`figures`): drawing them lazily lets a caller
    save and free each before the next is drawn."""
    require_matplotlib()
    view, names = RunView(results), Names()
    for draw in _DRAWERS:
        yield from draw(view, names)


def figures(results: RunResults) -> list[Plot]:
    """Every figure the run's data allows (see the module docstring), and none for what it lacks:
    no budget figure for a single-budget run, no matrix for a run that is not one, no training
    curves for a file that records none.

    Raises:
        PlotDependencyError: matplotlib is not installed.
    """
    return list(iter_figures(results))


def prepare_folder(folder: str | Path) -> Path:
    """``folder`` created if needed, else a :class:`PlotFolderError` naming it."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise PlotFolderError(f"{folder}: is a file; expected a folder for the figures")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PlotFolderError(
            f"{folder}: cannot create the folder for the figures ({exc.strerror or exc})"
        ) from None
    return folder


def save_plot(plot: Plot, folder: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write one figure as ``folder/<plot.name>.<format>`` per format; the paths written."""
    figure = plot.figure
    engine = figure.get_layout_engine()
    paths = []
    try:
        for fmt in formats:
            path = folder / f"{plot.name}.{fmt}"
            # no date in an SVG: the same run gives the same files
            metadata = {"Date": None} if fmt == "svg" else None
            try:
                figure.savefig(path, format=fmt, dpi=PNG_DPI, metadata=metadata)
            except OSError as exc:
                raise PlotFolderError(f"{path}: cannot write the figure ({exc.strerror or exc})") from None
            paths.append(path)
            if engine is not None:
                # the layout is placed by the first file's draw: the next ones keep it (a third of
                # the time of a figure of many labels goes to placing it again)
                figure.set_layout_engine("none")
    finally:
        if engine is not None:
            figure.set_layout_engine(engine)
    return paths


def save_plots(
    results: RunResults,
    folder: str | Path,
    formats: Sequence[str] = FORMATS,
    on_saved: Callable[[Plot, list[Path]], None] | None = None,
) -> list[Path]:
    """Draw the run's figures and write each as ``<folder>/<name>.<format>`` (PNG and SVG by
    default), creating the folder; each figure is freed once written.

    Args:
        on_saved: called with each figure and its files once written (progress lines).

    Returns:
        The files written, in the order of :func:`figures`.

    Raises:
        PlotDependencyError: matplotlib is not installed.
        PlotFolderError: the folder cannot be created or a file in it cannot be written.
    """
    require_matplotlib()
    folder = prepare_folder(folder)
    written: list[Path] = []
    for plot in iter_figures(results):
        paths = save_plot(plot, folder, formats)
        written += paths
        if on_saved is not None:
            on_saved(plot, paths)
        plot.figure.clear()  # without pyplot nothing else holds the figure: its memory goes with it
    return written


__all__ = [
    "FORMATS",
    "INSTALL_HINT",
    "KINDS",
    "Plot",
    "PlotDependencyError",
    "PlotFolderError",
    "figures",
    "iter_figures",
    "panels",
    "prepare_folder",
    "require_matplotlib",
    "save_plot",
    "save_plots",
]
