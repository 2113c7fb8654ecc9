"""Training on (synthetic) DSTL scenes with spectral indices: 20 bands + indices, 10 classes;
indices on RGB data fail clearly before training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from satseg.errors import BandMismatchError
from satseg.training import TrainConfig, load_run, train
from tests.training.conftest import TINY


@pytest.mark.slow
def test_dstl_with_indices_trains_and_prepare_recomputes_them(tmp_path):
    from satseg.datasets.synth import write_synthetic_dstl
    from satseg.io import open_dataset

    ds = open_dataset(write_synthetic_dstl(tmp_path / "dstl", scenes=3, size=224, seed=3))
    cfg = TrainConfig.from_dict(TINY).updated(
        {
            "data.indices": ["ndvi", "ndwi"],
            "training.epochs": 1,
            "data.val_crop_size": None,
            "data.split_by": "image",
        }
    )
    result = train(cfg, data=ds, out_dir=tmp_path / "run", progress=False)
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["channels"][-2:] == ["ndvi", "ndwi"]
    assert meta["channels"][:-2] == list(ds.band_names) and meta["indices"] == ["ndvi", "ndwi"]
    assert len(meta["val_ids"]) == 1 and len(result.per_class) == 10
    run = load_run(tmp_path / "run")
    x = run.prepare(ds.load_image(meta["val_ids"][0]))  # the stack has no index bands yet
    assert x.shape[2] == len(ds.band_names) + 2 and np.isfinite(x).all()
    assert run.predict_patches(x[None, :32, :32]).shape == (1, 24, 24, 10)


def test_indices_on_rgb_data_fail_before_training(small_data, tmp_path):
    cfg = TrainConfig.from_dict(TINY).updated({"data.indices": ["ndvi"]})
    with pytest.raises(BandMismatchError, match="ndvi"):
        train(cfg, data=small_data, out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
