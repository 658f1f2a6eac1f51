"""A third-party emokit plugin: two tone corpora, a spectrum feature and a nearest-centroid method."""

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf

from emokit import hookimpl
from emokit.bench import Method
from emokit.data import Corpus, DataLayoutError, DatasetProvider, Utterance
from emokit.features import FeatureExtractor, MediaReadError

EMOTIONS = {"anger": 440.0, "sadness": 220.0, "neutral": 330.0}


class ToneCorpus(DatasetProvider):
    modalities = ("audio",)
    language = "en"

    def __init__(self, name, offset):
        self.name, self.offset = name, offset
        self.description = f"tones in {name}/<speaker>/<emotion>_<n>.wav"

    def load(self, context):
        if context.data_root is None or not (context.data_root / self.name).is_dir():
            raise DataLayoutError(f"{self.name}: expected {context.data_root}/{self.name}/")
        return self.load_folder(context.data_root / self.name)

    def load_folder(self, folder, *, name=None):
        utts = []
        for wav in sorted(Path(folder).glob("*/*.wav")):
            emotion = wav.stem.split("_")[0]
            utts.append(
                Utterance(
                    id=f"{wav.parent.name}_{wav.stem}",
                    speaker=wav.parent.name,
                    emotion=emotion,
                    label=emotion,
                    audio_path=wav,
                    sample_rate=8000,
                )
            )
        return Corpus(
            name=name or self.name,
            root=Path(folder),
            utterances=utts,
            language="en",
            modalities=("audio",),
            fingerprint=_fingerprint(utts),
        )


def _fingerprint(utts):
    stats = [(str(u.audio_path), u.audio_path.stat().st_size, u.audio_path.stat().st_mtime_ns) for u in utts]
    return hashlib.sha1(repr(stats).encode()).hexdigest()[:16]


class SpectrumFeature(FeatureExtractor):
    name = "toy-spectrum"
    modality = "audio"
    description = "coarse magnitude spectrum"

    def extract(self, utterance):
        try:
            x, _ = sf.read(str(utterance.audio_path), dtype="float32")
        except Exception as exc:
            raise MediaReadError(f"{utterance.audio_path}: {exc}") from exc
        spectrum = np.abs(np.fft.rfft(x, n=1024))[:256]
        return spectrum.reshape(32, 8).mean(axis=1).astype(np.float32)


class NearestCentroid(Method):
    name = "nearest-centroid"
    description = "nearest class centroid of the target training rows"

    def run(self, task):
        t = task.target
        centroids = np.stack([t.train.X[t.train.y == c].mean(axis=0) for c in range(task.num_classes)])
        d = ((t.test.X[:, None, :] - centroids[None]) ** 2).sum(-1)
        return d.argmin(axis=1)


@hookimpl
def emokit_register_datasets():
    return [ToneCorpus("toy-a", 0.0), ToneCorpus("toy-b", 5.0)]


@hookimpl
def emokit_register_features():
    return [SpectrumFeature()]


@hookimpl
def emokit_register_methods():
    return [NearestCentroid()]


def write_tone_corpora(root: Path) -> Path:
    """Write the two tone corpora (4 speakers x 3 emotions x 4 takes each) under ``root``."""
    rng = np.random.default_rng(0)
    for corpus, shift in (("toy-a", 0.0), ("toy-b", 15.0)):
        for s in range(4):
            for emotion, f in EMOTIONS.items():
                for n in range(4):
                    t = np.arange(4000) / 8000
                    x = 0.3 * np.sin(2 * np.pi * (f + shift + 5 * s) * t) + 0.05 * rng.standard_normal(4000)
                    path = root / corpus / f"spk{s}" / f"{emotion}_{n}.wav"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(path, x.astype("float32"), 8000)
    return root


def toy_registry(*methods):
    """A registry of the built-ins plus this plugin and ``methods``, registered at runtime (no
    installation needed), for tests."""
    from types import SimpleNamespace

    from emokit.registry import Registry

    @hookimpl
    def register_methods():
        return [*methods, *emokit_register_methods()]

    plugin = SimpleNamespace(
        emokit_register_datasets=emokit_register_datasets,
        emokit_register_features=emokit_register_features,
        emokit_register_methods=register_methods,
    )
    return Registry.discover(extra=[("toy", plugin)])
