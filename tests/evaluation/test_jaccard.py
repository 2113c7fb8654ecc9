"""Confusion counts and Jaccard against hand-computed values (numpy and dask)."""

from __future__ import annotations

import json
import math

import dask.array as da
import numpy as np
import pytest

from satseg.errors import DataError
from satseg.evaluation import JaccardReport, confusion_counts, jaccard_from_counts

# Two classes on a 2x3 image, by hand:
# class 0: pred 1 1 0 / 0 0 1, true 1 0 0 / 0 1 1 -> TP 2 (0,0),(1,2); FP 1 (0,1); FN 1 (1,1)
# class 1: pred all 0, true 0 0 0 / 0 0 1           -> TP 0, FP 0, FN 1
PRED = np.array([[[1, 1, 0], [0, 0, 1]], [[0, 0, 0], [0, 0, 0]]], dtype=np.uint8)
TRUE = np.array([[[1, 0, 0], [0, 1, 1]], [[0, 0, 0], [0, 0, 1]]], dtype=np.uint8)


def test_counts_by_hand() -> None:
    counts = confusion_counts(PRED, TRUE)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, [[2, 1, 1], [0, 0, 1]])
    report = jaccard_from_counts(counts, ["buildings", "cars"])
    assert report.per_class == {"buildings": 0.5, "cars": 0.0}
    assert report.mean == 0.25


def test_threshold_on_probabilities() -> None:
    probs = np.where(PRED > 0, 0.5, 0.49)  # >= 0.5 is positive
    np.testing.assert_array_equal(
        confusion_counts(probs, TRUE, threshold=0.5), [[2, 1, 1], [0, 0, 1]]
    )


def test_ignore_pixels_excluded() -> None:
    ignore = np.array([[False, True, False], [False, False, True]])  # drops FP (0,1) and (1,2)
    counts = confusion_counts(PRED, TRUE, ignore)
    np.testing.assert_array_equal(counts, [[1, 0, 1], [0, 0, 0]])
    # the same through negative truth values (the Keras ignore encoding)
    true_neg = TRUE.astype(np.float32)
    true_neg[:, ignore] = -1
    np.testing.assert_array_equal(confusion_counts(PRED, true_neg), counts)
    report = jaccard_from_counts(counts, ["a", "b"])
    assert report.per_class["a"] == 0.5 and math.isnan(report.per_class["b"])
    assert report.mean == 0.5  # the empty class is left out of the mean


def test_all_empty_gives_nan_mean() -> None:
    report = jaccard_from_counts(np.zeros((3, 3), dtype=int))
    assert math.isnan(report.mean) and all(math.isnan(v) for v in report.per_class.values())
    assert report.to_dict()["mean"] is None


def test_channel_last_and_batches() -> None:
    rng = np.random.default_rng(1)
    pred = rng.random((5, 4, 16, 16))
    true = (rng.random((5, 4, 16, 16)) > 0.6).astype(np.float32)
    whole = confusion_counts(pred, true, threshold=0.5, channel_axis=1)
    nhwc = confusion_counts(
        pred.transpose(0, 2, 3, 1), true.transpose(0, 2, 3, 1), threshold=0.5, channel_axis=-1
    )
    np.testing.assert_array_equal(whole, nhwc)
    per_image = confusion_counts(pred, true, threshold=0.5, channel_axis=1, per_image=True)
    assert per_image.shape == (5, 4, 3)
    np.testing.assert_array_equal(per_image.sum(axis=0), whole)
    # brute force for one class
    p, t = pred[:, 2] >= 0.5, true[:, 2] > 0
    assert list(whole[2]) == [(p & t).sum(), (p & ~t).sum(), (~p & t).sum()]


def test_counts_are_additive_over_chunks_and_dask() -> None:
    rng = np.random.default_rng(2)
    pred = rng.random((3, 40, 56))
    true = (rng.random((3, 40, 56)) > 0.5).astype(np.uint8)
    ignore = rng.random((40, 56)) > 0.9
    whole = confusion_counts(pred, true, ignore, threshold=0.5)
    tiles = sum(
        confusion_counts(
            pred[:, y : y + 16, x : x + 24],
            true[:, y : y + 16, x : x + 24],
            ignore[y : y + 16, x : x + 24],
            threshold=0.5,
        )
        for y in range(0, 40, 16)
        for x in range(0, 56, 24)
    )
    np.testing.assert_array_equal(whole, tiles)
    lazy = confusion_counts(
        da.from_array(pred, chunks=(3, 16, 24)),
        da.from_array(true, chunks=(1, 20, 20)),
        da.from_array(ignore, chunks=(13, 17)),
        threshold=0.5,
    )
    np.testing.assert_array_equal(whole, lazy)
    # the score of summed counts is not the mean of per-tile scores: check it is the summed one
    report = jaccard_from_counts(whole)
    tp, fp, fn = whole[0]
    assert report.per_class["class_0"] == pytest.approx(tp / (tp + fp + fn))


def test_xarray_input() -> None:
    xr = pytest.importorskip("xarray")
    pred = xr.DataArray(PRED, dims=("class", "y", "x"))
    np.testing.assert_array_equal(confusion_counts(pred, TRUE), [[2, 1, 1], [0, 0, 1]])


def test_report_views() -> None:
    counts = np.array([[2, 1, 1], [0, 0, 0], [3, 0, 1]])
    report = jaccard_from_counts(
        counts, ["buildings", "water", "road"], per_image={"img1": counts, "img2": counts * 2}
    )
    assert report.mean == pytest.approx((0.5 + 0.75) / 2)
    frame = report.to_frame()
    assert list(frame.index) == ["buildings", "water", "road", "mean"]
    assert frame.loc["road", "tp"] == 3 and frame.loc["mean", "fn"] == 2
    assert frame.loc["mean", "jaccard"] == pytest.approx(report.mean)
    images = report.per_image_frame()
    assert list(images.index) == ["img1", "img2"]
    assert list(images.columns) == ["buildings", "water", "road", "mean"]
    assert images.loc["img2", "buildings"] == 0.5 and math.isnan(images.loc["img1", "water"])
    text = report.table()
    assert "buildings" in text and "n/a" in text and "0.6250" in text
    d = json.loads(json.dumps(report.to_dict()))
    assert d["per_class"]["water"] is None and d["per_image"]["img2"]["counts"]["road"]["tp"] == 6
    back = JaccardReport.from_dict(d)
    assert back.mean == report.mean and set(back.per_image) == {"img1", "img2"}
    np.testing.assert_array_equal(back.counts, counts)


def test_stacked_counts_are_summed() -> None:
    stack = np.array([[[1, 0, 0]], [[1, 2, 0]]])
    assert jaccard_from_counts(stack).per_class["class_0"] == 0.5


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: confusion_counts(PRED, TRUE[:, :1]), "differs"),
        (lambda: confusion_counts(PRED[0, 0], TRUE[0, 0]), r"\(C, H, W\)"),
        (lambda: confusion_counts(PRED, TRUE, np.zeros((3, 3), bool)), "ignore shape"),
        (lambda: jaccard_from_counts(np.zeros((2, 2))), r"\(n_classes, 3\)"),
        (lambda: jaccard_from_counts(np.zeros((2, 3)), ["a"]), "class names"),
        (lambda: jaccard_from_counts(-np.ones((1, 3))), "non-negative"),
    ],
)
def test_errors(call, match) -> None:
    with pytest.raises(DataError, match=match):
        call()
