"""The method contract: :func:`check_method`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from emokit.api import (
    MODALITIES,
    LabelsWithheldError,
    Method,
    TransferTask,
)
from emokit.testing.rules import check_identity, fail, round_trip
from emokit.testing.tasks import as_runner_gives, make_task


# -- methods -------------------------------------------------------------------------------------------
def _predictions(method: Method, task: TransferTask, what: str) -> np.ndarray:
    frozen = [(s, s.X.copy()) for c in (*task.sources, task.target) for s in (c.train, c.val, c.test) if s]
    try:
        predictions = method.run(task)
    except LabelsWithheldError as exc:
        fail(what, f"read labels the runner withholds from it: {exc}")
    for split, before in frozen:
        if not np.array_equal(split.X, before):
            fail(
                what, f"changed the features of {split.corpus} {split.part} in place (the runner shares them)"
            )
    n = len(task.target.test) if task.target.test is not None else 0
    if not isinstance(predictions, np.ndarray):
        fail(what, f"run() returned {type(predictions).__name__}; expected a NumPy array of class indices")
    if predictions.shape != (n,):
        fail(what, f"run() returned shape {predictions.shape}; expected ({n},), one per target test row")
    if not np.issubdtype(predictions.dtype, np.integer):
        fail(what, f"run() returned dtype {predictions.dtype}; expected integer class indices")
    if n and (predictions.min() < 0 or predictions.max() >= task.num_classes):
        fail(what, f"run() returned classes outside 0..{task.num_classes - 1}")
    return predictions


def check_method(
    method: Method,
    task: TransferTask | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    norm: str = "corpus",
    deterministic: bool = True,
) -> np.ndarray:
    """Check ``method`` against the method contract; return its predictions on the task.

    Checks its name, description, modalities and declared options; that it pickles; that it runs
    on ``task`` (default: :func:`make_task` in its first modality) as the runner gives it,
    returning one integer class per target test row without reading a withheld label or changing
    the features in place; that it reports the validation score it selected on
    (:meth:`TransferTask.report_validation`); that ``info()`` is JSON; and, with
    ``deterministic``, that a pickled copy given the same task predicts the same.

    Args:
        options: ``--option`` values for the run (e.g. few epochs, to keep the check fast).
    """
    if not isinstance(method, Method):
        fail(type(method).__name__, "is not an emokit.api.Method")
    what = check_identity(method, "method")
    if not method.modalities or not set(method.modalities) <= set(MODALITIES):
        fail(what, f"modalities {method.modalities!r}: expected some of {', '.join(MODALITIES)}")
    if not isinstance(method.compare_with, tuple) or method.name in method.compare_with:
        fail(what, "compare_with must be a tuple of other methods' names")
    copy = round_trip(method, what)
    task = task or make_task(modality=method.modalities[0])
    if options:
        task = replace(task, options={**task.options, **options})
    view = as_runner_gives(task, method, norm=norm)
    predictions = _predictions(method, view, what)
    validation = view.validation
    if not validation or not isinstance(validation.get("uar"), float) or not 0 <= validation["uar"] <= 1:
        fail(what, "reported no validation UAR in 0..1: call task.report_validation(uar, on=...)")
    try:
        json.dumps(method.info())
    except (TypeError, ValueError) as exc:
        fail(what, f"info() is not JSON (the result file records it): {exc}")
    if deterministic:
        again = _predictions(copy, as_runner_gives(task, copy, norm=norm), what)
        if not np.array_equal(predictions, again):
            fail(
                what, "two runs with the same seed predicted differently: seed every generator from task.seed"
            )
    return predictions
