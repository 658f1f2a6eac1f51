"""A procedural face renderer whose geometry follows facial action units.

A face is drawn with vectorised numpy over all frames of a clip at once (arrays ``[T, h, w]``):
every feature is a soft-edged shape (ellipse, capsule, the region between two lip curves) evaluated
only in its own bounding box, in face coordinates (``u`` right, ``v`` down, the head's half-width
about 1), so a frame costs well under a millisecond. The soft edge width is the style's
``edge_px``: about 1 px is plain anti-aliasing, more is an out-of-focus camera.

- Identity (:class:`FaceIdentity`, per speaker): head shape, jaw, skin, hair, eye, brow, nose and
  mouth geometry and colours.
- Expression (:class:`FaceTrack`, per clip): action-unit values per frame (onset, apex, offset
  envelope scaled by the clip's intensity), speech-driven jaw movement, blinks, gaze and head pose.
- Style (:class:`~emokit_plugins.simulated.specs.RenderStyle`, per corpus): resolution, framing,
  background, lighting, colour cast, blur, sensor noise, SAVEE's painted markers.

The face always stays inside the frame on a smooth background, so a face detector or a
bounding-box crop finds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .rng import rng_for
from .specs import EMOTION_AUS, CorpusSpec, FaceVariation, RenderStyle

F32 = np.float32


@dataclass(frozen=True)
class FaceIdentity:
    """A speaker's face, in face units (the head's half-width is about 1)."""

    half_width: float
    half_height: float
    jaw: float
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    hair_line: float
    long_hair: bool
    eye_dx: float
    eye_y: float
    eye_w: float
    eye_h: float
    iris: tuple[float, float, float]
    brow_y: float
    brow_in: float
    brow_out: float
    brow_thick: float
    brow_arch: float
    nose_y: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_thick: float
    lip: tuple[float, float, float]


_SKIN_DARK = np.array([92.0, 62.0, 46.0])
_SKIN_LIGHT = np.array([238.0, 204.0, 184.0])
_HAIR = np.array([[30, 24, 20], [70, 48, 30], [120, 86, 50], [190, 160, 110], [150, 146, 142]], dtype=float)
_IRIS = np.array([[60, 40, 25], [90, 70, 40], [60, 90, 120], [80, 100, 70]], dtype=float)


def draw_identity(
    rng: np.random.Generator, style: RenderStyle, gender: str, spread: float = 1.0
) -> FaceIdentity:
    """A random face for a speaker of ``gender`` within ``style``'s skin-tone range.

    ``spread`` scales how far the face geometry may depart from the average face (1: the full
    ranges below, 0: every face has the same geometry).
    """
    lightness = rng.uniform(*style.skin_lightness)
    skin = _SKIN_DARK + (_SKIN_LIGHT - _SKIN_DARK) * lightness + rng.normal(0, 6, 3)
    # brightness varies, hue stays natural
    hair = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.85, 1.15)
    iris = _IRIS[rng.integers(len(_IRIS))] * rng.uniform(0.85, 1.15)
    lip = skin * np.array([0.85, 0.62, 0.62]) + np.array([25.0, 0.0, 5.0])
    female = gender == "f"

    def u(lo: float, hi: float) -> float:
        mid = (lo + hi) / 2
        return mid + spread * (rng.uniform(lo, hi) - mid)

    return FaceIdentity(
        half_width=float(u(0.9, 1.05) * (0.95 if female else 1.0)),
        half_height=float(u(1.22, 1.38)),
        jaw=float(u(0.05, 0.3)),
        skin=tuple(float(c) for c in np.clip(skin, 0, 255)),
        hair=tuple(float(c) for c in np.clip(hair, 0, 255)),
        hair_line=float(u(-0.95, -0.7)),
        long_hair=bool((female and rng.random() < 0.8) or rng.random() < 0.08),
        eye_dx=float(u(0.34, 0.42)),
        eye_y=float(u(-0.22, -0.12)),
        eye_w=float(u(0.14, 0.18)),
        eye_h=float(u(0.065, 0.085)),
        iris=tuple(float(c) for c in np.clip(iris, 0, 255)),
        brow_y=float(u(-0.45, -0.36)),
        brow_in=float(u(0.12, 0.2)),
        brow_out=float(u(0.55, 0.66)),
        brow_thick=float(u(0.025, 0.045) * (0.8 if female else 1.0)),
        brow_arch=float(u(0.02, 0.07)),
        nose_y=float(u(0.2, 0.3)),
        nose_w=float(u(0.08, 0.12)),
        mouth_y=float(u(0.52, 0.62)),
        mouth_w=float(u(0.26, 0.34)),
        lip_thick=float(u(0.035, 0.055) * (1.15 if female else 1.0)),
        lip=tuple(float(c) for c in np.clip(lip, 0, 255)),
    )


@lru_cache(maxsize=256)
def speaker_face(
    spec: CorpusSpec, seed: int, speaker_id: str
) -> tuple[FaceIdentity, dict[str, dict[str, float]]]:
    """The face of ``speaker_id`` and their own version of each emotion's action units."""
    if spec.style is None:
        raise ValueError(f"{spec.name} has no video")
    rng = rng_for(seed, spec.name, "speaker-face", speaker_id)
    identity = draw_identity(rng, spec.style, spec.speaker(speaker_id).gender, spec.face.identity_spread)
    jitter = spec.face.au_jitter
    profiles = {
        label: {au: float(w * np.clip(rng.normal(1.0, jitter), 0.0, 2.0)) for au, w in aus.items()}
        for label, aus in corpus_aus(spec, seed).items()
    }
    return identity, profiles


