"""The method interface that method plugins implement (:class:`Method`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from emokit.methods.options import MethodOption, method_option_values
from emokit.methods.task import TransferTask


class Method(ABC):
    """A transfer method: trains on a :class:`TransferTask` and predicts the target test split."""

    #: the name users type (``--method NAME``).
    name: str = ""
    #: one line shown by ``emokit list``.
    description: str = ""
    #: modalities the method supports (a method on plain feature vectors takes any of them).
    modalities: tuple[str, ...] = ("audio", "visual", "audiovisual")
    #: whether it uses labelled target training data. ``False`` (source-only methods): the runner
    #: hands it every target split without labels, and runs it once for all target budgets.
    uses_target_labels: bool = True
    #: methods ``emokit bench`` runs beside this one when it is named without them (the baselines a
    #: paper about this method would report); ``--no-baselines`` turns that off.
    compare_with: tuple[str, ...] = ()
    #: the options it takes (:class:`emokit.options.Option`); ``--option`` keys are
    #: checked against them before any work. ``None``: not declared (keys reach it unchecked).
    options: tuple[MethodOption, ...] | None = None
    #: ``True``: the runner hands it the features as extracted, not normalised.
    raw_features: bool = False

    @abstractmethod
    def run(self, task: TransferTask) -> np.ndarray:
        """Train, then return predicted class indices for ``task.target.test`` (shape ``[n]``)."""

    def info(self) -> dict[str, Any]:
        """Extra facts about the last :meth:`run`, recorded in the result file's cell (e.g. the
        kernel backend used). A ``"note"`` string, if present, is also printed under the cell's
        line by ``emokit bench``."""
        return {}

    def option_values(self, task: TransferTask) -> dict[str, Any]:
        """This method's options for ``task``: typed, defaults filled in (see :attr:`options`).

        Works both on the runner's already resolved options and on raw ``key=value`` strings (a
        task built by hand), where ``NAME.KEY`` keys win over bare ``KEY`` ones."""
        return method_option_values(self, task.options)
