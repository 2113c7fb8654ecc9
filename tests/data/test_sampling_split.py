"""Patch sampling, class balancing, normalisation statistics and the train/validation split."""

from __future__ import annotations

import numpy as np
import pytest

from satseg.data import ImageArrays, PatchSampler, channel_stats, group_of, normalise, split_ids
from satseg.errors import ConfigError


def _image(image_id: str, h: int, w: int, rare_at: tuple[int, int] | None, seed: int = 0):
    rng = np.random.default_rng(seed)
    target = np.zeros((h, w, 2), np.int8)
    target[..., 0] = 1  # common class everywhere
    if rare_at is not None:
        y, x = rare_at
        target[y : y + 6, x : x + 6, 1] = 1  # a small rare object
    image = rng.normal(size=(h, w, 3)).astype(np.float32)
    return ImageArrays(image_id, image, target)


def _rare_share(sampler: PatchSampler, n: int = 600) -> float:
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(n):
        _, tgt = sampler.cut(*sampler.draw(rng))
        hits += bool((tgt[..., 1] == 1).any())
    return hits / n


def test_class_balance_raises_rare_class_frequency():
    images = [_image("a", 200, 200, (150, 40)), _image("b", 200, 240, None)]
    uniform = _rare_share(PatchSampler(images, 32, balance=0.0))
    balanced = _rare_share(PatchSampler(images, 32, balance=0.8))
    assert uniform < 0.08
    assert balanced > 0.35 and balanced > 4 * uniform


def test_windows_stay_inside_images():
    images = [_image("a", 40, 70, (30, 60)), _image("b", 33, 33, (0, 0))]
    sampler = PatchSampler(images, 32, balance=0.5)
    rng = np.random.default_rng(0)
    for _ in range(300):
        i, top, left = sampler.draw(rng)
        img, tgt = sampler.cut(i, top, left)
        assert img.shape == (32, 32, 3) and tgt.shape == (32, 32, 2)


def test_patch_larger_than_image_is_rejected():
    with pytest.raises(ConfigError, match="larger than image"):
        PatchSampler([_image("a", 20, 40, None)], 32)


def test_channel_stats_use_only_given_images_and_ignore_nan():
    a = ImageArrays("a", np.full((4, 4, 2), 2.0, np.float32), np.zeros((4, 4, 1), np.int8))
    a.image[0, 0, 0] = np.nan
    b = ImageArrays("b", np.full((4, 4, 2), 100.0, np.float32), np.zeros((4, 4, 1), np.int8))
    mean, std = channel_stats([a])
    assert np.allclose(mean, [2.0, 2.0]) and np.allclose(std, [1.0, 1.0])  # flat -> std 1
    mean2, _ = channel_stats([a, b])
    assert mean2[1] == pytest.approx(51.0)
    out = normalise(a.image, mean, std)
    assert out[0, 0, 0] == 0.0 and np.isfinite(out).all()


def test_groups():
    assert group_of("6120_2_2", "dstl") == "6120"
    assert group_of("6140_1_2", "dstl") == group_of("6110_3_1", "dstl")  # near-duplicates
    assert group_of("tile_7/image_part_001") == "tile_7"
    assert group_of("plain_id") == "plain_id"


def test_split_never_puts_one_image_or_group_on_both_sides():
    rng = np.random.default_rng(0)
    pix = {f"tile_{t}/part_{p}": rng.integers(0, 1000, 3) for t in range(1, 7) for p in range(1, 5)}
    for seed in range(5):
        s = split_ids(pix, val_fraction=0.25, seed=seed)
        assert not set(s.train) & set(s.val)
        assert set(s.train) | set(s.val) == set(pix)
        assert not {group_of(i) for i in s.train} & {group_of(i) for i in s.val}


def test_split_keeps_every_class_in_validation_where_possible():
    # class 2 exists only in tiles 3 and 5: the split must keep one on each side
    pix = {f"tile_{t}/p": np.array([500, 400, 0]) for t in range(1, 9)}
    pix["tile_3/p"] = np.array([500, 400, 50])
    pix["tile_5/p"] = np.array([500, 400, 50])
    s = split_ids(pix, val_fraction=0.2, seed=1)
    v = sum(pix[i] for i in s.val)
    t = sum(pix[i] for i in s.train)
    assert (v > 0).all() and (t > 0).all()


def test_split_by_explicit_ids_and_errors():
    pix = {i: np.array([1, 1]) for i in ("a", "b", "c")}
    s = split_ids(pix, val_ids=["b"])
    assert s.val == ("b",) and s.train == ("a", "c")
    with pytest.raises(ConfigError, match="not labelled"):
        split_ids(pix, val_ids=["zz"])
    with pytest.raises(ConfigError, match="cover every"):
        split_ids(pix, val_ids=["a", "b", "c"])
    with pytest.raises(ConfigError, match="one group"):
        split_ids({"t/a": np.array([1]), "t/b": np.array([1])})
    s2 = split_ids({"t/a": np.array([1]), "t/b": np.array([1])}, by="image")
    assert len(s2.val) == 1 and len(s2.train) == 1