@lru_cache(maxsize=16)
def corpus_aus(spec: CorpusSpec, seed: int) -> dict[str, dict[str, float]]:
    """This corpus's version of each emotion's action units (``spec.acting_jitter`` around the
    prototypes of :data:`EMOTION_AUS`)."""
    rng = rng_for(seed, spec.name, "corpus-aus")
    return {
        label: {
            au: float(w * np.clip(rng.normal(1.0, spec.acting_jitter), 0.0, 2.0))
            for au, w in EMOTION_AUS[label].items()
        }
        for _, label in spec.emotions
    }


@dataclass
class FaceTrack:
    """Everything that moves in a clip, one value per frame (arrays of shape ``[T]``)."""

    aus: dict[str, np.ndarray]
    speech: np.ndarray
    blink: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    roll: np.ndarray
    scale: np.ndarray
    gaze_x: np.ndarray
    gaze_y: np.ndarray

    def frames(self, start: int, stop: int) -> FaceTrack:
        """The part of the track from frame ``start`` to ``stop``."""
        part = slice(start, stop)
        return FaceTrack(
            aus={au: values[part] for au, values in self.aus.items()},
            speech=self.speech[part],
            blink=self.blink[part],
            dx=self.dx[part],
            dy=self.dy[part],
            roll=self.roll[part],
            scale=self.scale[part],
            gaze_x=self.gaze_x[part],
            gaze_y=self.gaze_y[part],
        )

    def au(self, name: str) -> np.ndarray:
        """Action unit ``name`` per frame, shaped ``[T, 1, 1]`` (zeros when absent)."""
        values = self.aus.get(name)
        if values is None:
            return np.zeros((len(self.speech), 1, 1), F32)
        return values.reshape(-1, 1, 1)


