"""Corpora described by a manifest file and a label-map file, registered without writing Python.

Two manifest formats (docs/manifests.md has examples):

- **CSV/TSV**, one row per utterance, with a header naming the columns: the audio file (``path``,
  ``file``, ``wav`` or ``audio``) and/or the ``video``, the ``speaker`` (``spk``), the corpus's own
  ``emotion`` code (``emo``, ``label``), and optionally the ``sentence`` (``text``, ``text_id``) and
  ``gender`` (``sex``). The id is the media path relative to the root, without its suffix.
- **JSONL** as EmoBox writes it: one object per line with ``key`` (the id), ``wav`` and ``emo``; its
  other fields (``sample_rate``, ``length``, ``channel``, ``dataset``, ``type``, ``task``) are not
  needed. EmoBox has no speaker field: its speaker-independent folds are files beside the manifest,
  ``fold_K/<name>_test_fold_K.jsonl``, and each utterance's speaker group is then the test fold it
  belongs to (``"fold1"``), so emokit's speaker folds follow EmoBox's own.

Rows that cannot be used (a missing file, an emotion code the label map lacks, no speaker, a
duplicate id, a line that is not JSON) are reported as :class:`LoadProblem` and skipped; a manifest
that cannot be used at all raises :class:`DataLayoutError` naming it and what was expected.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emokit.api import (
    Corpus,
    DataLayoutError,
    DatasetProvider,
    LabelMap,
    LabelMapError,
    LoadContext,
    LoadProblem,
    Utterance,
    read_label_map,
)

from .common import MediaProblem, fingerprint, natural_key, probe_video, probe_wav

#: bump when the ids or fields read from a manifest change, so that cached features are not reused
MANIFEST_VERSION = "1"

#: field -> the column names (or JSONL keys) accepted for it, compared lower-cased, first match wins
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("key", "id"),
    "audio": ("path", "file", "wav", "audio"),
    "video": ("video",),
    "speaker": ("speaker", "spk"),
    "emotion": ("emotion", "emo", "label"),
    "sentence": ("sentence", "text", "text_id"),
    "gender": ("gender", "sex"),
    "sample_rate": ("sample_rate",),
}

#: what the CSV's columns must be, for messages
EXPECTED_COLUMNS = (
    "path/file (audio) and/or video, speaker, emotion, optional sentence and gender (aliases: "
    + "; ".join(f"{name}: {', '.join(names)}" for name, names in ALIASES.items() if name != "sample_rate")
    + ")"
)
EXPECTED_JSONL = 'one JSON object per line with "key", "wav" and "emo" (EmoBox format)'

#: suffixes whose header soundfile reads; other audio paths (a video's soundtrack) are checked for bytes
_SOUNDFILE_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3", ".au", ".caf"})
_GENDERS = {"m": "m", "male": "m", "man": "m", "f": "f", "female": "f", "woman": "f"}
_FOLD = re.compile(r"_test_fold_?(\d+)\.jsonl$", re.IGNORECASE)
_TRAIN_GROUP = "train"  # EmoBox's single-split corpora: what no test fold holds


@dataclass
class _Row:
    """One manifest row, its fields named as :data:`ALIASES` names them."""

    line: int
    fields: dict[str, Any]
    #: why the line cannot be used (not JSON, fields missing), reported when the row is read in turn
    problem: str | None = None


@dataclass
class _Folds:
    """EmoBox's fold files beside a manifest: utterance key (or wav path) -> speaker group."""

    files: list[Path] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)
    problems: list[LoadProblem] = field(default_factory=list)

    def group(self, key: str | None, wav: Path | None) -> str | None:
        for probe in (key, wav.as_posix() if wav is not None else None):
            if probe is not None and probe in self.groups:
                return self.groups[probe]
        return None


