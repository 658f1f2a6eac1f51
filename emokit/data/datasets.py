"""The dataset-provider interface that dataset plugins implement."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emokit.data.corpus import Corpus


class DataLayoutError(FileNotFoundError):
    """A data root does not hold a corpus in its expected layout; the message says what and where."""


@dataclass
class LoadContext:
    """What a dataset provider may need to find or make its data.

    Attributes:
        data_root: folder holding real corpora (``--data-root`` / ``EMOKIT_DATA``), or ``None``.
        cache_dir: emokit's cache folder (generated corpora live under it).
        sim_scale: size of simulated corpora relative to the real corpus (1.0 = full size).
        sim_seed: seed of simulated-corpus generation (same seed, same corpus).
        progress: optional callback ``progress(description, done, total)`` for long steps.
        providers: every registered dataset provider by name, so that one provider may load
            through another (a simulated corpus is read by the real corpus's loader).
        regenerate: simulated corpora: generate again even when a complete copy exists.
    """

    data_root: Path | None = None
    cache_dir: Path | None = None
    sim_scale: float = 1.0
    sim_seed: int = 0
    progress: Callable[[str, int, int], None] | None = None
    providers: dict[str, DatasetProvider] = field(default_factory=dict)
    regenerate: bool = False


class DatasetProvider(ABC):
    """A named corpus that emokit can load.

    Subclasses set the class attributes and implement :meth:`load`.
    """

    #: the name users type (``--source NAME``); lowercase, dashes allowed.
    name: str = ""
    #: one line shown by ``emokit list``.
    description: str = ""
    #: which of ``"audio"`` / ``"visual"`` the corpus provides.
    modalities: tuple[str, ...] = ("audio",)
    #: ISO 639-1 code of the spoken language.
    language: str = ""

    @abstractmethod
    def load(self, context: LoadContext) -> Corpus:
        """Read the corpus and return it.

        Raise :class:`DataLayoutError` when the data is not where or how it is expected; report
        unreadable or misnamed files in :attr:`Corpus.problems` instead of raising.
        """

    def load_folder(self, folder: Path, *, name: str | None = None) -> Corpus:
        """Read the corpus from ``folder``, laid out as the corpus is distributed.

        Loaders of real corpora implement this (their :meth:`load` finds the folder under the
        data root and calls it); simulated corpora written in the same layout are read with it,
        under their own ``name``.
        """
        raise NotImplementedError(f"dataset {self.name!r} cannot be read from an arbitrary folder")

    def prepare(self, context: LoadContext) -> Path | None:
        """Make the data available (e.g. generate a simulated corpus) and return its folder.

        The default does nothing and returns ``None``: real corpora are never downloaded.
        """
        return None
