"""The recording channel: what a corpus's room, microphone and recorder do to clean speech.

Order of the chain: silence padding, resampling to the corpus rate, room reverberation (a synthetic
impulse response: exponentially decaying noise), background noise and mains hum at an absolute
level, the microphone's pass band, the recording gain, 16-bit quantisation.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

from .specs import Channel

#: RMS of a speaker talking at their neutral baseline (eSpeak volume ~60): the reference level
#: the channel's signal-to-noise ratios are relative to.
REFERENCE_RMS = 0.06


def pad(
    x: np.ndarray, sample_rate: int, channel: Channel, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Add the silence recorded before and after the speech; returns the signal and the lead length."""
    lead = int(rng.uniform(*channel.padding_s) * sample_rate)
    tail = int(rng.uniform(*channel.padding_s) * sample_rate)
    return np.concatenate([np.zeros(lead, np.float32), x, np.zeros(tail, np.float32)]), lead


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling from ``from_rate`` to ``to_rate`` Hz."""
    if from_rate == to_rate:
        return x
    ratio = Fraction(to_rate, from_rate)
    return resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


@lru_cache(maxsize=16)
def _band_filter(sample_rate: int, low: float, high: float) -> np.ndarray:
    high = min(high, 0.45 * sample_rate)
    return butter(4, [low, high], btype="bandpass", fs=sample_rate, output="sos")


def room_impulse_response(rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Exponentially decaying noise reaching -60 dB after ``rt60`` seconds, unit energy."""
    n = max(1, int(rt60 * sample_rate))
    t = np.arange(n, dtype=np.float32) / sample_rate
    rir = rng.standard_normal(n).astype(np.float32) * np.exp(-6.9078 * t / rt60).astype(np.float32)
    return rir / np.sqrt(np.sum(rir**2))


def coloured_noise(n: int, colour: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise whose power falls as 1/f**colour (0 white, 1 pink, 2 brown)."""
    if colour == 0.0:
        return rng.standard_normal(n).astype(np.float32)
    size = next_fast_len(n, real=True)  # FFTs of awkward lengths are many times slower
    spectrum = rfft(rng.standard_normal(size).astype(np.float32))
    f = np.arange(len(spectrum), dtype=np.float32)
    f[0] = 1.0
    noise = irfft(spectrum * f ** np.float32(-colour / 2.0), size)[:n].astype(np.float32)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def record(
    x: np.ndarray, from_rate: int, channel: Channel, rng: np.random.Generator, speaker_gain_db: float
) -> np.ndarray:
    """Pass padded clean speech ``x`` (float, at ``from_rate``) through ``channel``.

    Returns:
        int16 samples at ``channel.sample_rate``.
    """
    sr = channel.sample_rate
    y = resample(x.astype(np.float32), from_rate, sr)
    rt60 = rng.uniform(*channel.rt60_s)
    if rt60 > 0.0:
        wet = fftconvolve(y, room_impulse_response(rt60, sr, rng))[: len(y)].astype(np.float32)
        y = y + rng.uniform(*channel.reverb_wet) * wet
    snr_db = rng.uniform(*channel.snr_db)
    y = y + coloured_noise(len(y), channel.noise_colour, rng) * (REFERENCE_RMS * 10.0 ** (-snr_db / 20.0))
    if channel.hum_hz > 0.0:
        t = np.arange(len(y), dtype=np.float32) / sr
        phase = rng.uniform(0.0, 2.0 * np.pi)
        hum = np.sin(2 * np.pi * channel.hum_hz * t + phase) + 0.3 * np.sin(
            6 * np.pi * channel.hum_hz * t + phase
        )
        y = y + (REFERENCE_RMS * 10.0 ** (channel.hum_db / 20.0)) * hum.astype(np.float32)
    y = sosfilt(_band_filter(sr, *channel.band_hz), y)
    gain_db = speaker_gain_db + rng.normal(0.0, channel.utterance_gain_sd_db)
    y = y * 10.0 ** (gain_db / 20.0)
    return np.clip(np.round(y * 32767.0), -32768, 32767).astype(np.int16)
