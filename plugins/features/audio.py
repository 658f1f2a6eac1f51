"""Spectral audio features: log-Mel and MFCC statistics over an utterance.

Every audio extractor first resamples to one rate (16 kHz by default), so corpora recorded at
16, 44.1 or 48 kHz give comparable vectors, and (optionally) trims leading and trailing silence,
whose length differs between corpora and would otherwise leak into the statistics. Loudness and
channel normalisation across corpora are left to the methods (they standardise per corpus).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from emokit.api import FeatureExtractor, MediaReadError, Utterance, read_audio

#: the functionals a spectral extractor may compute over time, in output order.
FUNCTIONALS = ("mean", "std", "min", "max", "skew", "kurtosis")


def torchaudio_available() -> bool:
    """Whether torchaudio imports (it is optional; librosa is the fallback)."""
    try:
        import torchaudio  # noqa: F401
    except Exception:  # ImportError, or a torchaudio built against another torch
        return False
    return True


def resolve_backend(backend: str) -> str:
    """``"auto"`` -> ``"torchaudio"`` when it imports, else ``"librosa"``."""
    if backend not in ("auto", "librosa", "torchaudio"):
        raise ValueError(f"backend must be 'auto', 'librosa' or 'torchaudio', got {backend!r}")
    if backend == "auto":
        return "torchaudio" if torchaudio_available() else "librosa"
    if backend == "torchaudio" and not torchaudio_available():
        raise ValueError("backend='torchaudio' was requested but torchaudio cannot be imported")
    return backend


def temporal_functionals(frames: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Statistics over time of ``frames`` ``[d, T]``, concatenated in the order of ``names``."""
    out = []
    mean = frames.mean(axis=1)
    std = frames.std(axis=1)
    safe_std = np.where(std > 1e-8, std, 1.0)
    for name in names:
        if name == "mean":
            out.append(mean)
        elif name == "std":
            out.append(std)
        elif name == "min":
            out.append(frames.min(axis=1))
        elif name == "max":
            out.append(frames.max(axis=1))
        elif name in ("skew", "kurtosis"):
            z = (frames - mean[:, None]) / safe_std[:, None]
            moment = (z**3).mean(axis=1) if name == "skew" else (z**4).mean(axis=1) - 3.0
            out.append(np.where(std > 1e-8, moment, 0.0))  # a constant band has no shape
        else:
            raise ValueError(f"unknown functional {name!r}; expected some of {FUNCTIONALS}")
    return np.concatenate(out).astype(np.float32)


def mel_power(
    signal: np.ndarray,
    sample_rate: int,
    *,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    fmin: float,
    fmax: float,
    backend: str,
) -> np.ndarray:
    """Mel power spectrogram ``[n_mels, T]`` (Slaney mel scale and normalisation, Hann window)."""
    if backend == "torchaudio":
        import torch
        import torchaudio

        transform = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            f_min=fmin,
            f_max=fmax,
            n_mels=n_mels,
            power=2.0,
            center=True,
            pad_mode="constant",
            norm="slaney",
            mel_scale="slaney",
        )
        with torch.no_grad():
            return transform(torch.from_numpy(np.ascontiguousarray(signal))).numpy()
    import librosa

    return librosa.feature.melspectrogram(
        y=signal,
        sr=sample_rate,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        power=2.0,
        center=True,
        pad_mode="constant",
    )


class AudioFeatureExtractor(FeatureExtractor):
    """Base for audio extractors: reads the utterance's audio at a fixed rate, trims silence.

    Args:
        sample_rate: every file is resampled to this rate first (Hz).
        trim_db: trim leading/trailing audio quieter than this many dB below the peak;
            ``None`` keeps the whole file.
        min_duration: files shorter than this (seconds, after trimming) are reported, not used.
    """

    modality = "audio"

    def __init__(self, *, sample_rate: int = 16000, trim_db: float | None = 40.0, min_duration: float = 0.1):
        if sample_rate < 8000:
            raise ValueError(f"sample_rate must be at least 8000 Hz, got {sample_rate}")
        if trim_db is not None and trim_db <= 0:
            raise ValueError(f"trim_db must be positive (dB below peak) or None, got {trim_db}")
        self.sample_rate = int(sample_rate)
        self.trim_db = None if trim_db is None else float(trim_db)
        self.min_duration = float(min_duration)

    def params(self) -> dict[str, Any]:
        return {"sample_rate": self.sample_rate, "trim_db": self.trim_db, "min_duration": self.min_duration}

    def load(self, utterance: Utterance) -> np.ndarray:
        """The utterance's mono signal at :attr:`sample_rate`, trimmed; errors name the file."""
        if utterance.audio_path is None:
            raise MediaReadError(f"utterance {utterance.id!r} has no audio file")
        signal, _ = read_audio(utterance.audio_path, sample_rate=self.sample_rate)
        if self.trim_db is not None and np.any(signal):
            import librosa

            signal, _ = librosa.effects.trim(signal, top_db=self.trim_db, frame_length=512, hop_length=128)
        duration = len(signal) / self.sample_rate
        if duration < self.min_duration:
            raise MediaReadError(
                f"{utterance.audio_path}: only {duration:.3f} s of sound, expected at least "
                f"{self.min_duration} s"
            )
        return signal


