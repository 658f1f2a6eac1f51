"""What every loader of a real corpus shares: finding the corpus under the data root, walking its
files, probing media cheaply, fingerprinting the accepted files and assembling the :class:`Corpus`.

A concrete loader subclasses :class:`RealCorpusProvider` and implements :meth:`~RealCorpusProvider.has_layout`
(does this folder look like the corpus?) and :meth:`~RealCorpusProvider.read` (turn the folder into
utterances, reporting every file it could not use).
"""

from __future__ import annotations

import hashlib
import os
import re
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import soundfile

from emokit.api import (
    Corpus,
    DataLayoutError,
    DatasetProvider,
    LabelMap,
    LoadContext,
    LoadProblem,
    Utterance,
)
from emokit_plugins.corpora.labels import LABEL_MAPS

#: Part of every fingerprint: bump when a loader changes the ids or fields it produces, so that
#: features cached under the old interpretation are not reused.
LOADER_VERSION = "1"

#: Folders that archive tools leave behind (macOS zips) and that never hold corpus files.
_IGNORED_DIRS = frozenset({"__macosx"})

DATA_ROOT_HINT = "set --data-root or EMOKIT_DATA"


class MediaProblem(Exception):
    """A media file that cannot be used; the message is the reason (the caller adds the path)."""


@dataclass
class ReadResult:
    """What :meth:`RealCorpusProvider.read` found in a corpus folder.

    Attributes:
        utterances: every usable utterance (any order; the corpus sorts them).
        problems: files reported while reading, skipped or accepted with a warning.
        accepted: every file an utterance refers to; the fingerprint is computed over these.
    """

    utterances: list[Utterance] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    accepted: list[Path] = field(default_factory=list)
    _wav_ids: dict[str, Path] = field(default_factory=dict, repr=False)

    def skip(self, path: Path, reason: str) -> None:
        """Report ``path`` as left out."""
        self.problems.append(LoadProblem(path=path, reason=reason, skipped=True))

    def warn(self, path: Path, reason: str) -> None:
        """Report ``path`` as used despite ``reason``; the reason says what was accepted."""
        self.problems.append(LoadProblem(path=path, reason=reason, skipped=False))

    def add_wav(self, path: Path, utterance: Utterance) -> None:
        """Add ``utterance``, read from the WAV ``path``, with the sample rate of its header.

        A WAV whose id was already added is reported as a duplicate, and one whose header cannot
        be read is reported as unreadable; both are skipped.
        """
        if path.stem in self._wav_ids:
            self.skip(path, f"duplicate of {self._wav_ids[path.stem]} (same utterance id)")
            return
        try:
            rate = probe_wav(path)
        except MediaProblem as exc:
            self.skip(path, str(exc))
            return
        self.utterances.append(replace(utterance, sample_rate=rate))
        self.accepted.append(path)
        self._wav_ids[path.stem] = path


# -- names and folders -----------------------------------------------------------------------
def normalise_name(name: str) -> str:
    """Lower-case ``name`` and drop everything but letters and digits (``"eNTERFACE'05"`` ->
    ``"enterface05"``), so folder names match however a user spelled them."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def natural_key(text: str) -> tuple:
    """Sort key that orders embedded numbers numerically (``"s2"`` before ``"s10"``)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def _hidden(name: str) -> bool:
    # ".DS_Store", "._a01.wav" (macOS resource forks), "__MACOSX"
    return name.startswith(".") or name.lower() in _IGNORED_DIRS


def subdirs(folder: Path) -> list[Path]:
    """The visible sub-folders of ``folder``, sorted; empty when ``folder`` cannot be listed."""
    try:
        return sorted(
            (p for p in folder.iterdir() if p.is_dir() and not _hidden(p.name)), key=lambda p: p.name
        )
    except OSError:
        return []


def child_dir(folder: Path, name: str) -> Path | None:
    """The sub-folder of ``folder`` called ``name``, compared case-insensitively, or ``None``."""
    exact = folder / name
    if exact.is_dir():
        return exact
    wanted = name.lower()
    return next((p for p in subdirs(folder) if p.name.lower() == wanted), None)


