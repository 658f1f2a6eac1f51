"""Face detection, tracking and eye-line alignment for video clips, from what scikit-image ships.

- **Detect** (:func:`detect_candidates`, :func:`detect_faces`): scikit-image's LBP frontal-face
  cascade (its wheel ships the trained file, so nothing is downloaded). Frames are converted to
  grey and downscaled so the smallest face sought (``min_face`` of the shorter side) is just
  above the cascade's 24-pixel window: detection cost then hardly depends on the video's
  resolution. A frame without a detection is retried rotated by +-12 degrees (the cascade
  tolerates only small in-plane rotation).
- **Track** (:func:`track_faces`): the candidates of all frames are chained into tracks (a box
  continues a track when it is near the last box and of similar size); the best-supported track
  is kept, so spurious boxes far from it are dropped. Gaps are filled by interpolating (inside)
  or carrying (at the ends) the neighbouring boxes, but only where the filled box still looks
  like the face next to it (normalised correlation with its crop): a face that left the frame is
  not invented. Boxes are then smoothed over neighbouring frames.
- **Align** (:func:`find_eyes`, :func:`eye_angle`): the two eyes are the strongest small dark
  blobs (black top-hat) in the left and right upper half of the face box; when their positions
  are plausible for a pair of eyes the eye line gives the in-plane rotation, else none.

Plugins import emokit only through :mod:`emokit.api`; this module needs none of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

#: the LBP cascade's detection window (pixels): a face must be at least this big to be found
CASCADE_WINDOW = 24
#: the smallest face sought is scaled to this many pixels in the detection image
DETECT_FACE_PX = 28
#: in-plane rotations (degrees) retried on frames where the upright search finds nothing
RETRY_ANGLES = (12.0, -12.0)


@dataclass(frozen=True)
class Box:
    """A pixel box ``[x0, x1) x [y0, y1)`` (floats allowed: squares may reach outside the frame)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    @property
    def side(self) -> float:
        """The longer side."""
        return max(self.width, self.height)

    def squared(self, margin: float = 0.0) -> Box:
        """The square around this box's centre, side = longer side x (1 + 2 x margin)."""
        cx, cy = self.centre
        half = self.side * (1 + 2 * margin) / 2
        return Box(cx - half, cy - half, cx + half, cy + half)

    def scaled(self, factor: float) -> Box:
        """The box in a frame scaled by ``factor`` (coordinates multiplied)."""
        return Box(self.x0 * factor, self.y0 * factor, self.x1 * factor, self.y1 * factor)

    @staticmethod
    def around(cx: float, cy: float, side: float) -> Box:
        """The square of ``side`` centred on ``(cx, cy)``."""
        return Box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.width * a.height + b.width * b.height - inter)