class _SpectralExtractor(AudioFeatureExtractor):
    """Shared framing (25 ms windows, 10 ms hop at 16 kHz) and mel analysis."""

    def __init__(
        self,
        *,
        n_mels: int,
        fmin: float = 0.0,
        fmax: float | None = None,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        backend: str = "auto",
        functionals: tuple[str, ...] = ("mean", "std"),
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        unknown = [f for f in functionals if f not in FUNCTIONALS]
        if not functionals or unknown:
            raise ValueError(f"functionals must be a non-empty subset of {FUNCTIONALS}, got {functionals}")
        nyquist = self.sample_rate / 2
        self.fmax = float(nyquist if fmax is None else fmax)
        if not 0 <= fmin < self.fmax <= nyquist:
            raise ValueError(f"need 0 <= fmin < fmax <= {nyquist} Hz, got fmin={fmin}, fmax={fmax}")
        self.n_mels = int(n_mels)
        self.fmin = float(fmin)
        self.n_fft = round(self.sample_rate * win_ms / 1000)
        self.hop_length = round(self.sample_rate * hop_ms / 1000)
        self.backend = resolve_backend(backend)
        self.functionals = tuple(functionals)

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "n_mels": self.n_mels,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "backend": self.backend,  # torchaudio and librosa differ in the last digits
            "functionals": list(self.functionals),
        }

    def log_mel(self, signal: np.ndarray) -> np.ndarray:
        """Log-Mel spectrogram in dB ``[n_mels, T]``, floored 80 dB below the utterance's peak."""
        import librosa

        power = mel_power(
            signal,
            self.sample_rate,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=self.fmax,
            backend=self.backend,
        )
        # the floor makes digital silence and a quiet noise floor look alike across corpora
        return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=80.0)

    @staticmethod
    def delta(frames: np.ndarray, order: int = 1) -> np.ndarray:
        import librosa

        width = min(9, frames.shape[1] if frames.shape[1] % 2 else frames.shape[1] - 1)
        if width < 3:
            return np.zeros_like(frames)
        return librosa.feature.delta(frames, width=width, order=order, mode="interp")


class LogMelExtractor(_SpectralExtractor):
    """Mean and std over time of 64 log-Mel bands (16 kHz, 25/10 ms) and of their deltas."""

    name = "logmel"
    description = "log-Mel band statistics (64 bands at 16 kHz; mean/std of bands and deltas)"
    version = "1"

    def __init__(self, *, n_mels: int = 64, **kwargs: Any):
        super().__init__(n_mels=n_mels, **kwargs)

    def extract(self, utterance: Utterance) -> np.ndarray:
        frames = self.log_mel(self.load(utterance))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa warns about very short inputs
            deltas = self.delta(frames)
        return np.concatenate(
            [temporal_functionals(frames, self.functionals), temporal_functionals(deltas, self.functionals)]
        )


class MFCCExtractor(_SpectralExtractor):
    """Functionals over time of MFCCs with their deltas and delta-deltas."""

    name = "mfcc"
    description = "MFCC statistics (20 coefficients + deltas + delta-deltas at 16 kHz; mean/std)"
    version = "1"

    def __init__(self, *, n_mfcc: int = 20, n_mels: int = 40, **kwargs: Any):
        super().__init__(n_mels=n_mels, **kwargs)
        if not 1 <= n_mfcc <= n_mels:
            raise ValueError(f"n_mfcc must be between 1 and n_mels={n_mels}, got {n_mfcc}")
        self.n_mfcc = int(n_mfcc)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "n_mfcc": self.n_mfcc}

    def extract(self, utterance: Utterance) -> np.ndarray:
        import librosa

        mfcc = librosa.feature.mfcc(S=self.log_mel(self.load(utterance)), n_mfcc=self.n_mfcc)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            streams = [mfcc, self.delta(mfcc, 1), self.delta(mfcc, 2)]
        return np.concatenate([temporal_functionals(s, self.functionals) for s in streams])
