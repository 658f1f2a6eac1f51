"""PathNet meta-transfer (Fernando et al. 2017; Nguyen et al. for emotion): the model, the batched
genetic search and the transfer protocol. The ``pathnet`` method plugin runs it in ``emokit bench``.

>>> from emokit.pathnet import Architecture, SearchConfig, TaskData, transfer
>>> report = transfer([source], target, Architecture(input_dim=88), SearchConfig(), seed=0)
>>> report.model.predict(target.name, X_test)       # the target's best path
>>> report.model.save("savee-to-enterface.pt")      # PathNet.load(...) gives it back

``transfer(..., device="cuda:0")`` evolves on a GPU (the random draws stay on the CPU generator);
saved models hold CPU tensors.
"""

from emokit.pathnet.genetics import mutate, random_genotypes, random_pairs, tournaments
from emokit.pathnet.model import Architecture, PathNet, TaskRecord
from emokit.pathnet.search import GenerationStats, SearchConfig, SearchResult, StageData, evolve
from emokit.pathnet.transfer import (
    SourceStageCache,
    TaskData,
    TransferReport,
    learn_task,
    stage_data,
    transfer,
)

__all__ = [
    "Architecture",
    "GenerationStats",
    "PathNet",
    "SearchConfig",
    "SearchResult",
    "SourceStageCache",
    "StageData",
    "TaskData",
    "TaskRecord",
    "TransferReport",
    "evolve",
    "learn_task",
    "mutate",
    "random_genotypes",
    "random_pairs",
    "stage_data",
    "tournaments",
    "transfer",
]
