"""Face crops from video utterances, without a learned face detector.

Corpora such as SAVEE and eNTERFACE'05 film one frontal face in front of a plain background, and
emokit's simulated renders do the same. That allows a detector with no downloaded weights:

1. model the background as a smooth (planar) colour field fitted robustly to the frame border;
2. mark pixels that differ from it clearly (threshold above the border's own noise);
3. keep the largest connected region (the person), cut it at the neck when shoulders widen it;
4. square its bounding box with a margin, crop, resize, normalise contrast.

When no plausible region is found the crop falls back to the frame centre and the extractor
issues a :class:`~emokit.api.FeatureWarning`, so the file shows in the feature
table's problems (``skipped=False``) rather than passing silently.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from emokit.api import FeatureExtractor, FeatureWarning, MediaReadError, Utterance, read_video_frames

NORMALISATIONS = ("zscore", "equalize", "none")
#: frames are block-averaged to at most this many pixels on the longer side before the search
#: (a head needs no more; it makes a 720x576 frame ~15x cheaper). The crop uses full resolution.
DETECT_MAX_SIDE = 192


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

    def squared(self, margin: float = 0.0) -> Box:
        """The square around this box's centre, side = longer side x (1 + 2 x margin)."""
        cx, cy = self.centre
        half = max(self.width, self.height) * (1 + 2 * margin) / 2
        return Box(cx - half, cy - half, cx + half, cy + half)


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
    frame: np.ndarray, *, border: float = 0.04, min_contrast: float = 20.0, min_area: float = 0.01
) -> Box | None:
    """The tight box of the face (head) in an RGB frame on a plain background, or ``None``.

    Args:
        frame: uint8 ``[H, W, 3]``.
        border: fraction of the shorter side used as the background-sampling border.
        min_contrast: smallest colour distance (0-255 scale) that counts as foreground.
        min_area: regions smaller than this fraction of the frame are not a face.
    """
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an RGB frame [H, W, 3], got shape {frame.shape}")
    factor = -(-max(frame.shape[:2]) // DETECT_MAX_SIDE)  # ceil
    frame = _block_mean(frame, factor)
    h, w = frame.shape[:2]
    background, noise = background_model(frame, border)
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


def to_grey(frame: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB frame, float32 0-255."""
    return frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


class FaceCropExtractor(FeatureExtractor):
    """A normalised square face crop around the clip's middle frames, flattened.

    Args:
        size: side of the crop in pixels (default 48, as FER-style models expect).
        colour: keep RGB (``3 * size * size`` values) instead of greyscale (``size * size``).
        n_frames: frames around the middle of the clip (the expression apex) whose crops are
            averaged; 1 uses the middle frame only.
        stride: frames between those frames.
        margin: added around the face box on each side, as a fraction of its longer side.
        normalisation: ``"zscore"`` (per crop), ``"equalize"`` (histogram) or ``"none"``.
    """

    name = "face"
    modality = "visual"
    description = "face crop around the clip's apex (48x48 grey, background-subtraction face finder)"
    version = "1"

    def __init__(
        self,
        *,
        size: int = 48,
        colour: bool = False,
        n_frames: int = 3,
        stride: int = 3,
        margin: float = 0.1,
        normalisation: str = "zscore",
    ):
        if size < 8:
            raise ValueError(f"size must be at least 8 pixels, got {size}")
        if n_frames < 1 or stride < 1:
            raise ValueError(f"n_frames and stride must be at least 1, got {n_frames} and {stride}")
        if not 0 <= margin <= 1:
            raise ValueError(f"margin must be between 0 and 1, got {margin}")
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
        self.size, self.colour, self.n_frames, self.stride = (
            int(size),
            bool(colour),
            int(n_frames),
            int(stride),
        )
        self.margin, self.normalisation = float(margin), normalisation

    def params(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "colour": self.colour,
            "n_frames": self.n_frames,
            "stride": self.stride,
            "margin": self.margin,
            "normalisation": self.normalisation,
        }

    @property
    def dim(self) -> int:
        return self.size * self.size * (3 if self.colour else 1)

    def crop(self, frame: np.ndarray) -> tuple[np.ndarray, bool]:
        """``(normalised crop, found)`` for one RGB frame; ``found`` is False for the centre fallback."""
        box = find_face(frame)
        square = (box or centre_box(frame)).squared(self.margin if box else 0.0)
        crop = crop_resize(frame, square, self.size, grey=not self.colour)
        return normalise(crop, self.normalisation), box is not None

    def extract(self, utterance: Utterance) -> np.ndarray:
        if utterance.video_path is None:
            raise MediaReadError(f"utterance {utterance.id!r} has no video file")
        frames = read_video_frames(
            utterance.video_path, max_frames=self.n_frames, which="middle", stride=self.stride
        )
        crops, missed = [], 0
        for frame in frames:
            crop, found = self.crop(frame)
            crops.append(crop)
            missed += not found
        if missed:
            warnings.warn(
                FeatureWarning(
                    f"no face found in {missed} of {len(frames)} frames; used a centre crop there"
                ),
                stacklevel=2,
            )
        return np.mean(crops, axis=0).astype(np.float32).reshape(-1)
