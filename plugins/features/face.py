"""Face crops from video utterances: detect, track, align, crop.

The pipeline (see docs/faces.md for the user-facing description and measured figures):

1. **Detect** the face in each frame used, with scikit-image's LBP frontal-face cascade (shipped
   in its wheel; nothing is downloaded), on frames downscaled so the smallest face sought is just
   above the cascade's window (:mod:`.face_detection`).
2. **Track** it over those frames: the best-supported chain of boxes is kept, spurious boxes far
   from it are dropped, short gaps are filled where the filled box still matches the face, boxes
   are smoothed.
3. **Align**: where a plausible eye pair is found, the crop is rotated about the face centre so the
   eyes are level.
4. **Crop** a square (with ``margin``) and resize it to ``size``; normalise its contrast.
5. **Choose frames**: around the clip's middle (default, as version 1 did), evenly over the clip,
   or the most expressive ones (``frames="apex"``).

Detectors (``detector``): ``"cascade"`` (the pipeline above); ``"background"`` (version 1's
finder for one face on a plain background: a planar colour field fitted to the frame border,
the largest differing region, cut at the neck); ``"auto"`` (default): the cascade, and only when
it finds no face in any frame of a clip, the background finder, with a
:class:`~emokit.api.FeatureWarning`, and only on frames whose border is a plain background
(:data:`PLAIN_BORDER_NOISE`).

The default is ``"auto"`` because the cascade is what works on real video (no plain background
needed; markers and clutter do not stop it), while on emokit's procedural renders it misses the
face in some frames and, in a few sim-enterface clips, in every frame examined; the background
finder boxes those (docs/faces.md has the rates).

What is reported: a clip where no frame has a face raises :class:`~emokit.api.MediaReadError`
naming the file (the feature table reports and skips it); frames without a face are left out of
the crop, with a :class:`~emokit.api.FeatureWarning` saying how many. The background is never
cropped in place of a face.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from emokit.api import (
    FeatureExtractor,
    FeatureWarning,
    MediaReadError,
    Option,
    Utterance,
    read_video_frames,
)
from emokit_plugins.features.face_detection import (
    Box,
    check_face_sizes,
    detect_faces,
    eye_angle,
    find_eyes,
    to_grey,
)

NORMALISATIONS = ("zscore", "equalize", "none")
DETECTORS = ("auto", "cascade", "background")
FRAME_CHOICES = ("middle", "uniform", "apex")
#: frames are block-averaged to at most this many pixels on the longer side before the background
#: search (a head needs no more; it makes a 720x576 frame ~15x cheaper). Crops use full resolution.
DETECT_MAX_SIDE = 192
#: the ``"auto"`` detector falls back on the background finder only where the frame border's
#: spread around its fitted background is below this (0-255 scale): emokit's renders measure 0.7-2.8,
#: a photograph's border (a room, an outdoor scene) 6 and more
PLAIN_BORDER_NOISE = 5.0
#: eye lines tilted less than this (degrees) are left alone: no resampling for detector jitter
MIN_ALIGN_DEGREES = 2.0


def _border_ring(h: int, w: int, width: int) -> np.ndarray:
    ring = np.zeros((h, w), bool)
    ring[:width], ring[-width:], ring[:, :width], ring[:, -width:] = True, True, True, True
    return ring


def background_model(frame: np.ndarray, border: float = 0.04) -> tuple[np.ndarray, float]:
    """Fit a planar colour field to the frame border, ignoring what is not background there.

    Returns:
        ``(background [H, W, 3] float32, noise)``: the modelled background, and the typical
        colour distance of background border pixels from it (their spread).
    """
    h, w = frame.shape[:2]
    width = max(2, round(border * min(h, w)))
    ys, xs = np.nonzero(_border_ring(h, w, width))
    colours = frame[ys, xs].astype(np.float64)
    design = np.stack([xs / w, ys / h, np.ones_like(xs, dtype=np.float64)], axis=1)
    keep = np.ones(len(xs), bool)
    # iteratively trimmed least squares: hair or shoulders touching the border are outliers
    for step in range(4):
        coef, *_ = np.linalg.lstsq(design[keep], colours[keep], rcond=None)
        residual = np.linalg.norm(colours - design @ coef, axis=1)
        if step == 0:
            keep = residual <= np.percentile(residual, 60)
        else:
            sigma = 1.4826 * np.median(residual[keep]) + 1e-6
            keep = residual <= max(3 * sigma, 2.0)
        if keep.sum() < 3:
            keep = residual <= np.percentile(residual, 60)
    gy, gx = np.mgrid[0:h, 0:w]
    full = np.stack([gx / w, gy / h, np.ones((h, w))], axis=-1) @ coef
    noise = float(np.median(residual[keep]))
    return full.astype(np.float32), noise


def _cut_at_neck(component: np.ndarray) -> np.ndarray:
    """Drop rows below the neck when the region widens again into shoulders."""
    rows = np.nonzero(component.any(axis=1))[0]
    top, bottom = rows[0], rows[-1]
    widths = component[top : bottom + 1].sum(axis=1).astype(float)
    widths = ndimage.uniform_filter1d(widths, size=max(3, len(widths) // 25))
    peak, neck = 0.0, None
    for i, wdt in enumerate(widths):
        if neck is None:
            if wdt > peak:
                peak = wdt
            elif wdt < 0.85 * peak:
                neck = i  # narrowing below the head: a neck candidate
        elif wdt < widths[neck]:
            neck = i
        elif wdt > 1.1 * peak and neck > 0.6 * peak:  # shoulders below a head tall enough to be one
            cut = component.copy()
            cut[top + neck + 1 :] = False
            return cut
    return component


def _block_mean(frame: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` pixel blocks (float32); strided sums beat reshape-mean here."""
    if factor <= 1:
        return frame.astype(np.float32)
    h, w = frame.shape[0] // factor, frame.shape[1] // factor
    acc = np.zeros((h, w, frame.shape[2]), np.float32)
    for dy in range(factor):
        for dx in range(factor):
            acc += frame[dy : h * factor : factor, dx : w * factor : factor]
    return acc / (factor * factor)