class ManifestProvider(DatasetProvider):
    """A corpus read from a manifest (CSV/TSV or EmoBox JSONL) and a label-map file.

    Args:
        name: the dataset name (``--source NAME``).
        manifest: the manifest file.
        label_map: the label-map file (:func:`emokit.api.read_label_map`): the manifest's emotion
            codes mapped onto the common vocabulary.
        root: the folder relative media paths resolve against (default: the manifest's folder).
        language: ISO 639-1 code of the spoken language.
        description: the line ``emokit list`` shows.
    """

    def __init__(
        self,
        name: str,
        manifest: str | Path,
        label_map: str | Path,
        *,
        root: str | Path | None = None,
        language: str = "",
        description: str = "",
    ) -> None:
        self.name = name
        self.manifest = Path(manifest).expanduser()
        self.label_map_file = Path(label_map).expanduser()
        self.root = Path(root).expanduser() if root else self.manifest.parent
        self.language = language
        self.description = description or f"manifest corpus {self.manifest} (emokit data add)"
        self.modalities = self._declared_modalities()
        self._label_map: LabelMap | None = None

    # -- what the provider shows before loading ------------------------------------------------
    @property
    def label_map(self) -> LabelMap | None:  # type: ignore[override]
        """The map read from the label-map file; ``None`` while the file cannot be read (:meth:`load`
        then says why)."""
        if self._label_map is None:
            try:
                self._label_map = read_label_map(self.label_map_file, corpus=self.name)
            except LabelMapError:
                return None
        return self._label_map

    def _declared_modalities(self) -> tuple[str, ...]:
        # a CSV's header says which media it has; JSONL (EmoBox) is audio. Unreadable: audio, and
        # load() reports the problem.
        if _format_of(self.manifest) != "csv":
            return ("audio",)
        try:
            with open(self.manifest, encoding="utf-8-sig", newline="") as fh:
                header = fh.readline()
        except OSError:
            return ("audio",)
        columns = _column_fields(next(csv.reader([header], delimiter=_delimiter(self.manifest, header)), []))
        present = tuple(m for m, f in (("audio", "audio"), ("visual", "video")) if f in columns)
        return present or ("audio",)

    # -- loading --------------------------------------------------------------------------------
    def load(self, context: LoadContext) -> Corpus:
        """Read the manifest (``context`` is not needed: the files are named by the provider).

        Raises:
            DataLayoutError: the manifest, the label map or the root is missing or unusable, a
                required column is missing, there are no rows, no row has a speaker and there are
                no EmoBox fold files, or no row is usable.
        """
        label_map = self._read_label_map()
        if not self.manifest.is_file():
            what = "is a folder" if self.manifest.is_dir() else "no such file"
            raise DataLayoutError(
                f"{self.name}: manifest {self.manifest}: {what}; expected a CSV/TSV with columns "
                f"{EXPECTED_COLUMNS}, or {EXPECTED_JSONL}"
            )
        if not self.root.is_dir():
            raise DataLayoutError(
                f"{self.name}: root {self.root} is not a folder; expected the folder the manifest "
                f"{self.manifest}'s relative paths start from"
            )
        problems: list[LoadProblem] = []
        rows = self._rows()
        if all(r.problem for r in rows):  # every line reported (not JSON, fields missing)
            bad = [LoadProblem(self.manifest, f"line {r.line}: {r.problem}") for r in rows]
            raise DataLayoutError(f"{self.name}: no usable row in {self.manifest}{_shown(bad)}")
        folds = _read_folds(self.manifest, self.root)
        problems += folds.problems
        if not folds.groups and not any(r.fields.get("speaker") for r in rows):
            raise DataLayoutError(
                f"{self.name}: manifest {self.manifest}: no speaker in any row and no EmoBox fold files "
                f"beside it (fold_K/{self.manifest.stem}_test_fold_K.jsonl); expected a speaker column "
                f"({', '.join(ALIASES['speaker'])}) or fold files, so that speaker-independent folds can "
                "be made"
            )
        reader = _RowReader(self, label_map, folds, problems)
        for row in rows:
            reader.read(row)
        if not reader.utterances:
            raise DataLayoutError(f"{self.name}: no usable utterance in {self.manifest}{_shown(problems)}")
        if reader.fold_grouped:
            problems.append(_fold_note(self.manifest, folds, reader.fold_grouped))
        utterances = sorted(reader.utterances, key=lambda u: (natural_key(u.speaker), natural_key(u.id)))
        present = tuple(m for m in ("audio", "visual") if any(u.has(m) for u in utterances))
        return Corpus(
            name=self.name,
            root=self.root,
            utterances=utterances,
            language=self.language,
            modalities=present,
            problems=problems,
            fingerprint=self._fingerprint(label_map, folds, reader.accepted),
        )

    def _read_label_map(self) -> LabelMap:
        try:
            self._label_map = read_label_map(self.label_map_file, corpus=self.name)
        except LabelMapError as exc:  # a missing or bad map is a corpus that cannot be read as set up
            raise DataLayoutError(f"{self.name}: {exc}") from None
        return self._label_map

    def _rows(self) -> list[_Row]:
        try:
            text = self.manifest.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataLayoutError(f"{self.name}: manifest {self.manifest}: cannot read it ({exc})") from None
        if _format_of(self.manifest, text) == "jsonl":
            rows = list(_jsonl_rows(text))
            expected = EXPECTED_JSONL
        else:
            rows = self._csv_rows(text)
            expected = f"a header row and one row per utterance, columns {EXPECTED_COLUMNS}"
        if not rows:
            raise DataLayoutError(f"{self.name}: manifest {self.manifest} has no rows; expected {expected}")
        return rows

    def _csv_rows(self, text: str) -> list[_Row]:
        lines = text.splitlines()
        if not any(line.strip() for line in lines):
            return []
        records = csv.reader(lines, delimiter=_delimiter(self.manifest, lines[0]))
        header = [c.strip() for c in next(records)]
        columns = _column_fields(header)
        missing = [f for f in ("emotion",) if f not in columns]
        if "audio" not in columns and "video" not in columns:
            missing.insert(0, "audio path or video")
        if missing:
            raise DataLayoutError(
                f"{self.name}: manifest {self.manifest}: no {' and no '.join(missing)} column; found columns "
                f"{', '.join(header) or 'none'}; expected {EXPECTED_COLUMNS}"
            )
        rows = []
        for number, record in enumerate(records, 2):
            if not any(cell.strip() for cell in record):
                continue
            fields = {f: record[i].strip() for f, i in columns.items() if i < len(record)}
            rows.append(_Row(number, fields))
        return rows

    def _fingerprint(self, label_map: LabelMap, folds: _Folds, accepted: list[Path]) -> str:
        # the manifest's and fold files' bytes, the map, and the media files' sizes and times: a
        # change to any of them is a new corpus for the feature cache
        digest = hashlib.sha256(f"emokit-manifest/{MANIFEST_VERSION}\n".encode())
        for path in (self.manifest, *folds.files):
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        digest.update(json.dumps(sorted(label_map.codes.items())).encode())
        digest.update(fingerprint(self.root, accepted).encode())
        return digest.hexdigest()[:16]


