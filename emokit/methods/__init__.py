"""The method interface: what a transfer method receives (:class:`TransferTask`), what it is
(:class:`Method`), the options it declares and the feature normalisation the runner applies first."""

from emokit.methods.method import Method
from emokit.methods.normalisation import NORMALISATIONS, check_scheme, normalise_task
from emokit.methods.options import MethodOption, Option, OptionError
from emokit.methods.task import (
    CorpusSplits,
    LabelsWithheldError,
    SplitData,
    TransferTask,
    source_views,
    stack_splits,
)

__all__ = [
    "NORMALISATIONS",
    "CorpusSplits",
    "LabelsWithheldError",
    "Method",
    "MethodOption",
    "Option",
    "OptionError",
    "SplitData",
    "TransferTask",
    "check_scheme",
    "normalise_task",
    "source_views",
    "stack_splits",
]
