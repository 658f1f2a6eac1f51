"""The cross-corpus protocol: tasks, methods, metrics, result files and reports."""

from emokit.bench.task import CorpusSplits, Method, SplitData, TransferTask

__all__ = ["CorpusSplits", "Method", "SplitData", "TransferTask"]
