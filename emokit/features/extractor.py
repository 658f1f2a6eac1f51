"""The feature-extractor interface that feature plugins implement (:class:`FeatureExtractor`)."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from emokit.data.corpus import Utterance
from emokit.data.media import MediaReadError
from emokit.options import Option


class FeatureExtractor(ABC):
    """Turns one utterance into a fixed-length float32 vector.

    Subclasses set the class attributes and implement :meth:`extract`. The feature cache
    (:mod:`emokit.features.cache`) keys on :attr:`name`, :attr:`version` and :meth:`params`, so
    any change to what the extractor computes must show in one of them.

    An extractor that takes options declares them in :attr:`options` and accepts them as keyword
    arguments of its constructor; users set them as ``--option NAME.KEY=VALUE`` (``NAME`` is the
    extractor's name; in a config file, ``[option.NAME]``). The run builds the instance it uses
    with :meth:`configured`. One that runs a large model on batches sets :attr:`batch_size` and
    implements :meth:`extract_batch`.
    """

    #: the name users type (``--features NAME``).
    name: str = ""
    #: ``"audio"``, ``"visual"`` or ``"audiovisual"`` (it reads both media of an utterance).
    modality: str = "audio"
    #: one line shown by ``emokit list``.
    description: str = ""
    #: bump when the computation changes, to invalidate cached features.
    version: str = "1"
    #: the options it takes (``--option NAME.KEY=VALUE``), passed to the constructor as keywords.
    options: tuple[Option, ...] = ()
    #: above 1, the run hands :meth:`extract_batch` up to this many utterances at a time, in its own
    #: process (a model on a GPU is better fed batches than copied into worker processes); 1: the
    #: run calls :meth:`extract` per utterance, in a pool of processes with ``--jobs``.
    batch_size: int = 1
    #: the run's torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``), set by :meth:`configured`.
    device: str = "cpu"

    def configured(self, values: dict[str, Any], *, device: str = "cpu") -> FeatureExtractor:
        """The instance a run uses: set up with ``values`` (each declared option's typed value,
        defaults filled in) on ``device``.

        The default builds ``type(self)(**values)`` when the extractor declares options, else
        copies it, and sets :attr:`device`. Raise ``ValueError`` (or :class:`~emokit.api.OptionError`),
        naming the option and what was expected, for values that cannot work: the run refuses them
        before any work.
        """
        made = type(self)(**values) if self.options else copy.copy(self)
        made.device = device
        return made

    def params(self) -> dict[str, Any]:
        """The parameters that determine the output (part of the cache key)."""
        return {}

    def layout(self) -> dict[str, tuple[int, ...]] | None:
        """How the vector is made of parts, for methods that need its structure: each part's name
        and shape in order (e.g. ``{"face": (1, 48, 48), "logmel": (1, 64, 128)}``), or ``None``
        for a plain feature vector (the default). Methods get it as ``TransferTask.feature_layout``.
        """
        return None

    @abstractmethod
    def extract(self, utterance: Utterance) -> np.ndarray:
        """Return a 1-D float32 feature vector for ``utterance``.

        Raise :class:`MediaReadError` (naming the file) when its media cannot be read; the
        caller reports the file and skips it.
        """

    def extract_batch(self, utterances: list[Utterance]) -> list[np.ndarray | MediaReadError]:
        """One entry per utterance, in order: its vector, or the :class:`MediaReadError` of its
        file (reported and skipped like one raised by :meth:`extract`). Called instead of
        :meth:`extract` when :attr:`batch_size` is above 1; the default extracts one by one."""
        out: list[np.ndarray | MediaReadError] = []
        for utterance in utterances:
            try:
                out.append(self.extract(utterance))
            except MediaReadError as exc:
                out.append(exc)
        return out