class _RowReader:
    """Turns manifest rows into utterances, reporting each row it cannot use."""

    def __init__(
        self, provider: ManifestProvider, label_map: LabelMap, folds: _Folds, problems: list
    ) -> None:
        self.provider, self.label_map, self.folds, self.problems = provider, label_map, folds, problems
        self.utterances: list[Utterance] = []
        self.accepted: list[Path] = []
        self.fold_grouped = 0
        self._first_line: dict[str, int] = {}

    def skip(self, row: _Row, reason: str, path: Path | None = None) -> None:
        manifest = self.provider.manifest
        if path is None:
            self.problems.append(LoadProblem(manifest, f"line {row.line}: {reason}"))
        else:
            self.problems.append(LoadProblem(path, f"{reason} (line {row.line} of {manifest})"))

    def read(self, row: _Row) -> None:
        if row.problem is not None:
            self.skip(row, row.problem)
            return
        fields = row.fields
        audio, video = (self._media(fields.get(k)) for k in ("audio", "video"))
        if audio is None and video is None:
            self.skip(row, "no audio or video file named")
            return
        uid = str(fields.get("id") or "").strip() or self._derived_id(audio or video)
        code = str(fields.get("emotion") or "").strip()
        label = self.label_map.get(code)
        if label is None:
            known = ", ".join(map(repr, self.label_map.codes))
            what = f"unknown emotion code {code!r}" if code else "no emotion code"
            self.skip(row, f"{what}: not in label map {self.label_map.source} (it has {known})")
            return
        if uid in self._first_line:
            self.skip(row, f"duplicate id {uid!r} (first on line {self._first_line[uid]})")
            return
        usable, rate = self._checked_media(row, audio, video, fields.get("sample_rate"))
        if not usable:
            return
        speaker, from_fold = self._speaker(row, fields, uid, audio)
        if speaker is None:
            return
        self.fold_grouped += from_fold
        self._first_line[uid] = row.line
        self.accepted += [p for p in (audio, video) if p is not None]
        self.utterances.append(
            Utterance(
                id=uid,
                speaker=speaker,
                emotion=code,
                label=label,
                audio_path=audio,
                video_path=video,
                sentence=str(fields.get("sentence") or "").strip() or None,
                gender=_GENDERS.get(str(fields.get("gender") or "").strip().lower()),
                sample_rate=rate,
            )
        )

    def _media(self, value: Any) -> Path | None:
        if value is None or not str(value).strip():
            return None
        path = Path(str(value).strip()).expanduser()
        return path if path.is_absolute() else self.provider.root / path

    def _derived_id(self, path: Path) -> str:
        try:
            rel = path.relative_to(self.provider.root)
        except ValueError:
            rel = path
        return rel.with_suffix("").as_posix()

    def _speaker(
        self, row: _Row, fields: Mapping[str, Any], uid: str, audio: Path | None
    ) -> tuple[str | None, bool]:
        """The row's speaker (``None``: reported) and whether it is an EmoBox fold rather than a person."""
        speaker = str(fields.get("speaker") or "").strip()
        if speaker:
            return speaker, False
        group = self.folds.group(str(fields.get("id") or "") or None, audio)
        if group is not None:
            return group, True
        if self.folds.groups:
            self.skip(row, f"no speaker, and {uid!r} is in no EmoBox fold file ({_fold_names(self.folds)})")
        else:
            self.skip(row, f"empty speaker (expected a {'/'.join(ALIASES['speaker'])} value)")
        return None, False

    def _checked_media(
        self, row: _Row, audio: Path | None, video: Path | None, declared: Any
    ) -> tuple[bool, int | None]:
        """Whether the row's files are usable (else one was reported), and the audio's sample rate."""
        rate = _int_or_none(declared)
        for path, kind in ((audio, "audio"), (video, "video")):
            if path is None:
                continue
            if not path.exists():
                self.skip(row, f"no such {kind} file", path)
                return False, None
            try:
                if kind == "audio" and path.suffix.lower() in _SOUNDFILE_SUFFIXES:
                    rate = probe_wav(path)  # the header's rate wins over the manifest's
                else:
                    probe_video(path)
            except MediaProblem as exc:
                self.skip(row, str(exc), path)
                return False, None
        return True, rate if audio is not None else None


