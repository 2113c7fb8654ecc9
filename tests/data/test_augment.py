"""Augmentation: D4 is a group acting on image, target and ignore alike; warps keep labels exact."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from satseg.data import AugmentConfig, augment_patch, dihedral, dihedral_inverse


def _patch(rng: np.random.Generator, s: int = 16, c: int = 3, k: int = 2):
    image = rng.normal(size=(s, s, c)).astype(np.float32)
    target = (rng.random((s, s, k)) < 0.3).astype(np.int8)
    target[rng.random((s, s)) < 0.1] = -1  # ignored pixels: -1 in every channel
    return image, target


def test_d4_has_eight_distinct_invertible_elements():
    a = np.arange(5 * 5).reshape(5, 5)
    views = [dihedral(a, k) for k in range(8)]
    assert len({v.tobytes() for v in views}) == 8
    for k in range(8):
        assert np.array_equal(dihedral_inverse(dihedral(a, k), k), a)


def test_d4_is_closed_under_composition():
    a = np.arange(4 * 4).reshape(4, 4)
    views = {dihedral(a, k).tobytes() for k in range(8)}
    for j, k in itertools.product(range(8), range(8)):
        assert dihedral(dihedral(a, j), k).tobytes() in views


def test_d4_rejects_bad_index():
    with pytest.raises(ValueError):
        dihedral(np.zeros((2, 2)), 8)


def test_image_target_and_ignore_follow_the_same_d4_view():
    rng = np.random.default_rng(0)
    image, target = _patch(rng)
    # the target is an exact function of the image: positive where channel 0 > 0
    target[..., 0] = (image[..., 0] > 0).astype(np.int8)
    ignore = target[..., 1] == -1
    cfg = AugmentConfig(d4=True)
    seen = set()
    for seed in range(40):
        img2, tgt2 = augment_patch(np.random.default_rng(seed), image, target, cfg)
        seen.add(img2.tobytes())
        ign2 = tgt2[..., 1] == -1
        assert np.array_equal(tgt2[..., 0][~ign2], (img2[..., 0] > 0)[~ign2])
        assert ign2.sum() == ignore.sum()
        # the ignore mask moved with the same view as the image
        k = next(k for k in range(8) if np.array_equal(dihedral(image, k), img2))
        assert np.array_equal(dihedral(ignore, k), ign2)
    assert len(seen) == 8


@pytest.mark.parametrize(
    "cfg",
    [
        AugmentConfig(d4=False, rotate45=True),
        AugmentConfig(d4=True, zoom=0.2),
        AugmentConfig(d4=False, elastic_alpha=4.0, elastic_sigma=4.0),
    ],
)
def test_warps_keep_labels_exact_and_move_image_and_target_together(cfg):
    rng = np.random.default_rng(1)
    s = 32
    yy, xx = np.mgrid[:s, :s]
    blob = ((yy - 10) ** 2 + (xx - 20) ** 2 < 36).astype(np.float32)
    image = np.stack([blob * 5.0, np.ones_like(blob), np.zeros_like(blob)], -1)
    target = np.stack([blob.astype(np.int8), 1 - blob.astype(np.int8)], -1)
    target[:4, :4] = -1
    changed = False
    for seed in range(6):
        img2, tgt2 = augment_patch(np.random.default_rng(seed), image, target, cfg)
        assert img2.shape == image.shape and tgt2.shape == target.shape
        assert set(np.unique(tgt2)) <= {-1, 0, 1}
        ign = tgt2[..., 0] == -1
        assert np.array_equal(ign, tgt2[..., 1] == -1)  # ignore stays in every channel
        # where the target says "blob" the image is bright (bilinear edges aside)
        inside = tgt2[..., 0] == 1
        assert img2[..., 0][inside].mean() > 3.0
        assert img2[..., 0][tgt2[..., 0] == 0].mean() < 1.0
        changed |= not np.array_equal(tgt2, target)
    assert changed
    del rng


def test_gain_offset_is_a_per_channel_linear_map():
    rng = np.random.default_rng(2)
    image, target = _patch(rng, c=4)
    cfg = AugmentConfig(d4=False, gain=0.2, offset=0.3)
    img2, tgt2 = augment_patch(np.random.default_rng(5), image, target, cfg)
    assert np.array_equal(tgt2, target)
    for ch in range(4):
        g, o = np.polyfit(image[..., ch].ravel(), img2[..., ch].ravel(), 1)
        assert 0.8 - 1e-4 <= g <= 1.2 + 1e-4 and abs(o) <= 0.3 + 1e-4
        assert np.allclose(image[..., ch] * g + o, img2[..., ch], atol=1e-4)
    assert not np.allclose(img2, image)