def _smooth_wander(n: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """A slow, smooth random movement in [-1, 1] (two sinusoids of 0.1-0.6 Hz)."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    for _ in range(2):
        out += np.sin(2 * np.pi * rng.uniform(0.1, 0.6) * t + rng.uniform(0, 2 * np.pi))
    return (out / 2.0).astype(F32)


def speech_envelope(x: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> np.ndarray:
    """Per-video-frame mouth opening in [0, 1] from the clean speech's RMS envelope."""
    hop = sample_rate / fps
    starts = (np.arange(n_frames) * hop).astype(int)
    ends = np.minimum(starts + int(hop), len(x))
    sq = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    rms = np.sqrt(np.maximum(sq[ends] - sq[np.minimum(starts, len(x))], 0) / np.maximum(ends - starts, 1))
    peak = np.percentile(rms, 95) + 1e-6
    env = np.clip(rms / peak, 0.0, 1.0) ** 0.7
    # the jaw cannot move frame to frame like the envelope does
    env = np.convolve(env, np.array([0.25, 0.5, 0.25]), mode="same")
    return env.astype(F32)


def make_track(
    variation: FaceVariation,
    style: RenderStyle,
    profile: dict[str, float],
    intensity: float,
    speech: np.ndarray,
    rng: np.random.Generator,
) -> FaceTrack:
    """Animate a clip: the emotion's action units rise, hold and fall, the jaw follows the speech.

    Args:
        profile: the speaker's action units for the clip's emotion at full intensity.
        intensity: the clip's (vocal) intensity; the visual one is drawn around it.
        speech: per-frame mouth opening from :func:`speech_envelope`; its length is the clip's.
    """
    n, fps = len(speech), float(style.fps)
    t = np.arange(n) / fps
    duration = n / fps
    visual = float(np.clip(intensity + rng.normal(0.0, variation.intensity_noise), 0.1, 1.2))
    onset = rng.uniform(*variation.onset_s)
    start = rng.uniform(*variation.start_frac) * duration
    stop = duration - rng.uniform(0.0, 0.15) * duration
    rise = np.clip((t - start) / onset, 0.0, 1.0)
    fall = np.clip((stop - t) / onset, 0.0, 1.0)
    env = np.minimum(rise, fall)
    env = env * env * (3.0 - 2.0 * env)  # smoothstep
    aus: dict[str, np.ndarray] = {}
    for au, weight in profile.items():
        aus[au] = min(weight * visual, 1.0) * env  # FACS intensities top out at E
    # faces are never pure prototypes: a little of other units, differently per clip
    for au in ("AU1", "AU4", "AU6", "AU12", "AU15", "AU26"):
        leak = abs(rng.normal(0.0, variation.au_leak))
        aus[au] = np.minimum(aus.get(au, np.zeros(n)) + leak * env, 1.0)
    aus = {au: (values * variation.expression_gain).astype(F32) for au, values in aus.items()}
    blink = np.zeros(n, F32)
    next_blink = rng.exponential(variation.blink_interval_s)
    while next_blink < duration:
        i = int(next_blink * fps)
        for j, closed in enumerate((0.6, 1.0, 0.5)):
            if i + j < n:
                blink[i + j] = max(blink[i + j], closed)
        next_blink += 0.3 + rng.exponential(variation.blink_interval_s)
    gaze = rng.normal(0.0, 0.3, 2)
    return FaceTrack(
        aus=aus,
        speech=(speech * variation.speech_mouth).astype(F32),
        blink=blink,
        dx=_smooth_wander(n, fps, rng) * style.pose_shift_px,
        dy=_smooth_wander(n, fps, rng) * style.pose_shift_px,
        roll=_smooth_wander(n, fps, rng) * np.deg2rad(style.pose_roll_deg).astype(F32),
        scale=1.0 + _smooth_wander(n, fps, rng) * style.pose_scale,
        gaze_x=(gaze[0] + 0.2 * _smooth_wander(n, fps, rng)).astype(F32),
        gaze_y=np.full(n, gaze[1] * 0.5, F32),
    )


# -- drawing primitives ----------------------------------------------------------------------
def _soft(d_px: np.ndarray, edge: float) -> np.ndarray:
    """Coverage in [0, 1] from a signed distance in pixels (positive inside)."""
    return np.clip(0.5 + d_px * (1.0 / edge), 0.0, 1.0)


def _paint(view: np.ndarray, alpha: np.ndarray, colour) -> None:
    """Blend ``colour`` into ``view`` (``[T, h, w, 3]``) with coverage ``alpha`` (``[T, h, w]``)."""
    diff = np.subtract(np.asarray(colour, F32), view)
    diff *= alpha[..., None]
    view += diff


def _segment_distance(u, v, ax, ay, bx, by):
    """Distance from (u, v) to the segment A-B (arrays broadcast against ``[T, h, w]``)."""
    ex, ey = bx - ax, by - ay
    px, py = u - ax, v - ay
    t = np.clip((px * ex + py * ey) / (ex * ex + ey * ey + 1e-9), 0.0, 1.0)
    return np.sqrt((px - t * ex) ** 2 + (py - t * ey) ** 2)


class _Clip:
    """The canvas of a clip and the face-coordinate grid over the head's bounding box."""

    def __init__(self, style: RenderStyle, ident: FaceIdentity, track: FaceTrack, background: np.ndarray):
        n = len(track.speech)
        self.style, self.edge = style, float(style.edge_px)
        h, w = style.height, style.width
        s0 = style.face_height * h / (2.0 * 1.3)  # pixels per face unit for an average head
        self.s = (s0 * track.scale).astype(F32).reshape(n, 1, 1)
        self.cx = (style.face_center[0] * w + track.dx).astype(F32).reshape(n, 1, 1)
        self.cy = (style.face_center[1] * h + track.dy).astype(F32).reshape(n, 1, 1)
        self.cos = np.cos(track.roll).astype(F32).reshape(n, 1, 1)
        self.sin = np.sin(track.roll).astype(F32).reshape(n, 1, 1)
        self.canvas = np.broadcast_to(background, (n, h, w, 3)).astype(F32)
        hw, hh = ident.half_width, ident.half_height
        self.y0, self.y1, self.x0, self.x1 = self._bbox(
            np.array([-1.4 * hw, 1.4 * hw]), np.array([-1.15 * hh, 1.3 * hh + 0.3])
        )
        xs = np.arange(self.x0, self.x1, dtype=F32) + 0.5
        ys = np.arange(self.y0, self.y1, dtype=F32) + 0.5
        dx = xs[None, None, :] - self.cx
        dy = ys[None, :, None] - self.cy
        self.u = (self.cos * dx + self.sin * dy) / self.s
        self.v = (self.cos * dy - self.sin * dx) / self.s

    def _bbox(self, us: np.ndarray, vs: np.ndarray) -> tuple[int, int, int, int]:
        """Pixel rows/cols (y0, y1, x0, x1) covering the face-coordinate box over every frame."""
        uu, vv = np.meshgrid(np.asarray(us, F32).ravel(), np.asarray(vs, F32).ravel())
        uu, vv = uu.ravel()[None, :], vv.ravel()[None, :]
        c, s = self.cos[:, 0], self.sin[:, 0]
        x = self.cx[:, 0] + self.s[:, 0] * (c * uu - s * vv)
        y = self.cy[:, 0] + self.s[:, 0] * (s * uu + c * vv)
        h, w = self.canvas.shape[1:3]
        x0 = int(np.clip(np.floor(x.min()) - 1, 0, w))
        x1 = int(np.clip(np.ceil(x.max()) + 2, 0, w))
        y0 = int(np.clip(np.floor(y.min()) - 1, 0, h))
        y1 = int(np.clip(np.ceil(y.max()) + 2, 0, h))
        return y0, y1, x0, x1

    def region(self, us, vs):
        """(u, v, canvas view) restricted to the pixels covering the given u and v extents."""
        y0, y1, x0, x1 = self._bbox(np.array([np.min(us), np.max(us)]), np.array([np.min(vs), np.max(vs)]))
        y0, y1 = max(y0, self.y0), max(min(y1, self.y1), max(y0, self.y0))
        x0, x1 = max(x0, self.x0), max(min(x1, self.x1), max(x0, self.x0))
        sy, sx = slice(y0 - self.y0, y1 - self.y0), slice(x0 - self.x0, x1 - self.x0)
        return self.u[:, sy, sx], self.v[:, sy, sx], self.canvas[:, y0:y1, x0:x1]

    def px(self, d: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
        """Face-unit distance to pixels for the soft edge."""
        return d * (self.s if s is None else s)


#: Frames drawn at once: enough to amortise numpy's per-call overhead, few enough that the
#: working arrays stay in the CPU cache (whole clips at once, or 4 frames, are ~30% slower).
RENDER_CHUNK = 16


def render_clip(
    style: RenderStyle, ident: FaceIdentity, track: FaceTrack, rng: np.random.Generator
) -> np.ndarray:
    """Draw every frame of a clip; returns uint8 RGB frames ``[T, height, width, 3]``."""
    n = len(track.speech)
    top, bottom = np.asarray(style.background_top, F32), np.asarray(style.background_bottom, F32)
    ramp = np.linspace(0.0, 1.0, style.height, dtype=F32)[:, None, None]
    background = (top + (bottom - top) * ramp) * F32(rng.uniform(0.94, 1.06))
    gains = np.asarray(style.white_balance, F32) * F32(style.ambient * rng.uniform(0.96, 1.04))
    bank = _noise_bank(style) if style.pixel_noise > 0 else None
    noise = rng.integers(0, 16, n)
    out = np.empty((n, style.height, style.width, 3), np.uint8)
    for start in range(0, n, RENDER_CHUNK):
        stop = min(n, start + RENDER_CHUNK)
        frames = _draw_face(style, ident, track.frames(start, stop), background)
        frames *= gains
        if bank is not None:
            frames += bank[noise[start:stop]]
        if style.grayscale:
            grey = frames @ np.array([0.299, 0.587, 0.114], F32)
            frames = np.repeat(grey[..., None], 3, axis=-1)
        np.clip(frames, 0, 255, out=frames)
        out[start:stop] = frames
    return out


def _draw_face(
    style: RenderStyle, ident: FaceIdentity, track: FaceTrack, background: np.ndarray
) -> np.ndarray:
    """The float RGB frames ``[T, H, W, 3]`` of ``track`` before camera gains and noise."""
    clip = _Clip(style, ident, track, background)
    edge = clip.edge
    skin = np.asarray(ident.skin, F32)
    hw, hh = F32(ident.half_width), F32(ident.half_height)
    au = track.au

    # jaw: the chin follows the mouth opening
    mouth_open = np.clip(
        0.006 + 0.30 * au("AU26") + 0.22 * track.speech.reshape(-1, 1, 1) * (1 - 0.8 * au("AU24")), 0, 0.5
    )
    u, v, view = clip.u, clip.v, clip.canvas[:, clip.y0 : clip.y1, clip.x0 : clip.x1]
    face_alpha = np.zeros(u.shape, F32)

    if ident.long_hair:
        r = np.sqrt((u / (hw * 1.22)) ** 2 + ((v - 0.15) / (hh * 1.05)) ** 2)
        a = _soft(clip.px((1 - r) * hw), edge)
        _paint(view, a, ident.hair)
        face_alpha = np.maximum(face_alpha, a)
    # ears
    for side in (-1.0, 1.0):
        eu, ev, eview = clip.region([side * hw - 0.2, side * hw + 0.2], [-0.35, 0.25])
        r = np.sqrt(((eu - side * hw * 0.97) / 0.12) ** 2 + ((ev + 0.05) / 0.22) ** 2)
        _paint(eview, _soft(clip.px((1 - r) * 0.12), edge), skin * 0.9)
    # head: an ellipse whose lower half narrows to the jaw and lengthens as the jaw drops
    lower = v > 0
    width = hw * np.where(lower, 1.0 - ident.jaw * (v / hh) ** 2, 1.0)
    height = np.where(lower, hh + 0.7 * mouth_open, hh)
    r = np.sqrt((u / width) ** 2 + (v / height) ** 2)
    head = _soft(clip.px((1 - r) * hw), edge)
    _paint(view, head, skin)
    face_alpha = np.maximum(face_alpha, head)
    # hair on top, behind a curved hair line
    hair = np.minimum(
        _soft(clip.px((1.04 - r) * hw), edge), _soft(clip.px(ident.hair_line + 0.45 * u * u - v), edge)
    )
    _paint(view, hair, ident.hair)
    face_alpha = np.maximum(face_alpha, hair)

    _draw_brows(clip, ident, track)
    _draw_eyes(clip, ident, track)
    corners = _draw_mouth(clip, ident, track, mouth_open)
    _draw_nose(clip, ident, track, corners)
    if style.markers:
        _draw_markers(clip, ident, track, corners, mouth_open)

    # directional light and darker rim, on the face only
    lx, ly = style.light_dir
    norm = float(np.hypot(lx, ly)) or 1.0
    shade = 1.0 + style.light_strength * (lx * u + ly * v) / (norm * hh) - 0.18 * np.minimum(r, 1.2) ** 4
    view *= (1.0 + (shade - 1.0) * face_alpha)[..., None]

    return clip.canvas


@lru_cache(maxsize=4)
def _noise_bank(style: RenderStyle) -> np.ndarray:
    """Sensor-noise frames, drawn once per style and picked at random per frame (drawing fresh
    noise for every frame would cost more than rendering the face)."""
    rng = np.random.default_rng(7)
    return (rng.standard_normal((16, style.height, style.width, 1)) * style.pixel_noise).astype(F32)


def _draw_brows(clip: _Clip, ident: FaceIdentity, track: FaceTrack) -> None:
    au1, au2, au4 = track.au("AU1"), track.au("AU2"), track.au("AU4")
    thick = ident.brow_thick * (1 + 0.2 * au4)
    colour = np.asarray(ident.hair, F32) * 0.8
    for side in (-1.0, 1.0):
        lo, hi = sorted((side * (ident.brow_in - 0.15), side * (ident.brow_out + 0.1)))
        u, v, view = clip.region([lo, hi], [ident.brow_y - 0.3, ident.brow_y + 0.2])
        ix, iy = side * (ident.brow_in - 0.06 * au4), ident.brow_y - 0.13 * au1 + 0.1 * au4
        ox, oy = side * ident.brow_out + 0 * au4, ident.brow_y - 0.13 * au2 + 0.04 * au4 + 0.03 * au1
        mx, my = (ix + ox) / 2, (iy + oy) / 2 - ident.brow_arch - 0.03 * au2
        d = np.minimum(_segment_distance(u, v, ix, iy, mx, my), _segment_distance(u, v, mx, my, ox, oy))
        _paint(view, _soft(clip.px(thick - d), clip.edge), colour)
    # AU4 draws vertical furrows between the brows
    u, v, view = clip.region([-0.12, 0.12], [ident.brow_y - 0.05, ident.brow_y + 0.2])
    furrow = np.zeros(u.shape, F32)
    for side in (-1.0, 1.0):
        d = _segment_distance(u, v, side * 0.05, ident.brow_y + 0.03, side * 0.06, ident.brow_y + 0.15)
        furrow = np.maximum(furrow, _soft(clip.px(0.012 - d), clip.edge))
    _paint(view, furrow * np.clip(0.6 * au4, 0, 0.6), np.asarray(ident.skin, F32) * 0.6)


def _draw_eyes(clip: _Clip, ident: FaceIdentity, track: FaceTrack) -> None:
    opening = (
        1 + 0.55 * track.au("AU5") - 0.35 * track.au("AU7") - 0.3 * track.au("AU6") - 0.6 * track.au("AU43")
    )
    opening = np.clip(opening, 0.08, 1.8) * (1 - track.blink.reshape(-1, 1, 1))
    eh = ident.eye_h * np.maximum(opening, 0.02)
    ew = ident.eye_w
    gx, gy = track.gaze_x.reshape(-1, 1, 1), track.gaze_y.reshape(-1, 1, 1)
    iris_r, pupil_r = 0.6 * ident.eye_h, 0.28 * ident.eye_h
    lid = np.asarray(ident.skin, F32) * 0.35
    for side in (-1.0, 1.0):
        ex, ey = side * ident.eye_dx, ident.eye_y
        u, v, view = clip.region(
            [ex - 1.3 * ew, ex + 1.3 * ew], [ey - 2.0 * ident.eye_h - 0.03, ey + 2.0 * ident.eye_h]
        )
        du, dv = u - ex, v - ey
        r = np.sqrt((du / ew) ** 2 + (dv / eh) ** 2)
        sclera = _soft(clip.px((1 - r) * np.minimum(eh, ew)), clip.edge)
        _paint(view, sclera, (236, 232, 226))
        di = np.sqrt((du - gx * ew * 0.35) ** 2 + (dv - gy * eh * 0.2) ** 2)
        _paint(view, _soft(clip.px(iris_r - di), clip.edge) * sclera, ident.iris)
        _paint(view, _soft(clip.px(pupil_r - di), clip.edge) * sclera, (18, 16, 16))
        # the upper lid's edge (also the line of a closed eye)
        upper = _soft(clip.px(0.018 - np.abs(r - 1) * eh), clip.edge) * (dv < 0.3 * eh)
        _paint(view, upper * 0.85, lid)


def _draw_mouth(clip: _Clip, ident: FaceIdentity, track: FaceTrack, mouth_open: np.ndarray):
    au = track.au
    w = ident.mouth_w * (1 + 0.18 * au("AU12") + 0.3 * au("AU20") - 0.2 * au("AU23"))
    corner_dv = -0.11 * au("AU12") + 0.09 * au("AU15") + 0.03 * au("AU20")
    raise_upper = 0.05 * au("AU10")
    thick_u = ident.lip_thick * np.clip(1 - 0.6 * au("AU24") - 0.35 * au("AU23"), 0.2, 1.0)
    thick_l = 1.35 * thick_u
    wmax = ident.mouth_w * 1.5 + 0.05
    u, v, view = clip.region([-wmax, wmax], [ident.mouth_y - 0.25, ident.mouth_y + 0.5])
    tt = u / w
    q = np.clip(1 - tt * tt, 0.0, 1.0)
    sq = np.sqrt(q)
    base = ident.mouth_y + corner_dv * tt * tt
    y_iu = base - q * (0.3 * mouth_open + raise_upper)
    y_il = base + q * 0.7 * mouth_open
    y_ou = y_iu - sq * thick_u
    y_ol = y_il + sq * thick_l
    edge = clip.edge
    inside = _soft(clip.px((1 - np.abs(tt)) * w), edge)
    lips = inside * _soft(clip.px(v - y_ou), edge) * _soft(clip.px(y_ol - v), edge)
    _paint(view, lips, ident.lip)
    interior = inside * _soft(clip.px(v - y_iu), edge) * _soft(clip.px(y_il - v), edge)
    _paint(view, interior, (62, 22, 26))
    _paint(view, interior * _soft(clip.px(y_iu + 0.05 - v), edge), (228, 222, 206))
    line = inside * _soft(clip.px(0.011 - np.abs(v - (y_iu + y_il) / 2)), edge)
    _paint(view, line * 0.7, np.asarray(ident.lip, F32) * 0.4)
    return w, ident.mouth_y + corner_dv


def _draw_nose(clip: _Clip, ident: FaceIdentity, track: FaceTrack, corners) -> None:
    au9, au10, au12 = track.au("AU9"), track.au("AU10"), track.au("AU12")
    skin = np.asarray(ident.skin, F32)
    ny = ident.nose_y
    u, v, view = clip.region([-0.2, 0.2], [ident.eye_y, ny + 0.1])
    ridge = _soft(
        clip.px(0.014 - _segment_distance(u, v, 0.03, ident.eye_y + 0.08, 0.05, ny - 0.07)), clip.edge
    )
    _paint(view, ridge * 0.25, skin * 0.6)
    base = np.sqrt((u / (ident.nose_w + 0.05)) ** 2 + ((v - ny - 0.015) / 0.035) ** 2)
    _paint(view, _soft(clip.px((1 - base) * 0.035), clip.edge) * 0.22, skin * 0.6)
    lift = ny - 0.025 * au9 - 0.02 * au10
    for side in (-1.0, 1.0):
        d = np.sqrt(((u - side * ident.nose_w * (1 + 0.25 * au9)) / 0.05) ** 2 + ((v - lift) / 0.025) ** 2)
        _paint(view, _soft(clip.px((1 - d) * 0.025), clip.edge) * 0.8, skin * 0.4)
    # AU9 wrinkles the bridge
    wrinkles = np.zeros(u.shape, F32)
    for dy in (0.06, 0.11):
        d = _segment_distance(u, v, -0.07, ident.eye_y + dy, 0.07, ident.eye_y + dy)
        wrinkles = np.maximum(wrinkles, _soft(clip.px(0.01 - d), clip.edge))
    _paint(view, wrinkles * np.clip(0.7 * au9, 0, 0.7), skin * 0.55)
    # nasolabial folds deepen with smiling, wrinkling and raising the upper lip
    w, corner_v = corners
    depth = np.clip(0.12 + 0.7 * au12 + 0.5 * au9 + 0.4 * track.au("AU10"), 0.0, 0.8)
    for side in (-1.0, 1.0):
        lo, hi = sorted((side * (ident.nose_w + 0.04), side * (ident.mouth_w * 1.5 + 0.1)))
        fu, fv, fview = clip.region([lo, hi], [ny - 0.05, ident.mouth_y + 0.15])
        d = _segment_distance(
            fu, fv, side * (ident.nose_w + 0.07), ny - 0.02, side * (w + 0.06), corner_v + 0.06
        )
        _paint(fview, _soft(clip.px(0.012 - d), clip.edge) * depth, skin * 0.6)


def _draw_markers(clip: _Clip, ident: FaceIdentity, track: FaceTrack, corners, mouth_open) -> None:
    """SAVEE's actors wore painted blue markers; they move with the features they sit on."""
    n = len(track.speech)
    au1, au2, au4 = (track.au(a)[:, 0, 0] for a in ("AU1", "AU2", "AU4"))
    w, corner_v = (np.broadcast_to(x, (n, 1, 1))[:, 0, 0] for x in corners)
    opened = mouth_open[:, 0, 0]
    ones = np.ones(n, F32)
    points = []
    for side in (-1.0, 1.0):
        points += [
            (side * ident.brow_in * ones, ident.brow_y - 0.2 - 0.13 * au1 + 0.1 * au4),
            (side * ident.brow_out * ones, ident.brow_y - 0.2 - 0.13 * au2),
            (side * ident.eye_dx * ones, ident.eye_y + 2.4 * ident.eye_h * ones),
            (side * (ident.eye_dx + 0.12) * ones, ident.nose_y * ones),
            (side * (w + 0.04), corner_v),
            (side * 0.22 * ones, ident.mouth_y + 0.25 + 0.5 * opened),
        ]
    points += [
        (0 * ones, ident.brow_y - 0.25 - 0.1 * au1),
        (0 * ones, ident.nose_y - 0.06 * ones),
        (0 * ones, ident.mouth_y - ident.lip_thick - 0.05 - 0.1 * opened),
        (0 * ones, ident.mouth_y + 0.32 + 0.7 * opened),
    ]
    radius = 0.028
    for pu, pv in points:
        u, v, view = clip.region([pu.min() - 0.06, pu.max() + 0.06], [pv.min() - 0.06, pv.max() + 0.06])
        d = np.sqrt((u - pu.reshape(-1, 1, 1)) ** 2 + (v - pv.reshape(-1, 1, 1)) ** 2)
        _paint(view, _soft(clip.px(radius - d), max(clip.edge, 0.8)), (40, 70, 200))
