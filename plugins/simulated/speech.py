"""Speech synthesis with eSpeak NG through ctypes, with emotion as prosody rules.

eSpeak NG comes from the ``espeakng-loader`` wheel (the shared library and its data; no system
package) and is called through ctypes in a small server process (:mod:`.espeak_server`): the
library is not thread-safe and keeps state between utterances that no API resets, so the server
speaks every utterance in a fresh fork of a pristine state, which makes the samples depend on the
request only. A process has one :class:`Synthesizer` (:func:`synthesizer`), a client of its own
server, whose calls are serialised by a lock; parallel generation uses worker processes, each
with its own.

Emotion is acted through the parameters eSpeak exposes (rate, pitch, pitch range, volume, the final
punctuation's intonation) and two cheap post-processing cues (spectral tilt, tremolo), following
:data:`~emokit_plugins.simulated.specs.EMOTION_PROSODY`, around per-speaker baselines
(:func:`speaker_voice`) with per-utterance intensity and noise (:func:`utterance_prosody`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from .rng import rng_for
from .specs import EMOTION_PROSODY, CorpusSpec, EmotionProsody, SpeakerSpec

_REQUEST = struct.Struct("<Iiiii")  # seed, rate, pitch, range, volume (espeak_server.py's protocol)
_RESPONSE = struct.Struct("<iI")


class SpeechSynthesisError(RuntimeError):
    """eSpeak NG could not be loaded or refused a voice or text; the message says which."""


class Synthesizer:
    """A client of an eSpeak NG server process (:mod:`.espeak_server`).

    ``synth(voice, text, ...)`` returns 16-bit samples at :attr:`sample_rate` (22050 Hz) that
    depend only on the arguments, never on what was synthesised before (the server speaks each
    utterance in a fresh fork of a pristine eSpeak state).
    """

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise SpeechSynthesisError(
                "the simulated corpora need eSpeak NG from the 'espeakng-loader' package: "
                "pip install espeakng-loader"
            ) from exc
        lib_path, data_path = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("espeak_server.py")), lib_path, data_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        status, payload = self._receive()
        if status != 0:
            self.close()
            raise SpeechSynthesisError(
                f"cannot start eSpeak NG ({lib_path}): {payload.decode(errors='replace')}"
            )
        (self.sample_rate,) = struct.unpack("<i", payload)

    def _receive(self) -> tuple[int, bytes]:
        head = self._read(_RESPONSE.size)
        status, length = _RESPONSE.unpack(head)
        return status, self._read(length)

    def _read(self, n: int) -> bytes:
        parts, missing = [], n
        while missing:
            part = self._proc.stdout.read(missing)
            if not part:
                code = self._proc.poll()
                raise SpeechSynthesisError(f"the eSpeak NG server stopped unexpectedly (exit code {code})")
            parts.append(part)
            missing -= len(part)
        return b"".join(parts)

    def synth(
        self, voice: str, text: str, *, rate: int, pitch: int, pitch_range: int, volume: int, seed: int = 0
    ) -> np.ndarray:
        """Speak ``text`` with ``voice`` (``"en-GB-x-rp+m3"``); int16 samples at :attr:`sample_rate`.

        Args:
            voice: eSpeak voice name, a language optionally followed by ``+variant``.
            rate: words per minute (80-450).
            pitch: base pitch, 0-100.
            pitch_range: pitch range, 0-100.
            volume: volume, 0-200.
            seed: seed of eSpeak's noise generator (breath, fricatives).

        Raises:
            SpeechSynthesisError: eSpeak does not know the voice, or failed to speak.
        """
        body = (
            _REQUEST.pack(seed % 2**31, int(rate), int(pitch), int(pitch_range), int(volume))
            + struct.pack("<H", len(voice))
            + voice.encode("ascii")
            + text.encode("utf-8")
        )
        with self._lock:
            try:
                self._proc.stdin.write(struct.pack("<I", len(body)) + body)
            except (BrokenPipeError, OSError) as exc:
                raise SpeechSynthesisError(f"the eSpeak NG server is not running ({exc})") from exc
            status, payload = self._receive()
        if status != 0:
            raise SpeechSynthesisError(
                f"eSpeak NG failed to speak {text!r} with voice {voice!r}: {payload.decode(errors='replace')}"
            )
        return np.frombuffer(payload, dtype="<i2").copy()

    def close(self) -> None:
        """Stop the server process."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(OSError):
            proc.stdout.close()

    def _abandon(self) -> None:
        """In a forked child: drop the parent's server without touching it."""
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            proc.returncode = 0  # not our child: never wait for it


_SYNTH: Synthesizer | None = None
_SYNTH_LOCK = threading.Lock()


def synthesizer() -> Synthesizer:
    """This process's eSpeak NG server client, started on first use."""
    global _SYNTH
    with _SYNTH_LOCK:
        if _SYNTH is None:
            _SYNTH = Synthesizer()
            atexit.register(_SYNTH.close)
        return _SYNTH


def _forget_in_child() -> None:
    # a forked worker must not share its parent's server (their requests would interleave)
    global _SYNTH, _SYNTH_LOCK
    _SYNTH_LOCK = threading.Lock()
    if _SYNTH is not None:
        _SYNTH._abandon()
        _SYNTH = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


# -- prosody ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpeakerVoice:
    """A speaker's drawn baselines and their personal version of each emotion's effect."""

    voice: str
    rate_wpm: float
    pitch: float
    range: float
    volume: float
    expressiveness: float
    effects: dict[str, EmotionProsody]


