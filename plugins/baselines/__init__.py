"""Baseline transfer methods: source-only, target-only, finetune (MLP) and svm (scikit-learn)."""

from __future__ import annotations

from emokit.api import hookimpl
from emokit_plugins.baselines.methods import FineTune, SourceOnly, SourceSVM, TargetOnly


@hookimpl
def emokit_register_methods() -> list:
    return [SourceOnly(), TargetOnly(), FineTune(), SourceSVM()]
