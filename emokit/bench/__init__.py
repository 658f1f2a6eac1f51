"""The cross-corpus protocol: tasks, methods, metrics, result files and reports."""

from emokit.bench.options import MethodOption, OptionError
from emokit.bench.task import CorpusSplits, LabelsWithheldError, Method, SplitData, TransferTask

__all__ = [
    "CorpusSplits",
    "LabelsWithheldError",
    "Method",
    "MethodOption",
    "OptionError",
    "SplitData",
    "TransferTask",
]