# -- formats ------------------------------------------------------------------------------------
def _format_of(manifest: Path, text: str | None = None) -> str:
    suffix = manifest.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv", ".txt") or text is None:
        return "csv"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _delimiter(manifest: Path, header: str) -> str:
    if manifest.suffix.lower() == ".tsv" or ("\t" in header and "," not in header):
        return "\t"
    return ","


def _column_fields(header: list[str]) -> dict[str, int]:
    """field -> index of its column, by :data:`ALIASES` (the first alias present wins)."""
    lowered = [h.strip().lower() for h in header]
    found: dict[str, int] = {}
    for name, names in ALIASES.items():
        index = next((lowered.index(n) for n in names if n in lowered), None)
        if index is not None:
            found[name] = index
    return found


def _jsonl_rows(text: str) -> Iterator[_Row]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            yield _Row(number, {}, f"not valid JSON ({exc}); expected {EXPECTED_JSONL}")
            continue
        if not isinstance(data, dict):
            yield _Row(number, {}, f"not a JSON object; expected {EXPECTED_JSONL}")
            continue
        lowered = {str(k).lower(): v for k, v in data.items()}
        fields = {n: next((lowered[a] for a in names if a in lowered), None) for n, names in ALIASES.items()}
        absent = [k for f, k in (("id", "key"), ("emotion", "emo")) if fields[f] in (None, "")]
        if fields["audio"] in (None, "") and fields["video"] in (None, ""):
            absent.insert(1, "wav")
        if absent:
            yield _Row(number, {}, f"no {', '.join(map(repr, absent))}; expected {EXPECTED_JSONL}")
            continue
        yield _Row(number, {k: v for k, v in fields.items() if v is not None})


