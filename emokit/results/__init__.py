"""A run's results after the run: load them, report, compare, plot (the ``emokit report``,
``compare``, ``plot`` and ``config`` commands are built on this package).

``emokit.results.load(path)`` reads a result file of any format this emokit has written and gives a
:class:`RunResults`: its cells, its summary, its predictions, and ``to_frame()`` for pandas (one row
per cell). docs/results.md describes the file.
"""

from emokit.bench.results import RESULT_FORMAT, ResultFileError, cell_key
from emokit.results.compare import Comparison, compare_runs
from emokit.results.report import render
from emokit.results.run import FRAME_COLUMNS, RunResults, load

__all__ = [
    "FRAME_COLUMNS",
    "RESULT_FORMAT",
    "Comparison",
    "ResultFileError",
    "RunResults",
    "cell_key",
    "compare_runs",
    "load",
    "render",
]