def find_face(
    frame: np.ndarray,
    *,
    border: float = 0.04,
    min_contrast: float = 20.0,
    min_area: float = 0.01,
    max_noise: float = math.inf,
) -> Box | None:
    """The tight box of the face (head) in an RGB frame on a plain background, or ``None``.

    Args:
        frame: uint8 ``[H, W, 3]``.
        border: fraction of the shorter side used as the background-sampling border.
        min_contrast: smallest colour distance (0-255 scale) that counts as foreground.
        min_area: regions smaller than this fraction of the frame are not a face.
        max_noise: give up (``None``) when the border's spread around the fitted background
            exceeds this (0-255 scale): the background is not plain, so a differing region need
            not be a head.
    """
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an RGB frame [H, W, 3], got shape {frame.shape}")
    factor = -(-max(frame.shape[:2]) // DETECT_MAX_SIDE)  # ceil
    frame = _block_mean(frame, factor)
    h, w = frame.shape[:2]
    background, noise = background_model(frame, border)
    if noise > max_noise:
        return None
    distance = np.linalg.norm(frame - background, axis=-1)
    mask = distance > max(min_contrast, 4.0 * noise)
    mask = ndimage.binary_opening(mask, iterations=1)  # speckle from compression noise
    mask = ndimage.binary_closing(mask, iterations=2)  # reconnect features darker/lighter than skin
    labels, n = ndimage.label(mask)
    if n == 0:
        return None
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    component = labels == (int(np.argmax(sizes)) + 1)
    area = component.sum()
    if area < min_area * h * w or area > 0.9 * h * w:
        return None  # nothing there, or the "background" was not plain
    component = _cut_at_neck(ndimage.binary_fill_holes(component))
    ys, xs = np.nonzero(component)
    return Box(
        float(xs.min() * factor),
        float(ys.min() * factor),
        float((xs.max() + 1) * factor),
        float((ys.max() + 1) * factor),
    )


def centre_box(frame: np.ndarray, fraction: float = 0.6) -> Box:
    """A centred square covering ``fraction`` of the frame's shorter side (the fallback)."""
    h, w = frame.shape[:2]
    half = fraction * min(h, w) / 2
    return Box(w / 2 - half, h / 2 - half, w / 2 + half, h / 2 + half)


def crop_resize(image: np.ndarray, square: Box, size: int, *, grey: bool = False) -> np.ndarray:
    """Resample ``square`` of ``image`` (``[H, W]`` or ``[H, W, C]``) to ``size`` x ``size`` float32.

    Anti-aliased (Gaussian pre-blur at the downscale factor); parts outside the frame repeat
    the edge pixels. ``grey`` converts an RGB image to luma first (on the region only).
    """
    scale = square.width / size
    sigma = max(0.0, 0.5 * (scale - 1.0))
    # work on the region only (plus blur support), not the whole frame
    pad = int(np.ceil(3 * sigma)) + 2
    h, w = image.shape[:2]
    rx0, ry0 = max(0, int(square.x0) - pad), max(0, int(square.y0) - pad)
    rx1, ry1 = min(w, int(np.ceil(square.x1)) + pad), min(h, int(np.ceil(square.y1)) + pad)
    if rx1 <= rx0 or ry1 <= ry0:  # the square lies wholly outside: clamp to the nearest edge
        rx0, rx1 = min(max(rx0, 0), w - 1), min(max(rx0, 0), w - 1) + 1
        ry0, ry1 = min(max(ry0, 0), h - 1), min(max(ry0, 0), h - 1) + 1
    region = image[ry0:ry1, rx0:rx1]
    region = to_grey(region) if grey and region.ndim == 3 else region.astype(np.float32)
    centres = (np.arange(size) + 0.5) * scale - 0.5
    gy, gx = np.meshgrid(square.y0 - ry0 + centres, square.x0 - rx0 + centres, indexing="ij")
    return _sample(region, gy, gx, sigma)


def _sample(region: np.ndarray, gy: np.ndarray, gx: np.ndarray, sigma: float) -> np.ndarray:
    """``region`` (``[H, W]`` or ``[H, W, C]``) read at the points ``(gy, gx)``, bilinear, after a
    Gaussian anti-alias blur of ``sigma`` (none at 0); edge pixels repeat outside."""
    channels = [region] if region.ndim == 2 else [region[..., c] for c in range(region.shape[2])]
    out = []
    for ch in channels:
        if sigma > 0:
            ch = ndimage.gaussian_filter(ch, sigma, mode="nearest")
        out.append(ndimage.map_coordinates(ch, [gy, gx], order=1, mode="nearest"))
    return out[0] if len(out) == 1 else np.stack(out, axis=-1)


def normalise(crop: np.ndarray, how: str) -> np.ndarray:
    """Contrast normalisation of a crop (0-255 floats): z-score, histogram equalisation, or none."""
    if how == "zscore":
        return (crop - crop.mean()) / (crop.std() + 1e-3)
    if how == "equalize":
        ranks = np.argsort(np.argsort(crop, axis=None, kind="stable"), kind="stable")
        return (ranks.reshape(crop.shape) / max(crop.size - 1, 1)).astype(np.float32)
    if how == "none":
        return crop / 255.0
    raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {how!r}")


def crop_aligned(
    image: np.ndarray, square: Box, angle: float, size: int, *, grey: bool = False
) -> np.ndarray:
    """Like :func:`crop_resize`, with the square turned by ``angle`` degrees about its centre.

    ``angle`` is the eye line's tilt (positive: the right eye lower, image y down); sampling along
    that line makes the eyes level in the crop. ``angle == 0`` is exactly :func:`crop_resize`.
    """
    if angle == 0:
        return crop_resize(image, square, size, grey=grey)
    scale = square.width / size
    sigma = max(0.0, 0.5 * (scale - 1.0))
    cx, cy = square.centre
    reach = square.width * 0.75 + 3 * sigma + 2  # half-diagonal of the turned square, plus blur support
    h, w = image.shape[:2]
    rx0, ry0 = max(0, int(cx - reach)), max(0, int(cy - reach))
    rx1, ry1 = min(w, int(np.ceil(cx + reach))), min(h, int(np.ceil(cy + reach)))
    if rx1 <= rx0 or ry1 <= ry0:
        return crop_resize(image, square, size, grey=grey)
    region = image[ry0:ry1, rx0:rx1]
    region = to_grey(region) if grey and region.ndim == 3 else region.astype(np.float32)
    offsets = (np.arange(size) + 0.5) * scale - square.width / 2
    v, u = np.meshgrid(offsets, offsets, indexing="ij")
    t = math.radians(angle)
    gx = cx - rx0 + u * math.cos(t) - v * math.sin(t)
    gy = cy - ry0 + u * math.sin(t) + v * math.cos(t)
    return _sample(region, gy, gx, sigma)


def choose_apex(crops: list[np.ndarray], n: int) -> list[int]:
    """Indices of the ``n`` crops that differ most (mean absolute difference) from the first one.

    The first face of an acted clip is near neutral (onset); the crops furthest from it show the
    expression at its strongest. With a single crop, that crop.
    """
    if not crops:
        return []
    reference = crops[0]
    distance = [float(np.mean(np.abs(c - reference))) for c in crops]
    order = sorted(range(len(crops)), key=lambda i: (-distance[i], i))
    return sorted(order[: max(1, n)])


class FaceCropExtractor(FeatureExtractor):
    """A normalised, aligned square face crop from a clip's chosen frames, averaged and flattened.

    Args:
        size: side of the crop in pixels (default 48, as FER-style models expect).
        colour: keep RGB (``3 * size * size`` values) instead of greyscale (``size * size``).
        n_frames: how many frames' crops are averaged (1: a single frame).
        stride: frames between those frames for ``frames="middle"``.
        margin: added around the face box on each side, as a fraction of its side.
        normalisation: ``"zscore"`` (per crop), ``"equalize"`` (histogram) or ``"none"``.
        detector: ``"auto"`` (default: the cascade, the background finder for clips where the
            cascade finds no face at all, with a warning), ``"cascade"`` or ``"background"``.
        frames: ``"middle"`` (default: ``n_frames`` frames ``stride`` apart around the middle
            of the clip, where acted clips hold the expression), ``"uniform"`` (``n_frames``
            frames spread evenly over the clip) or ``"apex"`` (of ``search_frames`` frames
            spread evenly, the ``n_frames`` whose crops differ most from the first face's).
        search_frames: frames examined for ``frames="apex"``.
        align: rotate crops so the eyes are level where an eye pair is found.
        min_face, max_face: face sizes the cascade looks for, as fractions of the frame's
            shorter side (smaller ``min_face``: smaller faces found, slower detection).
        min_neighbours: the cascade's grouping threshold (higher: fewer false detections).
    """

    name = "face"
    modality = "visual"
    description = "aligned face crop (48x48 grey; LBP cascade, tracked; background finder as fallback)"
    version = "2"
    #: ``--option face.KEY=VALUE`` (``emokit list features``); the constructor takes each as a keyword
    options = (
        Option("size", int, 48, "side of the crop in pixels"),
        Option("colour", bool, False, "keep RGB instead of greyscale"),
        Option("n_frames", int, 3, "frames whose crops are averaged"),
        Option("stride", int, 3, "frames between those frames (frames=middle)"),
        Option("margin", float, 0.1, "added around the face box on each side, a fraction of its side"),
        Option("normalisation", str, "zscore", "contrast normalisation of a crop", choices=NORMALISATIONS),
        Option(
            "detector", str, "auto", "auto: cascade, background finder where it finds none", choices=DETECTORS
        ),
        Option(
            "frames",
            str,
            "middle",
            "which frames: around the middle, uniform, or the apex",
            choices=FRAME_CHOICES,
        ),
        Option("search_frames", int, 12, "frames examined for frames=apex"),
        Option("align", bool, True, "level the eyes where an eye pair is found"),
        Option("min_face", float, 0.2, "smallest face sought, a fraction of the frame's shorter side"),
        Option("max_face", float, 1.0, "largest face sought, a fraction of the frame's shorter side"),
        Option("min_neighbours", int, 2, "the cascade's grouping threshold (higher: fewer false faces)"),
    )

    def __init__(
        self,
        *,
        size: int = 48,
        colour: bool = False,
        n_frames: int = 3,
        stride: int = 3,
        margin: float = 0.1,
        normalisation: str = "zscore",
        detector: str = "auto",
        frames: str = "middle",
        search_frames: int = 12,
        align: bool = True,
        min_face: float = 0.2,
        max_face: float = 1.0,
        min_neighbours: int = 2,
    ):
        _check_choice("normalisation", normalisation, NORMALISATIONS)
        _check_choice("detector", detector, DETECTORS)
        _check_choice("frames", frames, FRAME_CHOICES)
        if size < 8:
            raise ValueError(f"size must be at least 8 pixels, got {size}")
        if n_frames < 1 or stride < 1:
            raise ValueError(f"n_frames and stride must be at least 1, got {n_frames} and {stride}")
        if search_frames < 2:
            raise ValueError(f"search_frames must be at least 2, got {search_frames}")
        if not 0 <= margin <= 1:
            raise ValueError(f"margin must be between 0 and 1, got {margin}")
        if min_neighbours < 1:
            raise ValueError(f"min_neighbours must be at least 1, got {min_neighbours}")
        check_face_sizes(min_face, max_face)
        self.size, self.colour, self.n_frames, self.stride = (
            int(size),
            bool(colour),
            int(n_frames),
            int(stride),
        )
        self.margin, self.normalisation = float(margin), normalisation
        self.detector, self.frames, self.search_frames = detector, frames, int(search_frames)
        self.align, self.min_face, self.max_face = bool(align), float(min_face), float(max_face)
        self.min_neighbours = int(min_neighbours)

    def params(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "colour": self.colour,
            "n_frames": self.n_frames,
            "stride": self.stride,
            "margin": self.margin,
            "normalisation": self.normalisation,
            "detector": self.detector,
            "frames": self.frames,
            "search_frames": self.search_frames,
            "align": self.align,
            "min_face": self.min_face,
            "max_face": self.max_face,
            "min_neighbours": self.min_neighbours,
        }

    @property
    def dim(self) -> int:
        return self.size * self.size * (3 if self.colour else 1)

    def read_frames(self, path: Path) -> np.ndarray:
        """The frames this extractor examines (MediaReadError when the video cannot be decoded)."""
        if self.frames == "middle":
            return read_video_frames(path, max_frames=self.n_frames, which="middle", stride=self.stride)
        if self.frames == "uniform":
            return read_video_frames(path, max_frames=self.n_frames, which="uniform")
        return read_video_frames(path, max_frames=self.search_frames, which="uniform")

    def locate(self, frames: np.ndarray, path: Path | str = "<frames>") -> list[Box | None]:
        """The face box of each frame (``None``: no face there) by the configured detector.

        Raises:
            MediaReadError: no frame has a face.
        """
        boxes: list[Box | None] = [None] * len(frames)
        if self.detector != "background":
            boxes = detect_faces(
                frames, min_face=self.min_face, max_face=self.max_face, min_neighbours=self.min_neighbours
            )
        if self.detector == "background" or (self.detector == "auto" and not any(boxes)):
            # as a fallback only where the background is plain: that is what the finder assumes
            limit = math.inf if self.detector == "background" else PLAIN_BORDER_NOISE
            boxes = [find_face(frame, max_noise=limit) for frame in frames]
            if self.detector == "auto" and any(boxes):
                warnings.warn(
                    FeatureWarning(
                        f"{path}: the face cascade found no face in {len(frames)} frames; "
                        "used the background-subtraction finder"
                    ),
                    stacklevel=3,
                )
        if not any(boxes):
            raise MediaReadError(
                f"{path}: no face found in any of {len(frames)} frames (detector {self.detector!r})"
            )
        return boxes

    def crop(self, frame: np.ndarray, box: Box) -> np.ndarray:
        """The normalised crop of ``box`` in one RGB frame, turned to level eyes if ``align``."""
        angle = 0.0
        if self.align:
            angle = eye_angle(find_eyes(to_grey(frame), box))
            if abs(angle) < MIN_ALIGN_DEGREES:
                angle = 0.0
        crop = crop_aligned(frame, box.squared(self.margin), angle, self.size, grey=not self.colour)
        return normalise(crop, self.normalisation)

    def extract(self, utterance: Utterance) -> np.ndarray:
        if utterance.video_path is None:
            raise MediaReadError(f"utterance {utterance.id!r} has no video file")
        frames = self.read_frames(utterance.video_path)
        boxes = self.locate(frames, utterance.video_path)
        crops = [self.crop(frame, box) for frame, box in zip(frames, boxes, strict=True) if box is not None]
        missed = len(frames) - len(crops)
        if missed:
            warnings.warn(
                FeatureWarning(
                    f"no face found in {missed} of {len(frames)} frames; those frames were left out"
                ),
                stacklevel=2,
            )
        if self.frames == "apex":
            crops = [crops[i] for i in choose_apex(crops, self.n_frames)]
        return np.mean(crops, axis=0).astype(np.float32).reshape(-1)


def _check_choice(parameter: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{parameter} must be one of {choices}, got {value!r}")