def walk_files(folder: Path) -> Iterator[Path]:
    """Every visible file under ``folder``, depth first in sorted order.

    Hidden files and folders (``.DS_Store``, ``._*`` resource forks) and ``__MACOSX`` are not
    corpus files and are skipped silently. Symbolic links are followed (users often link corpora
    in from elsewhere), each real folder once.
    """
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a link cycle
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
        for name in sorted(filenames):
            if not _hidden(name):
                yield Path(dirpath, name)


def find_corpus_folder(data_root: Path | None, provider: RealCorpusProvider) -> Path:
    """Locate ``provider``'s corpus under ``data_root``.

    Looked at, in order: ``data_root`` itself (when it directly has the layout), then each
    sub-folder whose name, normalised by :func:`normalise_name`, starts with one of the provider's
    :attr:`~RealCorpusProvider.folder_aliases` (and, inside such a folder, one more level, for
    archives that unpack into a folder of the same name).

    Raises:
        DataLayoutError: no data root, or nothing with the layout; the message says what was
            expected and where.
    """
    expected = provider.expected_description()
    if data_root is None:
        raise DataLayoutError(f"{provider.name}: no data root given: expected {expected}; {DATA_ROOT_HINT}")
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DataLayoutError(
            f"{provider.name}: data root {root} is not a folder: expected {expected}; {DATA_ROOT_HINT}"
        )
    if provider.has_layout(root):
        return root
    aliases = tuple(normalise_name(a) for a in provider.folder_aliases)
    near_misses: list[Path] = []
    for candidate in subdirs(root):
        if not normalise_name(candidate.name).startswith(aliases):
            continue
        for folder in (candidate, *subdirs(candidate)):
            if provider.has_layout(folder):
                return folder
        near_misses.append(candidate)
    found = ""
    if near_misses:
        names = ", ".join(str(p) for p in near_misses)
        found = f" (found {names}, but without that layout)"
    raise DataLayoutError(
        f"{provider.name}: no {provider.title} corpus under {root}: expected {expected}{found}; "
        f"{DATA_ROOT_HINT}"
    )


# -- media -----------------------------------------------------------------------------------
def probe_wav(path: Path) -> int:
    """Check that ``path`` is a readable, non-empty audio file and return its sample rate.

    Only the header is read (:func:`soundfile.info`), so this is cheap enough for every file.

    Raises:
        MediaProblem: the reason the file is unusable.
    """
    _require_bytes(path)
    try:
        info = soundfile.info(str(path))
    except Exception as exc:  # soundfile raises several types for bad headers; all mean unreadable
        detail = getattr(exc, "error_string", None) or str(exc)
        raise MediaProblem(f"not a readable audio file ({detail})") from exc
    if info.frames <= 0:
        raise MediaProblem("audio file holds no samples")
    return int(info.samplerate)


def probe_video(path: Path) -> None:
    """Check that the video ``path`` exists and is non-empty.

    Videos are not decoded here (that would take minutes for a whole corpus); feature extraction
    reports files that fail to decode.

    Raises:
        MediaProblem: the reason the file is unusable.
    """
    _require_bytes(path)


