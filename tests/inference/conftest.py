"""Fixtures: small georeferenced GeoTIFFs and a tiny real Keras run (RunModel from B2's public
class, random weights: no training) for fast library tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

CLASSES = [{"name": "Building", "colour": "#3c1098", "code": None},
           {"name": "Water", "colour": "#e2a929", "code": None}]  # fmt: skip


def write_tif(path, data_chw, crs="EPSG:32640", transform=None, dtype="float32"):
    """A GeoTIFF (UTM 40N around Dubai by default) of ``data_chw``."""
    import rasterio
    from rasterio.transform import from_origin

    transform = transform or from_origin(500000.0, 2800000.0, 0.5, 0.5)
    c, h, w = data_chw.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype=dtype,
                       crs=crs, transform=transform) as dst:  # fmt: skip
        dst.write(data_chw.astype(dtype))
    return path


def make_run(run_dir, *, bands=("red", "green", "blue"), input_size=32, margin=4, seed=0):
    """A run folder written the way B2's run folders are (meta.json + model.keras), loaded back."""
    import keras

    from satseg.models import ModelConfig, build_model
    from satseg.training import load_run

    keras.utils.set_random_seed(seed)
    model = build_model(ModelConfig(bands=len(bands), classes=len(CLASSES), input_size=input_size,
                                    crop_margin=margin, depth=2, base_filters=4))  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(run_dir / "model.keras")
    meta = {
        "bands": list(bands), "indices": [], "channels": list(bands),
        "mean": [100.0] * len(bands), "std": [50.0] * len(bands), "classes": CLASSES,
        "input_size": input_size, "output_size": input_size - 2 * margin, "margin": margin,
        "mode": "multiclass", "val_ids": [],
    }  # fmt: skip
    (run_dir / "meta.json").write_text(json.dumps(meta))
    return load_run(run_dir)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run") / "run")


@pytest.fixture
def geotiff(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.random((3, 45, 70)) * 255).astype(np.float32)
    return write_tif(tmp_path / "scene.tif", data)
