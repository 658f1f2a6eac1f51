"""Tiny real media files for the data tests: tones as WAV, a drawn face as AVI, utterances, corpora."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import soundfile as sf

from emokit.data.corpus import Corpus, Utterance

BACKGROUND = (200, 190, 170)
SKIN = (150, 95, 70)
FACE_CENTRE = (88, 40)  # (x, y): right of and above the frame centre (64, 48)
FACE_RADII = (18, 24)  # (half width, half height)


def tone(rate: int, seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    """A deterministic two-partial tone with a slow tremolo (so the spectrum moves in time)."""
    t = np.arange(int(seconds * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.1 * np.sin(
        2 * np.pi * 3.4 * freq * t
    )


def write_wav(path: Path, rate: int, freq: float = 440.0, seconds: float = 1.0) -> Path:
    sf.write(path, tone(rate, seconds, freq), rate)
    return path


def face_frame(index: int = 0, size: tuple[int, int] = (96, 128), face: bool = True) -> np.ndarray:
    """An RGB frame: an ellipse 'face' with dark eyes and mouth, off-centre, on a plain background.

    The mouth opens wider with the frame index, so frames differ (for frame-selection checks).
    """
    h, w = size
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = BACKGROUND
    if face:
        yy, xx = np.mgrid[0:h, 0:w]
        (cx, cy), (rx, ry) = FACE_CENTRE, FACE_RADII
        frame[((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1] = SKIN
        for ex in (cx - 7, cx + 7):
            frame[(xx - ex) ** 2 + (yy - cy + 6) ** 2 <= 9] = (40, 30, 30)
        frame[(abs(xx - cx) <= 7) & (abs(yy - cy - 10) <= 1 + index % 5)] = (90, 30, 30)
    return frame


def write_avi(
    path: Path,
    n_frames: int = 25,
    *,
    fps: int = 25,
    audio_rate: int | None = 16000,
    face: bool = True,
    container_format: str = "avi",
) -> Path:
    """An mpeg4 video (and a pcm_s16le audio track unless ``audio_rate`` is None)."""
    container = av.open(str(path), mode="w", format=container_format)
    video = container.add_stream("mpeg4", rate=fps)
    video.height, video.width = 96, 128
    video.pix_fmt = "yuv420p"
    video.options = {"qscale": "2"}  # near-lossless, so pixel checks are meaningful
    audio = None
    if audio_rate is not None:
        audio = container.add_stream("pcm_s16le", rate=audio_rate)
        audio.layout = "mono"
    for i in range(n_frames):
        for packet in video.encode(av.VideoFrame.from_ndarray(face_frame(i, face=face), format="rgb24")):
            container.mux(packet)
    for packet in video.encode():
        container.mux(packet)
    if audio is not None:
        samples = (tone(audio_rate, n_frames / fps) * 32767).astype(np.int16)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + 1024], format="s16", layout="mono"
            )
            frame.sample_rate = audio_rate
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    container.close()
    return path


def utterance(uid: str, *, audio: Path | None = None, video: Path | None = None) -> Utterance:
    return Utterance(id=uid, speaker="s1", emotion="an", label="anger", audio_path=audio, video_path=video)


def corpus(utterances: list[Utterance], *, modalities=("audio",), fingerprint="v1", name="tiny") -> Corpus:
    return Corpus(
        name=name,
        root=Path("."),
        utterances=utterances,
        language="en",
        modalities=tuple(modalities),
        fingerprint=fingerprint,
    )
