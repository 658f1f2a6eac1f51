"""Short AVI clips of a real face (scikit-image's astronaut photograph) with known face boxes.

The face of :func:`skimage.data.astronaut` is pasted (with its hair, through a soft elliptical
mask) onto a background (another photograph, a texture or a plain colour), moved, scaled and
rotated in the image plane frame by frame; frames may leave the face out. The known box of a
frame is the photo's measured face square (:data:`PHOTO_FACE`) carried by the same transform:
centred where the face centre lands, side scaled (a rotated face keeps an upright square, as a
detector reports it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from scipy import ndimage
from skimage import data

from emokit_plugins.features.face_detection import Box

#: the astronaut's face, measured on the 512x512 photo: eyes at (202, 102) and (244, 102), mouth
#: at y 143; the square spans 2 eye distances, from brows to below the mouth
PHOTO_FACE = Box(181.0, 72.0, 265.0, 156.0)
#: the head (face, hair, chin) kept when pasting: an ellipse around the face centre (pixels)
HEAD_RADII = (68.0, 88.0)


@dataclass(frozen=True)
class Pose:
    """Where one frame shows the face: centre (pixels), face side (pixels), in-plane angle (degrees,
    positive: turned clockwise as displayed); ``None`` frames show no face."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0


def background(kind: str, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A uint8 RGB background: ``"plain"``, ``"texture"`` (smoothed noise) or a skimage photo name."""
    h, w = shape
    if kind == "plain":
        return np.full((h, w, 3), (120, 130, 150), np.uint8)
    if kind == "texture":
        rng = np.random.default_rng(seed)
        noise = ndimage.gaussian_filter(rng.normal(0, 1, (h, w, 3)), (3, 3, 0))
        return np.clip(128 + 60 * noise / noise.std(), 0, 255).astype(np.uint8)
    photo = getattr(data, kind)()
    if photo.ndim == 2:
        photo = np.repeat(photo[..., None], 3, axis=2)
    zoom = max(h / photo.shape[0], w / photo.shape[1])
    photo = ndimage.zoom(photo, (zoom, zoom, 1), order=1)
    return np.ascontiguousarray(photo[:h, :w])


def composite(back: np.ndarray, pose: Pose | None) -> np.ndarray:
    """``back`` with the astronaut's head pasted at ``pose`` (or unchanged for ``None``)."""
    if pose is None:
        return back.copy()
    photo = data.astronaut().astype(np.float32)
    h, w = back.shape[:2]
    s = pose.side / PHOTO_FACE.side
    t = math.radians(pose.angle)
    cos, sin = math.cos(t), math.sin(t)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = (xx - pose.cx) / s, (yy - pose.cy) / s
    # output = centre + s R(angle) (source - face centre): invert the rotation for the lookup
    fx, fy = PHOTO_FACE.centre
    sx, sy = fx + cos * dx + sin * dy, fy - sin * dx + cos * dy
    ex, ey = (sx - fx) / HEAD_RADII[0], (sy - fy + 10) / HEAD_RADII[1]
    alpha = np.clip((1.0 - np.hypot(ex, ey)) * 8, 0, 1)[..., None]
    pasted = np.stack([ndimage.map_coordinates(photo[..., c], [sy, sx], order=1) for c in range(3)], -1)
    return np.clip(alpha * pasted + (1 - alpha) * back, 0, 255).astype(np.uint8)


def known_box(pose: Pose | None) -> Box | None:
    """The face square a frame at ``pose`` shows."""
    return None if pose is None else Box.around(pose.cx, pose.cy, pose.side)


def moving_poses(
    n: int,
    shape: tuple[int, int] = (240, 320),
    *,
    start: tuple[float, float] = (0.38, 0.45),
    end: tuple[float, float] = (0.62, 0.55),
    sides: tuple[float, float] = (0.3, 0.42),
    angles: tuple[float, float] = (-15.0, 15.0),
) -> list[Pose]:
    """``n`` poses: the face translates, grows and rotates linearly (positions, sides as fractions
    of the frame's height/width/shorter side)."""
    h, w = shape
    out = []
    for i in range(n):
        f = i / max(n - 1, 1)
        out.append(
            Pose(
                cx=w * (start[0] + f * (end[0] - start[0])),
                cy=h * (start[1] + f * (end[1] - start[1])),
                side=min(h, w) * (sides[0] + f * (sides[1] - sides[0])),
                angle=angles[0] + f * (angles[1] - angles[0]),
            )
        )
    return out


def render(
    poses: Sequence[Pose | None], shape: tuple[int, int] = (240, 320), back: str = "chelsea"
) -> np.ndarray:
    """The frames ``[T, H, W, 3]`` of a clip showing the face at ``poses`` over ``back``."""
    base = background(back, shape)
    return np.stack([composite(base, pose) for pose in poses])


def write_clip(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    """Write ``frames`` as an mpeg4 AVI (near-lossless quality)."""
    container = av.open(str(path), mode="w", format="avi")
    stream = container.add_stream("mpeg4", rate=fps)
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = "yuv420p"
    stream.options = {"qscale": "2"}
    for frame in frames:
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path
