"""The dataset-provider interface that dataset plugins implement (:class:`DatasetProvider`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emokit.data.corpus import Corpus
from emokit.data.labels import LabelMap
from emokit.options import Option, option_values


class DataLayoutError(FileNotFoundError):
    """A data root does not hold a corpus in its expected layout; the message says what and where."""


@dataclass
class LoadContext:
    """What a dataset provider may need to find or make its data.

    Attributes:
        data_root: folder holding real corpora (``--data-root`` / ``EMOKIT_DATA``), or ``None``.
        cache_dir: emokit's cache folder (generated corpora live under it).
        options: the provider's options (:attr:`DatasetProvider.options`), typed, defaults filled in
            (``--data-option KEY=VALUE``, or ``--data-option NAME.KEY=VALUE`` for one dataset). A
            provider reads them with :meth:`option`.
        progress: optional callback ``progress(description, done, total)`` for long steps.
        providers: every registered dataset provider by name, so that one provider may load
            through another (a simulated corpus is read by the real corpus's loader).
        regenerate: a provider that generates or converts its data makes it again even when a
            complete copy exists (``emokit data prepare --force``).
    """

    data_root: Path | None = None
    cache_dir: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[str, int, int], None] | None = None
    providers: dict[str, DatasetProvider] = field(default_factory=dict)
    regenerate: bool = False

    def option(self, provider: DatasetProvider, name: str) -> Any:
        """The value of ``provider``'s option ``name``: from :attr:`options` (``NAME.KEY`` keys win over
        bare ``KEY`` ones, and strings are parsed by the option's type), else its default.

        Raises:
            KeyError: ``provider`` declares no option ``name``.
            OptionError: the given value is not what the option takes.
        """
        values = option_values(provider, self.options, flag="--data-option", kind="dataset")
        if name not in values:
            raise KeyError(f"dataset {provider.name!r} declares no option {name!r}")
        return values[name]


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
    #: the corpus's own emotion codes mapped onto emokit's common labels (``None``: the provider
    #: harmonises labels its own way); ``emokit data info`` shows it.
    label_map: LabelMap | None = None
    #: the options it takes (``--data-option KEY=VALUE``), read in :meth:`load` with
    #: ``context.option(self, KEY)``; keys are checked before any work.
    options: tuple[Option, ...] = ()

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
