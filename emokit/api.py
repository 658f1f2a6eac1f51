"""emokit's public plugin API: everything a dataset, feature or method plugin needs, in one place.

A plugin imports from here and nowhere else in emokit; emokit's own built-in plugins do the same,
so a third party can do everything they do. Names here are kept stable across versions (a name that
moves keeps working where it was, with a :class:`DeprecationWarning`).

What is here:

- **hooks**: :data:`hookimpl` marks a plugin's ``emokit_register_*`` functions (see
  :mod:`emokit.hookspecs` for each hook's contract).
- **datasets**: :class:`DatasetProvider`, :class:`LoadContext`, :class:`Corpus`, :class:`Utterance`,
  :class:`LoadProblem`, :class:`DataLayoutError`; media readers (:func:`read_audio`,
  :func:`read_video_frames`, :func:`video_info`, :func:`resample`, :class:`MediaReadError`); labels
  (:data:`COMMON_LABELS`, :class:`LabelMap`, :func:`harmonise`, :func:`check_labels`,
  :func:`shared_labels`, :class:`UnknownLabelError`).
- **features**: :class:`FeatureExtractor`, :class:`FeatureWarning`.
- **methods**: :class:`Method`, :class:`TransferTask`, :class:`CorpusSplits`, :class:`SplitData`,
  :class:`LabelsWithheldError`; options (:class:`Option` = :class:`MethodOption`,
  :class:`OptionError`, :func:`method_option_values`, :func:`positive_numbers`); the normalisation
  the runner applies before any method (:func:`normalise_task`, :data:`NORMALISATIONS`) and the
  views the baselines take of a task (:func:`source_views`, :func:`stack_splits`).
- **training helpers**: seeding, devices, the MLP built from options, the training loop with model
  selection on validation UAR (:func:`train_classifier`, which also takes an extra loss term and an
  unlabelled target stream), :func:`predict`, :func:`uar`.
- **domain-adaptation losses**: :func:`mmd`, :func:`lmmd`, :func:`gaussian_kernels`, :func:`ramp`.
- **kernels**: :mod:`emokit.kernels` (the multi-path ops with their pure-PyTorch fallback), as
  ``kernels``.
- **suites**: :class:`Suite`, :class:`Experiment`, :data:`DEFAULT_SUITE`.
- **folders**: :func:`cache_dir`, :func:`data_root_from_env`.
"""

from __future__ import annotations

from emokit import kernels
from emokit.data.corpus import (
    MODALITIES,
    SIMULATED_MARKER,
    Corpus,
    LoadProblem,
    Utterance,
    modality_parts,
    provides,
    simulation_marker,
)
from emokit.data.labels import (
    COMMON_LABELS,
    LabelMap,
    LabelMapError,
    UnknownLabelError,
    check_labels,
    harmonise,
    label_index,
    read_label_map,
    relabel,
    shared_labels,
)
from emokit.data.media import (
    MediaReadError,
    VideoInfo,
    read_audio,
    read_video_frames,
    resample,
    select_frame_indices,
    video_info,
)
from emokit.data.provider import DataLayoutError, DatasetProvider, LoadContext
from emokit.features.cache import FeatureWarning
from emokit.features.extractor import FeatureExtractor
from emokit.folders import (
    CorporaConfigError,
    cache_dir,
    config_dir,
    corpora_config_file,
    data_root_from_env,
    read_corpora_config,
)
from emokit.hookspecs import hookimpl
from emokit.losses import gaussian_kernels, lmmd, mmd, ramp
from emokit.methods.method import Method
from emokit.methods.normalisation import NORMALISATIONS, normalise_task
from emokit.methods.options import MethodOption, method_option_values
from emokit.methods.task import (
    CorpusSplits,
    LabelsWithheldError,
    SplitData,
    TransferTask,
    source_views,
    stack_splits,
)
from emokit.options import Option, OptionError, positive_numbers
from emokit.suites import DEFAULT_SUITE, Experiment, Suite
from emokit.training import (
    DROPOUT,
    EPOCHS,
    HIDDEN,
    LR,
    MLP_OPTIONS,
    EpochRecord,
    Standardizer,
    TrainResult,
    TrainStep,
    class_weights,
    make_mlp,
    mlp_from_options,
    mlp_widths,
    model_device,
    predict,
    seed_everything,
    torch_device,
    train_classifier,
    uar,
)

__all__ = [
    "COMMON_LABELS",
    "DEFAULT_SUITE",
    "DROPOUT",
    "EPOCHS",
    "HIDDEN",
    "LR",
    "MLP_OPTIONS",
    "MODALITIES",
    "NORMALISATIONS",
    "SIMULATED_MARKER",
    "CorporaConfigError",
    "Corpus",
    "CorpusSplits",
    "DataLayoutError",
    "DatasetProvider",
    "EpochRecord",
    "Experiment",
    "FeatureExtractor",
    "FeatureWarning",
    "LabelMap",
    "LabelMapError",
    "LabelsWithheldError",
    "LoadContext",
    "LoadProblem",
    "MediaReadError",
    "Method",
    "MethodOption",
    "Option",
    "OptionError",
    "SplitData",
    "Standardizer",
    "Suite",
    "TrainResult",
    "TrainStep",
    "TransferTask",
    "UnknownLabelError",
    "Utterance",
    "VideoInfo",
    "cache_dir",
    "check_labels",
    "class_weights",
    "config_dir",
    "corpora_config_file",
    "data_root_from_env",
    "gaussian_kernels",
    "harmonise",
    "hookimpl",
    "kernels",
    "label_index",
    "lmmd",
    "make_mlp",
    "method_option_values",
    "mlp_from_options",
    "mlp_widths",
    "mmd",
    "modality_parts",
    "model_device",
    "normalise_task",
    "positive_numbers",
    "predict",
    "provides",
    "ramp",
    "read_audio",
    "read_corpora_config",
    "read_label_map",
    "read_video_frames",
    "relabel",
    "resample",
    "seed_everything",
    "select_frame_indices",
    "shared_labels",
    "simulation_marker",
    "source_views",
    "stack_splits",
    "torch_device",
    "train_classifier",
    "uar",
    "video_info",
]