def to_grey(frame: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB frame (a grey frame passes through), float32 0-255."""
    if frame.ndim == 2:
        return frame.astype(np.float32)
    return frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


@lru_cache(maxsize=1)
def _cascade():
    # imported here so importing emokit's plugins does not pay for scikit-image
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    return Cascade(lbp_frontal_face_cascade_filename())


def check_face_sizes(min_face: float, max_face: float) -> None:
    """Raise ValueError unless ``0 < min_face < max_face <= 1.5``, naming the parameter."""
    if not 0.02 <= min_face <= 1.0:
        raise ValueError(f"min_face must be a fraction of the shorter side in [0.02, 1], got {min_face}")
    if not min_face < max_face <= 1.5:
        raise ValueError(f"max_face must be above min_face ({min_face}) and at most 1.5, got {max_face}")


def detection_scale(shape: tuple[int, ...], min_face: float) -> float:
    """The factor frames are downscaled by for detection (at most 1: frames are never upscaled)."""
    return min(1.0, DETECT_FACE_PX / (min_face * min(shape[:2])))


def _downscale(grey: np.ndarray, factor: float) -> np.ndarray:
    if factor >= 1.0:
        return grey
    # anti-aliasing blur at the downscale factor, then linear resampling
    blurred = ndimage.gaussian_filter(grey, 0.5 * (1 / factor - 1), mode="nearest")
    out = (max(1, round(grey.shape[0] * factor)), max(1, round(grey.shape[1] * factor)))
    return ndimage.zoom(blurred, (out[0] / grey.shape[0], out[1] / grey.shape[1]), order=1)


def _cascade_boxes(grey01: np.ndarray, max_px: int, min_neighbours: int) -> list[Box]:
    found = _cascade().detect_multi_scale(
        img=grey01,
        scale_factor=1.15,
        step_ratio=1,
        min_size=(CASCADE_WINDOW, CASCADE_WINDOW),
        max_size=(max_px, max_px),
        min_neighbor_number=min_neighbours,
    )
    return [Box(d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"]) for d in found]


def _rotated_boxes(grey01: np.ndarray, angle: float, max_px: int, min_neighbours: int) -> list[Box]:
    """Detect in the image rotated by ``angle`` degrees (counter-clockwise) and map boxes back."""
    rotated = ndimage.rotate(grey01, angle, reshape=False, order=1, mode="nearest")
    h, w = grey01.shape
    cx0, cy0 = (w - 1) / 2, (h - 1) / 2
    # ndimage.rotate turns the image counter-clockwise as displayed (y down): a point p of the
    # rotated image came from R(-angle) p in the original
    t = math.radians(angle)
    cos, sin = math.cos(t), math.sin(t)
    boxes = []
    for box in _cascade_boxes(rotated, max_px, min_neighbours):
        x, y = box.centre[0] - cx0, box.centre[1] - cy0
        boxes.append(Box.around(cx0 + cos * x + sin * y, cy0 - sin * x + cos * y, box.side))
    return boxes


def detect_candidates(
    frame: np.ndarray, *, min_face: float = 0.2, max_face: float = 1.0, min_neighbours: int = 2
) -> list[Box]:
    """Every face box the cascade reports in one frame, in the frame's pixel coordinates.

    Args:
        frame: uint8 ``[H, W, 3]`` RGB (or ``[H, W]`` grey).
        min_face, max_face: the face sizes sought, as fractions of the frame's shorter side.
        min_neighbours: overlapping raw detections needed to report a box (higher: fewer false
            positives, more misses).
    """
    check_face_sizes(min_face, max_face)
    factor = detection_scale(frame.shape, min_face)
    small = _downscale(to_grey(frame), factor) / 255.0
    max_px = max(CASCADE_WINDOW + 1, int(max_face * min(small.shape)))
    boxes = _cascade_boxes(small, max_px, min_neighbours)
    for angle in RETRY_ANGLES:
        if boxes:
            break
        boxes = _rotated_boxes(small, angle, max_px, min_neighbours)
    return [box.scaled(1 / factor) for box in boxes]


def _merge(boxes: list[Box]) -> list[Box]:
    """Merge overlapping boxes of one frame (the cascade reports nested boxes around one face)."""
    merged: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: -b.side):
        for group in merged:
            if iou(group[0], box) > 0.3 or _near(group[0], box, 0.3):
                group.append(box)
                break
        else:
            merged.append([box])
    return [_mean_box(group) for group in merged]


def _mean_box(boxes: Sequence[Box]) -> Box:
    return Box(*np.mean([[b.x0, b.y0, b.x1, b.y1] for b in boxes], axis=0).tolist())


def _near(a: Box, b: Box, jump: float) -> bool:
    """Centres within ``jump`` x the larger side, and sides within a factor of 1.5."""
    (ax, ay), (bx, by) = a.centre, b.centre
    ratio = a.side / b.side
    return math.hypot(ax - bx, ay - by) <= jump * max(a.side, b.side) and 1 / 1.5 <= ratio <= 1.5


def detect_faces(
    frames: Sequence[np.ndarray] | np.ndarray,
    *,
    min_face: float = 0.2,
    max_face: float = 1.0,
    min_neighbours: int = 2,
    max_jump: float = 0.5,
    max_gap: int = 4,
    smooth: bool = True,
) -> list[Box | None]:
    """The tracked face box of each frame of a clip, ``None`` where the face is not there.

    Detects candidates per frame (:func:`detect_candidates`) and tracks them
    (:func:`track_faces`); see those for the arguments.
    """
    candidates = [
        detect_candidates(f, min_face=min_face, max_face=max_face, min_neighbours=min_neighbours)
        for f in frames
    ]
    return track_faces(frames, candidates, max_jump=max_jump, max_gap=max_gap, smooth=smooth)


def _tracks(candidates: list[list[Box]], max_jump: float, max_gap: int) -> list[dict[int, Box]]:
    """Greedy chaining: each box joins the track whose last box is nearest, within reach."""
    tracks: list[dict[int, Box]] = []
    for t, boxes in enumerate(candidates):
        taken: set[int] = set()
        for box in sorted(boxes, key=lambda b: -b.side):
            best, best_d = None, math.inf
            for k, track in enumerate(tracks):
                last_t = max(track)
                if k in taken or last_t == t or t - last_t > max_gap + 1:
                    continue
                last = track[last_t]
                # a little more movement across a gap, not in proportion: a face that is
                # missed for a while and a face-like pattern elsewhere must not be joined
                if _near(last, box, max_jump * (1 + 0.2 * (t - last_t - 1))):
                    d = math.dist(last.centre, box.centre)
                    if d < best_d:
                        best, best_d = k, d
            if best is None:
                tracks.append({t: box})
                taken.add(len(tracks) - 1)
            else:
                tracks[best][t] = box
                taken.add(best)
    return tracks


def _resampled(grey: np.ndarray, box: Box, size: int) -> np.ndarray:
    """``box`` of a grey frame resampled to ``size`` x ``size`` (anti-aliased; edge pixels repeat
    outside the frame)."""
    scale = box.side / size
    grid = (np.arange(size) + 0.5) * scale - 0.5
    gy, gx = np.meshgrid(box.y0 + grid, box.x0 + grid, indexing="ij")
    sigma = max(0.0, 0.5 * (scale - 1))
    return ndimage.map_coordinates(
        ndimage.gaussian_filter(grey, sigma) if sigma else grey, [gy, gx], order=1, mode="nearest"
    )


def _patch(grey: np.ndarray, box: Box, size: int = 24) -> np.ndarray:
    """A z-scored ``size`` x ``size`` grey patch of ``box`` (edge pixels repeat outside the frame)."""
    patch = _resampled(grey, box, size)
    return (patch - patch.mean()) / (patch.std() + 1e-3)


def _similar(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a * b))


def _fill(
    greys: list[np.ndarray], boxes: list[Box | None], max_gap: int, min_similarity: float
) -> list[Box | None]:
    """Fill short gaps where the interpolated/carried box still matches the neighbouring face."""
    known = [t for t, b in enumerate(boxes) if b is not None]
    out = list(boxes)
    patches = {t: _patch(greys[t], boxes[t]) for t in known}
    for t in range(len(boxes)):
        if boxes[t] is not None:
            continue
        before = [k for k in known if k < t]
        after = [k for k in known if k > t]
        a, b = (before[-1] if before else None), (after[0] if after else None)
        refs = [k for k in (a, b) if k is not None and abs(k - t) <= max_gap]
        if not refs:
            continue
        if a is not None and b is not None and b - a - 1 <= max_gap:
            w = (t - a) / (b - a)
            ba, bb = boxes[a], boxes[b]
            guess = Box(
                *(
                    (1 - w) * np.array([ba.x0, ba.y0, ba.x1, ba.y1])
                    + w * np.array([bb.x0, bb.y0, bb.x1, bb.y1])
                ).tolist()
            )
        else:
            guess = boxes[min(refs, key=lambda k: abs(k - t))]
        patch = _patch(greys[t], guess)
        if max(_similar(patch, patches[k]) for k in refs) >= min_similarity:
            out[t] = guess
    return out


def _smooth(boxes: list[Box | None]) -> list[Box | None]:
    """A [1, 2, 1] moving average of box coordinates over neighbouring frames that have a face."""
    coords = [None if b is None else np.array([b.x0, b.y0, b.x1, b.y1]) for b in boxes]
    out: list[Box | None] = []
    for t, c in enumerate(coords):
        if c is None:
            out.append(None)
            continue
        acc, weight = 2 * c, 2.0
        for k in (t - 1, t + 1):
            if 0 <= k < len(coords) and coords[k] is not None:
                acc, weight = acc + coords[k], weight + 1
        out.append(Box(*(acc / weight).tolist()))
    return out


def track_faces(
    frames: Sequence[np.ndarray] | np.ndarray,
    candidates: Sequence[Sequence[Box]],
    *,
    max_jump: float = 0.5,
    max_gap: int = 4,
    min_similarity: float = 0.5,
    smooth: bool = True,
) -> list[Box | None]:
    """Keep one face track through a clip's per-frame candidate boxes.

    Args:
        frames: the clip's frames (RGB or grey), used to verify filled gaps.
        candidates: the candidate boxes of each frame (:func:`detect_candidates`).
        max_jump: how far (in face sizes) the face may move between consecutive frames.
        max_gap: the longest run of frames a track may bridge, and fill, without detections.
        min_similarity: correlation a filled box's patch needs with the nearest detected one.
        smooth: average each box with its neighbours' (reduces detector jitter).

    Returns:
        one box per frame, or ``None`` where the clip shows no (trackable) face. The kept track
        is the one with the largest sum of box sides over its frames: seen in many frames and
        large (the filmed subject fills more of the frame than a face-like pattern in the
        background). A candidate seen in a single frame of a clip of three or more frames is not
        a face.
    """
    if len(frames) != len(candidates):
        raise ValueError(f"got {len(frames)} frames but {len(candidates)} candidate lists")
    if max_jump <= 0 or max_gap < 0:
        raise ValueError(f"max_jump must be positive and max_gap non-negative, got {max_jump}, {max_gap}")
    merged = [_merge(list(boxes)) for boxes in candidates]
    tracks = _tracks(merged, max_jump, max_gap)
    if not tracks:
        return [None] * len(frames)
    best = max(tracks, key=lambda tr: sum(b.side for b in tr.values()))
    if len(best) < 2 <= len(frames) - 1:
        return [None] * len(frames)  # one isolated box in a longer clip: a false positive
    boxes: list[Box | None] = [best.get(t) for t in range(len(frames))]
    greys = [to_grey(np.asarray(f)) for f in frames]
    boxes = _fill(greys, boxes, max_gap, min_similarity)
    return _smooth(boxes) if smooth else boxes


# -- eyes ---------------------------------------------------------------------------------------
def find_eyes(grey: np.ndarray, box: Box) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The (left, right) eye centres in image coordinates inside a face box, or ``None``.

    Each eye is the strongest small dark blob (black top-hat response) in its half of the band
    from 20% to 55% of the box height (brows above, nose below). The pair is accepted when the
    eyes lie 25-70% of the box width apart, the eye line is within 25 degrees of level, and each
    blob stands out from its half-band.
    """
    n = 48
    scale = box.side / n
    patch = _resampled(grey, box, n)
    tophat = ndimage.grey_closing(patch, size=(7, 9)) - patch
    tophat = ndimage.gaussian_filter(tophat, 1.0)
    top, bottom = int(0.2 * n), int(0.55 * n)
    eyes = []
    for x0, x1 in ((int(0.08 * n), n // 2), (n // 2, int(0.92 * n))):
        band = tophat[top:bottom, x0:x1]
        y, x = np.unravel_index(int(np.argmax(band)), band.shape)
        if band[y, x] < max(4.0, 3.0 * float(np.median(band))):
            return None  # no blob stands out: not an eye
        eyes.append((x0 + x, top + y))
    (lx, ly), (rx, ry) = eyes
    dx, dy = rx - lx, ry - ly
    if not 0.25 * n <= math.hypot(dx, dy) <= 0.7 * n or abs(math.degrees(math.atan2(dy, dx))) > 25:
        return None
    to_image = lambda px, py: (box.x0 + (px + 0.5) * scale - 0.5, box.y0 + (py + 0.5) * scale - 0.5)  # noqa: E731
    return to_image(lx, ly), to_image(rx, ry)


def eye_angle(eyes: tuple[tuple[float, float], tuple[float, float]] | None) -> float:
    """The eye line's angle in degrees (positive: the right eye lower, image y down); 0 for None."""
    if eyes is None:
        return 0.0
    (lx, ly), (rx, ry) = eyes
    return math.degrees(math.atan2(ry - ly, rx - lx))


__all__ = [
    "Box",
    "check_face_sizes",
    "detect_candidates",
    "detect_faces",
    "eye_angle",
    "find_eyes",
    "iou",
    "to_grey",
    "track_faces",
]