def _read_folds(manifest: Path, root: Path) -> _Folds:
    """EmoBox's fold files beside ``manifest`` (``fold_K/<name>_test_fold_K.jsonl``, and ``_train_``
    for single-split corpora): each key's (and wav path's) test fold, ``"foldK"``."""
    folds = _Folds()
    tests = sorted(manifest.parent.glob("fold*/*_test_fold*.jsonl"), key=lambda p: natural_key(p.name))
    own = [p for p in tests if p.name.lower().startswith(f"{manifest.stem.lower()}_test_fold")]
    tests = own or tests  # several corpora's folds side by side: this manifest's
    for path in tests:
        match = _FOLD.search(path.name)
        if match is None:
            continue
        folds.files.append(path)
        _assign(folds, path, root, f"fold{int(match[1])}")
    if len(folds.files) == 1:  # one split: what the test fold lacks is training data
        train = folds.files[0].with_name(folds.files[0].name.replace("_test_", "_train_"))
        if train.is_file():
            folds.files.append(train)
            _assign(folds, train, root, _TRAIN_GROUP)
    return folds


def _assign(folds: _Folds, path: Path, root: Path, group: str) -> None:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        folds.problems.append(LoadProblem(path, f"cannot read this fold file ({exc})"))
        return
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            folds.problems.append(LoadProblem(path, f"line {number}: not valid JSON ({exc})"))
            continue
        if not isinstance(data, dict):
            continue
        for probe in (data.get("key"), _posix(root, data.get("wav"))):
            if probe and str(probe) not in folds.groups:  # the first fold that tests it
                folds.groups[str(probe)] = group


def _posix(root: Path, wav: Any) -> str | None:
    if not wav:
        return None
    path = Path(str(wav)).expanduser()
    return (path if path.is_absolute() else root / path).as_posix()


def _fold_names(folds: _Folds) -> str:
    shown = [p.relative_to(p.parent.parent).as_posix() for p in folds.files[:3]]
    return ", ".join(shown) + (" ..." if len(folds.files) > 3 else "")


def _fold_note(manifest: Path, folds: _Folds, count: int) -> LoadProblem:
    groups = sorted(set(folds.groups.values()), key=natural_key)
    return LoadProblem(
        manifest,
        f"note: {count} utterance(s) have no speaker field; their speaker group is the EmoBox test fold "
        f"that holds them ({', '.join(groups)}, from {_fold_names(folds)}), so speaker-independent "
        "folds follow EmoBox's own",
        skipped=False,
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _shown(problems: list[LoadProblem]) -> str:
    if not problems:
        return ""
    shown = "; ".join(str(p) for p in problems[:3])
    return f" ({len(problems)} rows reported: {shown}{' ...' if len(problems) > 3 else ''})"


def manifest_providers(entries: Mapping[str, Mapping[str, str]]) -> list[DatasetProvider]:
    """One :class:`ManifestProvider` per entry of ``corpora.toml`` (as :func:`emokit.api.read_corpora_config`
    returns them)."""
    return [
        ManifestProvider(
            name,
            entry["manifest"],
            entry["label-map"],
            root=entry.get("root"),
            language=entry.get("language", ""),
            description=entry.get("description", ""),
        )
        for name, entry in entries.items()
    ]