@dataclass(frozen=True)
class Prosody:
    """The parameters one utterance is spoken with."""

    rate_wpm: int
    pitch: int
    range: int
    volume: int
    tilt: float
    tremolo: float
    ending: str
    intensity: float


def _jitter(effect: EmotionProsody, rng: np.random.Generator, sd: float) -> EmotionProsody:
    """A speaker's own version of ``effect``: each component scaled by a factor around 1."""
    f = np.clip(rng.normal(1.0, sd, size=6), 0.0, 2.0)
    return EmotionProsody(
        rate=1.0 + (effect.rate - 1.0) * f[0],
        pitch=effect.pitch * f[1],
        range=effect.range * f[2],
        volume=1.0 + (effect.volume - 1.0) * f[3],
        tilt=effect.tilt * f[4],
        tremolo=effect.tremolo * f[5],
        endings=effect.endings,
    )


@lru_cache(maxsize=16)
def corpus_prosody(spec: CorpusSpec, seed: int) -> dict[str, EmotionProsody]:
    """This corpus's version of each emotion's effect (``spec.acting_jitter`` around the shared
    prototypes): corpora differ in how emotions were elicited and directed."""
    rng = rng_for(seed, spec.name, "corpus-prosody")
    return {label: _jitter(EMOTION_PROSODY[label], rng, spec.acting_jitter) for _, label in spec.emotions}


@lru_cache(maxsize=256)
def speaker_voice(spec: CorpusSpec, seed: int, speaker_id: str) -> SpeakerVoice:
    """The baselines and acting style of ``speaker_id`` (deterministic for the seed)."""
    speaker: SpeakerSpec = spec.speaker(speaker_id)
    rng = rng_for(seed, spec.name, "speaker-voice", speaker_id)
    sp = spec.spread
    lo, hi = sp.expressiveness
    return SpeakerVoice(
        voice=f"{speaker.voice}+{speaker.variant}",
        rate_wpm=float(rng.normal(*sp.rate_wpm)),
        pitch=float(rng.normal(*sp.pitch)),
        range=float(rng.normal(*sp.range)),
        volume=float(rng.normal(*sp.volume)),
        expressiveness=float(rng.uniform(lo, hi)),
        effects={
            label: _jitter(effect, rng, sp.effect_jitter)
            for label, effect in corpus_prosody(spec, seed).items()
        },
    )


def utterance_prosody(spec: CorpusSpec, voice: SpeakerVoice, label: str, rng: np.random.Generator) -> Prosody:
    """Draw how one utterance in emotion ``label`` is spoken: intensity, effect, noise."""
    var = spec.prosody
    intensity = float(rng.uniform(*var.intensity))
    k = intensity * voice.expressiveness * spec.expressiveness
    eff = voice.effects[label]
    noise = rng.normal(0.0, 1.0, size=5)
    rate = voice.rate_wpm * (1.0 + (eff.rate - 1.0) * k) * (1.0 + var.rate_sd * noise[0])
    pitch = voice.pitch + eff.pitch * k + var.pitch_sd * noise[1]
    prange = voice.range + eff.range * k + var.range_sd * noise[2]
    volume = voice.volume * (1.0 + (eff.volume - 1.0) * k) * (1.0 + var.volume_sd * noise[3])
    tilt = eff.tilt * k + var.tilt_sd * noise[4]
    ending, u = ".", rng.random()
    for mark, p in eff.endings:
        p = p * min(1.0, k)
        if u < p:
            ending = mark
            break
        u -= p
    return Prosody(
        rate_wpm=int(np.clip(round(rate), 80, 450)),
        pitch=int(np.clip(round(pitch), 0, 100)),
        range=int(np.clip(round(prange), 0, 100)),
        volume=int(np.clip(round(volume), 5, 200)),
        tilt=float(np.clip(tilt, -0.9, 1.5)),
        tremolo=float(np.clip(eff.tremolo * k, 0.0, 0.6)),
        ending=ending,
        intensity=intensity,
    )


def speak(
    voice: SpeakerVoice, text: str, prosody: Prosody, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Synthesise ``text`` with ``prosody`` and apply the voice-quality cues.

    Returns:
        float32 samples in [-1, 1] and their sample rate (eSpeak's, 22050 Hz).
    """
    synth = synthesizer()
    raw = synth.synth(
        voice.voice,
        text + prosody.ending,
        rate=prosody.rate_wpm,
        pitch=prosody.pitch,
        pitch_range=prosody.range,
        volume=prosody.volume,
        seed=int(rng.integers(2**31)),
    )
    x = raw.astype(np.float32) / 32768.0
    sr = synth.sample_rate
    if prosody.tilt != 0.0:
        # one-pole low-pass at ~1 kHz splits the signal; tilt re-weights the high part
        a = float(np.exp(-2.0 * np.pi * 1000.0 / sr))
        low = lfilter([1.0 - a], [1.0, -a], x).astype(np.float32)
        x = low + (1.0 + prosody.tilt) * (x - low)
    if prosody.tremolo > 0.0:
        t = np.arange(len(x), dtype=np.float32) / sr
        freq, phase = rng.uniform(4.0, 7.0), rng.uniform(0, 2 * np.pi)
        x = x * (1.0 + prosody.tremolo * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)
    return x.astype(np.float32), sr
