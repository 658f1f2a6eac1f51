"""PathNet meta-transfer (Fernando et al. 2017; Nguyen et al. for emotion) as the ``pathnet`` method:
the model, the batched genetic search, the transfer protocol and the method that runs it in
``emokit bench``. The search evaluates whole populations of paths with emokit's multi-path kernels.

>>> from emokit_plugins.pathnet import Architecture, SearchConfig, TaskData, transfer
>>> report = transfer([source], target, Architecture(input_dim=88), SearchConfig(), seed=0)
>>> report.model.predict(target.name, X_test)       # the target's best path
>>> report.model.save("savee-to-enterface.pt")      # PathNet.load(...) gives it back

``transfer(..., device="cuda:0")`` evolves on a GPU (the random draws stay on the CPU generator);
saved models hold CPU tensors.
"""

from __future__ import annotations

from emokit.api import hookimpl

from .genetics import mutate, random_genotypes, random_pairs, tournaments
from .method import PathNetMethod
from .model import Architecture, PathNet, TaskRecord
from .search import GenerationStats, SearchConfig, SearchResult, StageData, evolve
from .transfer import SourceStageCache, TaskData, TransferReport, learn_task, stage_data, transfer

__all__ = [
    "Architecture",
    "GenerationStats",
    "PathNet",
    "PathNetMethod",
    "SearchConfig",
    "SearchResult",
    "SourceStageCache",
    "StageData",
    "TaskData",
    "TaskRecord",
    "TransferReport",
    "emokit_register_methods",
    "evolve",
    "learn_task",
    "mutate",
    "random_genotypes",
    "random_pairs",
    "stage_data",
    "tournaments",
    "transfer",
]


@hookimpl
def emokit_register_methods() -> list:
    """The ``pathnet`` method."""
    return [PathNetMethod()]
