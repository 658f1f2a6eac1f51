"""The face pipeline on real faces: detection, tracking, alignment, frame choice, reporting.

The clips paste the face of scikit-image's astronaut photograph onto other photographs and
textures, moving, scaling and rotating it, with frames that leave it out (support/face_clips.py);
the known box of each frame is the photo's measured face square carried by the same transform.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from support.face_clips import Pose, known_box, moving_poses, render, write_clip
from support.media import utterance

from emokit.api import FeatureWarning, MediaReadError, read_video_frames
from emokit_plugins.features.face import FaceCropExtractor, choose_apex
from emokit_plugins.features.face_detection import (
    Box,
    detect_candidates,
    detect_faces,
    eye_angle,
    find_eyes,
    iou,
    to_grey,
    track_faces,
)

SHAPE = (240, 320)
#: 3 frames before the face comes in, 18 with it (moving right and down, growing from 72 to 101
#: pixels, turning from -15 to +15 degrees), 4 after it left
POSES: list[Pose | None] = [None] * 3 + moving_poses(18, SHAPE) + [None] * 4


@pytest.fixture(scope="module", params=["chelsea", "texture"])
def clip(request, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """An AVI of the moving face over a cluttered background, and its decoded frames."""
    path = write_clip(
        tmp_path_factory.mktemp("clips") / f"{request.param}.avi", render(POSES, SHAPE, request.param)
    )
    return path, read_video_frames(path)


def _iou_pass_rate(boxes: list[Box | None], poses: list[Pose | None]) -> float:
    face = [(b, known_box(p)) for b, p in zip(boxes, poses, strict=True) if p is not None]
    return sum(b is not None and iou(b, k) >= 0.5 for b, k in face) / len(face)


def test_detected_boxes_follow_the_face_and_stay_empty_without_it(clip):
    _, frames = clip
    assert len(frames) == len(POSES)
    boxes = detect_faces(frames)
    assert _iou_pass_rate(boxes, POSES) >= 0.9
    assert [b for b, p in zip(boxes, POSES, strict=True) if p is None] == [None] * 7


def test_tracking_fills_a_missed_frame_and_drops_a_spurious_box(clip):
    _, frames = clip
    candidates = [detect_candidates(f) for f in frames]
    candidates[10] = []  # the detector missed the face here
    candidates[14] = [*candidates[14], Box(5, 150, 60, 205)]  # a false detection far from the face
    candidates[1] = [Box(250, 10, 300, 60)]  # and one in a frame without the face
    boxes = track_faces(frames, candidates)
    assert boxes[10] is not None and iou(boxes[10], known_box(POSES[10])) >= 0.5
    assert iou(boxes[14], known_box(POSES[14])) >= 0.5
    assert boxes[1] is None
    assert _iou_pass_rate(boxes, POSES) >= 0.9


def test_a_face_that_left_is_not_carried_on():
    poses = [Pose(160, 120, 90)] * 4 + [None] * 4
    frames = render(poses, SHAPE, "texture")
    candidates = [detect_candidates(f) for f in frames[:4]] + [[] for _ in range(4)]
    boxes = track_faces(frames, candidates)
    assert all(b is not None for b in boxes[:4]) and boxes[4:] == [None] * 4


def test_extractor_crops_the_face_of_a_real_clip(clip):
    path, frames = clip
    extractor = FaceCropExtractor(size=32, detector="cascade", normalisation="none", align=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FeatureWarning)  # the middle frames all show the face
        vector = extractor.extract(utterance("v", video=path))
    assert vector.shape == (32 * 32,) and vector.dtype == np.float32
    # the crop is the face: it correlates with the known face square's crop of the middle frame
    middle = len(POSES) // 2
    reference = extractor.crop(frames[middle], known_box(POSES[middle]))
    assert np.corrcoef(vector, reference.reshape(-1))[0, 1] > 0.7
    assert FaceCropExtractor(colour=True, size=24).extract(utterance("v", video=path)).shape == (3 * 24 * 24,)


def test_frames_without_a_face_are_left_out_with_a_warning(clip):
    path, _ = clip
    extractor = FaceCropExtractor(frames="uniform", n_frames=25, detector="cascade")
    with pytest.warns(FeatureWarning, match=r"no face found in 7 of 25 frames"):
        vector = extractor.extract(utterance("v", video=path))
    assert vector.shape == (48 * 48,) and np.all(np.isfinite(vector))


def test_a_clip_without_any_face_is_a_media_error_naming_it(tmp_path):
    path = write_clip(tmp_path / "nobody.avi", render([None] * 8, SHAPE, "camera"))
    for detector in ("cascade", "auto"):
        with pytest.raises(MediaReadError, match=r"nobody\.avi.*no face found in any of 3 frames"):
            FaceCropExtractor(detector=detector).extract(utterance("v", video=path))
    plain = write_clip(tmp_path / "plain.avi", render([None] * 8, SHAPE, "plain"))
    with pytest.raises(MediaReadError, match=r"plain\.avi.*no face found in any of 3 frames"):
        FaceCropExtractor(detector="background").extract(utterance("v", video=plain))


def test_an_undecodable_video_is_a_media_error_naming_it(tmp_path):
    path = tmp_path / "broken.avi"
    path.write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(range(256)) * 8)
    with pytest.raises(MediaReadError, match=r"broken\.avi"):
        FaceCropExtractor().extract(utterance("v", video=path))


def test_alignment_levels_a_rotated_face():
    upright, turned = render([Pose(160, 120, 96, 0.0), Pose(160, 120, 96, 14.0)], SHAPE, "texture")
    box = Box.around(160, 120, 96)
    eyes = find_eyes(to_grey(turned), box)
    assert eyes is not None and 8 < eye_angle(eyes) - eye_angle(find_eyes(to_grey(upright), box)) < 20
    aligned, plain = FaceCropExtractor(size=40), FaceCropExtractor(size=40, align=False)
    reference = plain.crop(upright, box).reshape(-1)
    with_alignment = np.corrcoef(aligned.crop(turned, box).reshape(-1), reference)[0, 1]
    without = np.corrcoef(plain.crop(turned, box).reshape(-1), reference)[0, 1]
    assert with_alignment > without + 0.05 and with_alignment > 0.8


def test_no_eye_pair_means_no_rotation():
    flat = np.full((120, 160, 3), 128, np.uint8)
    assert find_eyes(to_grey(flat), Box.around(80, 60, 60)) is None
    assert eye_angle(None) == 0.0


def test_apex_picks_the_crops_furthest_from_the_first_face():
    neutral = np.zeros((8, 8))
    crops = [neutral, neutral + 0.1, neutral + 2.0, neutral + 0.5, neutral + 1.0]
    assert choose_apex(crops, 1) == [2]
    assert choose_apex(crops, 2) == [2, 4]
    assert choose_apex(crops[:1], 3) == [0]


def test_frame_choices_read_the_frames_they_promise(tmp_path):
    poses = [Pose(150 + 2 * i, 120, 90) for i in range(12)]
    frames = render(poses, SHAPE, "texture")
    frames[9:, 150:175, 130:170] = 255  # a bright "expression" in the last frames only
    path = write_clip(tmp_path / "expr.avi", frames)
    decoded = read_video_frames(path)
    uniform = FaceCropExtractor(frames="uniform", n_frames=4).read_frames(path)
    np.testing.assert_array_equal(uniform, decoded[[0, 4, 7, 11]])
    middle = FaceCropExtractor(frames="middle", n_frames=3, stride=2).read_frames(path)
    np.testing.assert_array_equal(middle, decoded[[3, 5, 7]])
    apex = FaceCropExtractor(frames="apex", n_frames=1, search_frames=12, align=False)
    vector = apex.extract(utterance("v", video=path))
    boxes = apex.locate(decoded)
    crops = [apex.crop(f, b).reshape(-1) for f, b in zip(decoded, boxes, strict=True)]
    distances = [float(np.abs(vector - c).mean()) for c in crops]
    assert int(np.argmin(distances)) >= 9 and min(distances) < 1e-5  # one of the expression frames


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"detector": "haar"}, "detector"),
        ({"frames": "peak"}, "frames"),
        ({"normalisation": "l2"}, "normalisation"),
        ({"search_frames": 1}, "search_frames"),
        ({"min_face": 0.0}, "min_face"),
        ({"max_face": 0.1}, "max_face"),
        ({"min_neighbours": 0}, "min_neighbours"),
        ({"size": 4}, "size"),
        ({"margin": 2.0}, "margin"),
        ({"n_frames": 0}, "n_frames"),
    ],
)
def test_bad_parameters_are_clear_errors(kwargs, parameter):
    with pytest.raises(ValueError, match=parameter):
        FaceCropExtractor(**kwargs)


def test_every_parameter_keys_the_cache():
    extractor = FaceCropExtractor()
    assert extractor.version == "2"
    assert {"detector", "frames", "search_frames", "align", "min_face", "max_face", "min_neighbours"} <= set(
        extractor.params()
    )
    assert extractor.params()["detector"] == "auto" and extractor.params()["frames"] == "middle"
    assert FaceCropExtractor(detector="cascade").params() != extractor.params()


def test_every_parameter_is_an_option_users_can_set() -> None:
    from emokit.options import option_values

    extractor = FaceCropExtractor()
    assert [o.name for o in extractor.options] == list(extractor.params())
    assert {o.name: o.default for o in extractor.options} == extractor.params()
    values = option_values(extractor, {"face.detector": "background", "face.frames": "apex"}, kind="feature")
    configured = extractor.configured(values, device="cpu")
    assert configured.params()["detector"] == "background" and configured.params()["frames"] == "apex"
    with pytest.raises(ValueError, match="size must be at least 8"):
        extractor.configured({**values, "size": 4})
