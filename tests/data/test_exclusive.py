"""Exclusive-class detection (colour masks vs overlapping DSTL labels) and softmax scores."""

from __future__ import annotations

import numpy as np

from satseg.data.exclusive import (
    argmax_masks,
    exclusive_scores,
    labels_are_exclusive,
    resolve_mode,
    targets_are_exclusive,
)
from satseg.io import open_dataset


def test_colour_masks_are_exclusive(colour_data):
    assert len(colour_data.labelled_ids()) == 3
    assert labels_are_exclusive(colour_data)
    assert labels_are_exclusive(colour_data, colour_data.labelled_ids()[:1], sample=1)
    # with a class dropped, its pixels hold no class: a softmax over the rest does not fit
    assert not labels_are_exclusive(colour_data, class_idx=[0, 1])
    assert resolve_mode("auto", True) == "softmax"


def test_overlapping_dstl_labels_are_not_exclusive(tmp_path):
    from satseg.datasets.synth import write_synthetic_dstl

    ds = open_dataset(write_synthetic_dstl(tmp_path / "dstl", scenes=1, size=224, seed=3))
    assert not labels_are_exclusive(ds)
    assert resolve_mode("auto", False) == "multiclass"
    assert resolve_mode("one_vs_all", True) == "one_vs_all"


def test_targets_are_exclusive_ignores_ignored_pixels():
    t = np.zeros((4, 4, 3), np.int8)
    t[..., 0] = 1
    t[0, 0] = -1  # ignored in every channel
    assert targets_are_exclusive([t])
    t[1, 1, 1] = 1  # two classes on one pixel
    assert not targets_are_exclusive([t])
    t[1, 1] = (0, 0, 0)  # a labelled pixel without a class (background)
    assert not targets_are_exclusive([t])
    assert not targets_are_exclusive([np.ones((2, 2, 1), np.int8)])  # one class: no softmax


def test_exclusive_scores_threshold_at_half_is_the_argmax():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, 7, 4))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    q = exclusive_scores(p)
    assert q.shape == p.shape and q.min() >= 0 and q.max() <= 1
    hot = q >= 0.5
    assert (hot.sum(-1) == 1).all()
    assert (hot.argmax(-1) == p.argmax(-1)).all()
    # monotonic in the class's own probability
    assert np.allclose(q[..., 0], p[..., 0] / (p[..., 0] + np.delete(p, 0, -1).max(-1)))


def test_argmax_masks_are_exclusive_whatever_the_thresholds():
    s = np.array([[[0.5, 0.5, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]]], np.float32)
    m = argmax_masks(s, [0.1, 0.1, 0.45])
    assert (m.sum(-1) <= 1).all()
    assert m[0, 1].tolist() == [False, True, False]
    assert m[0, 2].tolist() == [False, False, False]  # arg-max below its threshold
