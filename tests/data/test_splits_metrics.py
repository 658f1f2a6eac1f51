"""Speaker-independent splits, label harmonisation and metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from emokit.bench.metrics import score, summarise
from emokit.data.labels import COMMON_LABELS, UnknownLabelError, harmonise, shared_labels
from emokit.data.splits import SpeakerSplit, SplitError, split_speakers, validation_rows


@pytest.mark.parametrize("n_speakers", [3, 4, 10, 42])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_speaker_crosses_splits(n_speakers: int, seed: int) -> None:
    speakers = [f"s{i}" for i in range(n_speakers) for _ in range(5)]
    split = split_speakers(speakers, seed=seed)
    train, val, test = set(split.train), set(split.val), set(split.test)
    assert train and test
    # validation speakers only where at least 3 training speakers remain beside them
    assert bool(val) == (n_speakers >= 5)
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == set(speakers)


def test_split_is_seeded_and_varies() -> None:
    speakers = [f"s{i}" for i in range(10)]
    assert split_speakers(speakers, seed=3) == split_speakers(speakers, seed=3)
    assert len({split_speakers(speakers, seed=s).test for s in range(10)}) > 1


def test_four_speaker_corpus_keeps_three_training_speakers() -> None:
    split = split_speakers(["DC", "JE", "JK", "KL"], seed=0)
    assert len(split.train) == 3 and len(split.test) == 1 and split.val == ()
    source = split_speakers(["DC", "JE", "JK", "KL"], seed=0, with_test=False)
    assert len(source.train) == 3 and len(source.val) == 1


def test_validation_rows_are_stratified_and_seeded() -> None:
    labels = np.array(["a"] * 10 + ["b"] * 5 + ["c"] * 1)
    mask = validation_rows(labels, seed=3)
    assert mask[labels == "a"].sum() == 2 and mask[labels == "b"].sum() == 1
    assert mask[labels == "c"].sum() == 0  # a single row stays in training
    assert np.array_equal(mask, validation_rows(labels, seed=3))
    assert not np.array_equal(mask, validation_rows(labels, seed=4))


def test_source_split_has_no_test() -> None:
    split = split_speakers(["a", "b", "c", "d"], seed=0, with_test=False)
    assert split.test == ()
    assert set(split.train) | set(split.val) == {"a", "b", "c", "d"}


def test_too_few_speakers_is_a_clear_error() -> None:
    with pytest.raises(SplitError, match=r"mycorpus: .* at least 3 speakers, found 2"):
        split_speakers(["a", "b", "a"], seed=0, corpus="mycorpus")


def test_overlapping_split_is_rejected() -> None:
    with pytest.raises(SplitError, match="both train and test"):
        SpeakerSplit(train=("a", "b"), val=("c",), test=("b",))


def test_harmonisation_maps_each_corpus_code() -> None:
    from emokit_plugins.corpora.labels import LABEL_MAPS

    assert harmonise(LABEL_MAPS["emodb"], "W") == "anger"
    assert harmonise(LABEL_MAPS["emodb"], "L") == "boredom"
    assert LABEL_MAPS["savee"].harmonise("sa") == "sadness"
    assert harmonise(LABEL_MAPS["savee"], "su") == "surprise"
    assert harmonise(LABEL_MAPS["enterface"], "di") == "disgust"
    assert harmonise(LABEL_MAPS["ravdess"], "02") == "calm"
    assert harmonise(LABEL_MAPS["cremad"], "NEU") == "neutral"
    with pytest.raises(UnknownLabelError, match=r"emodb: unknown emotion code 'X'; expected one of W, L"):
        harmonise(LABEL_MAPS["emodb"], "X")


def test_harmonise_by_corpus_name_still_works_with_a_deprecation_warning() -> None:
    import emokit_plugins.corpora.labels  # noqa: F401  (makes the corpora's label maps)

    with pytest.warns(DeprecationWarning, match="pass the corpus's LabelMap"):
        assert harmonise("emodb", "W") == "anger"
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(TypeError, match="no label map for corpus 'nocorpus'"),
    ):
        harmonise("nocorpus", "W")


def test_a_label_map_outside_the_common_vocabulary_is_refused() -> None:
    from emokit.api import LabelMap

    with pytest.raises(UnknownLabelError, match=r"mine: label map maps to 'joy'"):
        LabelMap("mine", {"j": "joy", "a": "anger"})


def test_shared_labels_are_the_intersection_in_canonical_order() -> None:
    savee = {"anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"}
    emodb = {"anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"}
    enterface = {"anger", "disgust", "fear", "happiness", "sadness", "surprise"}
    assert shared_labels(savee, enterface) == ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    assert shared_labels(savee, emodb, enterface) == ["anger", "disgust", "fear", "happiness", "sadness"]
    assert list(COMMON_LABELS) == sorted(COMMON_LABELS)


def test_metrics_match_hand_computed_values() -> None:
    # class 0: 4 rows, 3 right; class 1: 2 rows, 1 right; class 2: 2 rows, 2 right
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    s = score(y_true, y_pred, num_classes=3)
    assert s.uar == pytest.approx((3 / 4 + 1 / 2 + 2 / 2) / 3)
    assert s.wa == pytest.approx(6 / 8)
    # per-class F1: c0 p=1 r=.75 -> 6/7; c1 p=.5 r=.5 -> .5; c2 p=2/3 r=1 -> .8
    assert s.macro_f1 == pytest.approx((6 / 7 + 0.5 + 0.8) / 3)
    assert s.confusion == [[3, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert s.n == 8


def test_metrics_keep_absent_classes_in_the_confusion_matrix() -> None:
    s = score(np.array([0, 0, 1]), np.array([0, 2, 1]), num_classes=4)
    assert s.uar == pytest.approx((0.5 + 1.0) / 2)
    assert np.asarray(s.confusion).shape == (4, 4)


def test_metrics_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="outside"):
        score(np.array([0, 3]), np.array([0, 1]), num_classes=3)
    with pytest.raises(ValueError, match="empty"):
        score(np.array([], dtype=int), np.array([], dtype=int), num_classes=3)


def test_summary_is_mean_and_sample_std() -> None:
    s = summarise([0.5, 0.7, 0.6])
    assert s.mean == pytest.approx(0.6)
    assert s.std == pytest.approx(0.1)
    assert str(s) == "60.0 ± 10.0"
    assert summarise([0.4]).std == 0.0
