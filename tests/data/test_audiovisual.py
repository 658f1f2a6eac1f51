"""The audiovisual modality: utterances with both media, the face-logmel features and their layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.media import corpus, utterance, write_avi

from emokit.bench.protocol import BenchConfig, BenchRunner, Experiment
from emokit.data.corpus import modality_parts, provides
from emokit.features.cache import compute_features
from emokit.registry import Registry
from emokit_plugins.features import FaceLogMelExtractor


def test_audiovisual_needs_both_media() -> None:
    both = utterance("b", audio=Path("a.wav"), video=Path("v.avi"))
    audio_only = utterance("a", audio=Path("a.wav"))
    assert both.has("audiovisual") and not audio_only.has("audiovisual")
    assert modality_parts("audiovisual") == ("audio", "visual")
    assert provides(("audio", "visual"), "audiovisual") and not provides(("audio",), "audiovisual")
    with pytest.raises(ValueError, match="unknown modality 'smell'"):
        modality_parts("smell")
    tiny = corpus([both, audio_only], modalities=("audio", "visual"))
    assert [u.id for u in tiny.with_modality("audiovisual").utterances] == ["b"]
    with pytest.raises(ValueError, match="has no audiovisual data"):
        corpus([audio_only]).with_modality("audiovisual")


def test_face_logmel_vector_follows_its_layout(tmp_path: Path) -> None:
    clip = write_avi(tmp_path / "clip.avi", n_frames=40)
    extractor = FaceLogMelExtractor()
    layout = extractor.layout()
    assert layout == {"face": (1, 48, 48), "logmel": (1, 64, 128)}
    vector = extractor.extract(utterance("c", audio=clip, video=clip))
    assert vector.dtype == np.float32 and vector.shape == (48 * 48 + 64 * 128,)
    face, spectrogram = vector[: 48 * 48], vector[48 * 48 :].reshape(64, 128)
    np.testing.assert_allclose(face, extractor.face.extract(utterance("c", video=clip)))
    assert abs(spectrogram.mean()) < 1e-4 and abs(spectrogram.std() - 1) < 1e-3  # z-scored per utterance
    table = compute_features(corpus([utterance("c", audio=clip, video=clip)], modalities=("audio", "visual")),
                             extractor, cache_dir=tmp_path)  # fmt: skip
    assert table.X.shape == (1, vector.shape[0])


def test_bench_hands_the_layout_to_methods() -> None:
    registry = Registry.discover()
    config = BenchConfig(
        methods=["target-only"],
        experiments=[Experiment(("sim-savee",), "sim-enterface", "audiovisual", "face-logmel")],
        seeds=[0],
    )
    runner = BenchRunner(registry, config)  # validation accepts the modality on audio-visual corpora
    assert registry.feature("face-logmel").layout() == {"face": (1, 48, 48), "logmel": (1, 64, 128)}
    config.experiments = [Experiment(("sim-emodb",), "sim-enterface", "audiovisual", "face-logmel")]
    with pytest.raises(ValueError, match="dataset 'sim-emodb' has no audiovisual data"):
        runner.validate()
