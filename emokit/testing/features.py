"""The feature-extractor contract: :func:`check_extractor`."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from math import prod
from pathlib import Path

import numpy as np

from emokit.api import (
    MODALITIES,
    FeatureExtractor,
    MediaReadError,
    Utterance,
)
from emokit.registry import check_name
from emokit.testing.rules import fail, round_trip


# -- feature extractors ------------------------------------------------------------------------------
def _broken_utterance(extractor: FeatureExtractor, folder: Path) -> tuple[Utterance, Path]:
    bad = folder / "broken-media.wav"
    bad.write_bytes(b"this is not a media file" * 8)
    audio = bad if extractor.modality in ("audio", "audiovisual") else None
    video = bad if extractor.modality in ("visual", "audiovisual") else None
    return Utterance(
        "broken", "s0", "x", "neutral", audio_path=audio, video_path=video, sample_rate=16000
    ), bad


def check_extractor(
    extractor: FeatureExtractor, utterances: Sequence[Utterance], *, tmp_path: Path | None = None
) -> np.ndarray:
    """Check ``extractor`` against the feature contract on ``utterances``; return their vectors ``[n, d]``.

    Checks its name, modality, description, version, ``params()`` (JSON: the cache key) and
    ``layout()``; that it pickles; that every vector is 1-D float32, finite, of one length
    (matching the layout), and the same when extracted again; and that a file that is not media
    raises :class:`MediaReadError` naming the file. ``tmp_path`` is where that file is written
    (default: a temporary folder).
    """
    if not isinstance(extractor, FeatureExtractor):
        fail(type(extractor).__name__, "is not an emokit.api.FeatureExtractor")
    problem = check_name("feature", getattr(extractor, "name", None))
    if problem:
        fail(type(extractor).__name__, problem)
    what = f"feature {extractor.name!r}"
    if extractor.modality not in MODALITIES:
        fail(what, f"modality {extractor.modality!r}: expected one of {', '.join(MODALITIES)}")
    if not isinstance(extractor.description, str) or not extractor.description.strip():
        fail(what, "needs a one-line `description` (emokit list shows it)")
    if not isinstance(extractor.version, str) or not extractor.version:
        fail(what, "needs a `version` string (bump it when the output changes: it keys the cache)")
    try:
        json.dumps(extractor.params(), sort_keys=True)
    except (TypeError, ValueError) as exc:
        fail(what, f"params() must be JSON (it is part of the cache key): {exc}")
    layout = extractor.layout()
    if layout is not None and (
        not isinstance(layout, dict)
        or not all(
            isinstance(s, tuple) and s and all(isinstance(n, int) and n > 0 for n in s)
            for s in layout.values()
        )
    ):
        fail(what, f"layout() {layout!r}: expected None or {{part: shape tuple of positive ints}}")
    copy = round_trip(extractor, what)
    if not utterances:
        raise ValueError("check_extractor: give at least one utterance")
    vectors = []
    for u in utterances:
        v = extractor.extract(u)
        if not isinstance(v, np.ndarray) or v.ndim != 1 or v.dtype != np.float32:
            shown = f"{v.dtype} {v.shape}" if isinstance(v, np.ndarray) else type(v).__name__
            fail(what, f"extract({u.id!r}) returned {shown}; expected a 1-D float32 array")
        if not np.isfinite(v).all():
            fail(what, f"extract({u.id!r}) returned NaN or infinite values")
        if vectors and len(v) != len(vectors[0]):
            fail(what, f"extract({u.id!r}) returned {len(v)} values, another utterance {len(vectors[0])}")
        vectors.append(v)
    size = sum(prod(s) for s in layout.values()) if layout is not None else len(vectors[0])
    if size != len(vectors[0]):
        fail(what, f"layout() sums to {size} values, the vectors have {len(vectors[0])}")
    if not np.array_equal(copy.extract(utterances[0]), vectors[0]):
        fail(what, f"extracting {utterances[0].id!r} twice gave different vectors (the cache relies on it)")
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        broken, path = _broken_utterance(extractor, Path(folder))
        try:
            extractor.extract(broken)
        except MediaReadError as exc:
            if path.name not in str(exc):
                fail(what, f"its MediaReadError for an unreadable file does not name the file: {exc}")
        except Exception as exc:
            fail(what, f"an unreadable file raised {type(exc).__name__} ({exc}); expected MediaReadError")
        else:
            fail(what, "extracted a vector from a file that is not media; expected MediaReadError")
    return np.stack(vectors)