def _require_bytes(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaProblem(f"cannot be read ({exc.strerror or exc})") from exc
    if size == 0:
        raise MediaProblem("empty file (0 bytes)")


def corpus_label(family: str, code: str) -> str | None:
    """The harmonised label of ``code`` in corpus ``family``, or ``None`` when the code is unknown."""
    return LABEL_MAPS[family].get(code)


def fingerprint(root: Path, files: Iterable[Path]) -> str:
    """A short hash of (path relative to ``root``, size, modification time) of every file.

    It changes when a file is added, removed, replaced or touched, which is what the feature
    cache needs to notice changed data without reading the files.
    """
    entries = []
    for path in files:
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            rel = path.as_posix()
        st = path.stat()
        entries.append(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}")
    digest = hashlib.sha256(f"emokit-corpora/{LOADER_VERSION}\n".encode())
    for entry in sorted(entries):
        digest.update(entry.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()[:16]


# -- the provider base class ------------------------------------------------------------------
class RealCorpusProvider(DatasetProvider):
    """A corpus read from a user's folder in its distributed layout.

    Subclasses set the class attributes below (and :class:`DatasetProvider`'s) and implement
    :meth:`has_layout` and :meth:`read`.
    """

    #: key of :data:`emokit_plugins.corpora.labels.LABEL_MAPS`: the corpus's emotion codes.
    family: ClassVar[str] = ""
    #: the corpus's usual spelling, used in messages (``"SAVEE"``).
    title: ClassVar[str] = ""
    #: folder names under the data root that may hold the corpus; compared after
    #: :func:`normalise_name`, as prefixes. The first one is shown in messages.
    folder_aliases: ClassVar[tuple[str, ...]] = ()
    #: what the corpus folder contains, for messages (``"AudioData/<speaker>/<code><nn>.wav"``).
    layout: ClassVar[str] = ""
    #: the corpus's nominal audio sample rate in Hz.
    nominal_sample_rate: ClassVar[int | None] = None

    @property
    def label_map(self) -> LabelMap:  # type: ignore[override]
        """The corpus's emotion codes mapped onto the common vocabulary."""
        return LABEL_MAPS[self.family]

    def expected_description(self) -> str:
        """``"a folder SAVEE/ containing ..."``: the layout as error messages state it."""
        return f"a folder {self.folder_aliases[0]}/ containing {self.layout}"

    def load(self, context: LoadContext) -> Corpus:
        """Find the corpus under ``context.data_root`` (see :func:`find_corpus_folder`) and read it."""
        return self.load_folder(find_corpus_folder(context.data_root, self))

    def load_folder(self, folder: Path, *, name: str | None = None) -> Corpus:
        """Read the corpus from ``folder`` (the folder that directly holds the layout).

        Args:
            folder: the corpus folder, e.g. ``.../SAVEE`` holding ``AudioData/``.
            name: the name the corpus is loaded under (default: this provider's name); simulated
                corpora written in this layout pass their own.

        Raises:
            DataLayoutError: ``folder`` does not have the layout, or holds no usable utterance.
        """
        corpus_name = name or self.name
        folder = Path(folder).expanduser()
        if not folder.is_dir() or not self.has_layout(folder):
            raise DataLayoutError(
                f"{corpus_name}: no {self.title} corpus in {folder}: expected it to contain {self.layout}"
            )
        result = self.read(folder)
        if not result.utterances:
            reported = ""
            if result.problems:
                shown = "; ".join(str(p) for p in result.problems[:3])
                ellipsis = " ..." if len(result.problems) > 3 else ""
                reported = f" ({len(result.problems)} files reported: {shown}{ellipsis})"
            raise DataLayoutError(
                f"{corpus_name}: no usable utterance in {folder}: expected {self.layout}{reported}"
            )
        utterances = sorted(result.utterances, key=lambda u: (natural_key(u.speaker), natural_key(u.id)))
        # A copy holding only part of the corpus (e.g. SAVEE's audio without its clips) provides only
        # the modalities it has, so asking it for another fails with a clear message.
        present = tuple(m for m in self.modalities if any(u.has(m) for u in utterances))
        return Corpus(
            name=corpus_name,
            root=folder,
            utterances=utterances,
            language=self.language,
            modalities=present,
            problems=result.problems,
            fingerprint=fingerprint(folder, result.accepted),
        )

    @abstractmethod
    def has_layout(self, folder: Path) -> bool:
        """Whether ``folder`` directly holds this corpus's layout (cheap: looks at folder names)."""

    @abstractmethod
    def read(self, folder: Path) -> ReadResult:
        """Read every utterance under ``folder``, reporting each file that cannot be used."""
