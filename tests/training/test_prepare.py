"""prepare_data: statistics from the training split only, disjoint split, targets follow ignore."""

from __future__ import annotations

import numpy as np

from satseg.data import group_of
from satseg.training import TrainConfig
from satseg.training.prepare import prepare_data
from tests.training.conftest import TINY


def test_stats_come_from_the_training_split_only(small_data):
    prep = prepare_data(TrainConfig.from_dict(TINY), small_data)
    assert prep.split.val and prep.split.train
    assert not set(prep.split.train) & set(prep.split.val)
    assert not {group_of(i) for i in prep.split.train} & {group_of(i) for i in prep.split.val}
    raw = {
        i: np.moveaxis(small_data.load_image(i).values, 0, -1).reshape(-1, 3)
        for i in prep.split.train + prep.split.val
    }
    train_px = np.concatenate([raw[i] for i in prep.split.train])
    all_px = np.concatenate(list(raw.values()))
    assert np.allclose(prep.mean, np.nanmean(train_px, axis=0), rtol=1e-4)
    assert np.allclose(prep.std, np.nanstd(train_px, axis=0), rtol=1e-3)
    assert not np.allclose(prep.mean, np.nanmean(all_px, axis=0), rtol=1e-4)
    # images are normalised with the training statistics; ignored pixels are -1 in every class
    im = prep.val[0]
    assert np.allclose(
        im.image.reshape(-1, 3), (raw[im.image_id] - prep.mean) / prep.std, atol=1e-4
    )
    labels = small_data.load_labels(im.image_id)
    assert np.array_equal((im.target == -1).all(axis=2), labels.ignore)
    assert np.array_equal(im.target[~labels.ignore][:, 0], labels.masks[0][~labels.ignore])
