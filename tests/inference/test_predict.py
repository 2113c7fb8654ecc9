"""predict_image / predict_to_files with a real (tiny, untrained) Keras run; the CLI's bad inputs
(caught before model work, no partial output) and, slow, a trained run end to end via the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from satseg.cli import main
from satseg.errors import BandMismatchError
from satseg.inference import predict_image
from satseg.inference.predict import predict_to_files
from tests.inference.conftest import write_tif


def test_predict_image_keeps_grid_and_georeference(tiny_run, geotiff):
    from satseg.io.raster import load_raster

    stack = load_raster(geotiff).assign_coords(band=["red", "green", "blue"])
    probs = predict_image(tiny_run, stack, tta=2, batch=8)
    assert probs.dims == ("class", "y", "x") and probs.shape == (2, 45, 70)
    assert list(probs.coords["class"].values) == ["Building", "Water"]
    assert probs.rio.crs.to_epsg() == 32640
    assert probs.rio.transform() == stack.rio.transform()
    v = probs.values
    assert np.isfinite(v).all() and (v >= 0).all() and (v <= 1).all()
    # TTA off == model on the windows directly, blended: same call count as windows
    p1 = predict_image(tiny_run, stack, tta=1, subdivisions=1).values
    assert not np.allclose(p1, v)  # an untrained U-Net is not D4-equivariant


def test_predict_to_files_writes_georeferenced_outputs(tiny_run, geotiff, tmp_path):
    import rasterio

    from satseg.io.raster import load_raster

    stack = load_raster(geotiff).assign_coords(band=["red", "green", "blue"])
    out = tmp_path / "out"
    out.mkdir()
    paths = predict_to_files(tiny_run, stack, out, "a/b", formats=("tif", "geojson", "wkt"), tta=1)
    assert {p.name for p in paths.values()} == {"a__b_probs.tif", "a__b_mask.tif", "a__b.geojson",
                                                "a__b_wkt.csv"}  # fmt: skip
    for kind in ("probs", "mask"):
        with rasterio.open(paths[kind]) as src, rasterio.open(geotiff) as ref:
            assert src.crs == ref.crs and src.transform == ref.transform
            assert src.count == 2 and src.descriptions == ("Building", "Water")
    doc = json.loads(paths["geojson"].read_text())
    assert doc["crs"]["properties"]["name"] == "EPSG:32640"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_band_mismatch_is_caught_before_model_work(tiny_run, tmp_path):
    from satseg.io.raster import load_raster

    path = write_tif(tmp_path / "two.tif", np.zeros((2, 20, 20), np.float32))
    stack = load_raster(path).assign_coords(band=["red", "nir"])
    with pytest.raises(BandMismatchError, match="green"):
        predict_to_files(tiny_run, stack, tmp_path, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.tif"]


def test_cli_bad_inputs(tiny_run, tmp_path, capsys):
    run = str(tiny_run.run_dir)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    # an output folder whose parent is a regular file: fails as root too, before the model loads
    assert main(["predict", "--model", str(tmp_path / "no-run"), "--image", "x.tif",
                 "--out", str(blocker / "out")]) == 2  # fmt: skip
    assert "cannot be written" in capsys.readouterr().err
    # an unknown image id fails before the (here missing) model is loaded
    assert main(["predict", "--model", str(tmp_path / "no-run"), "--data", "sample", "--scenes",
                 "nope", "--out", str(tmp_path / "o2")]) == 2  # fmt: skip
    assert "is not in data set" in capsys.readouterr().err
    # band count mismatch
    out = tmp_path / "out"
    five = write_tif(tmp_path / "five.tif", np.zeros((5, 20, 20), np.float32))
    assert main(["predict", "--model", run, "--image", str(five), "--out", str(out)]) == 2
    assert "5 band(s)" in capsys.readouterr().err
    # an unreadable image
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff at all")
    assert main(["predict", "--model", run, "--image", str(bad), "--out", str(out)]) == 2
    assert "cannot read raster" in capsys.readouterr().err
    # unknown format, missing run
    assert main(["predict", "--model", run, "--image", str(five), "--out", str(out),
                 "--format", "tif,shp"]) == 2  # fmt: skip
    assert "shp" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path), "--image", str(five), "--out", str(out)]) == 2
    assert "not a satseg run folder" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # nothing that looks like output
    # evaluate without a finished prediction folder
    assert main(["evaluate", "--pred", str(out), "--data", "sample"]) == 2
    assert "predictions.json" in capsys.readouterr().err


def test_cli_predict_image_geotiff(tiny_run, geotiff, tmp_path, capsys):
    import rasterio

    out = tmp_path / "out"
    assert main(["predict", "--model", str(tiny_run.run_dir), "--image", str(geotiff), "--out",
                 str(out), "--tta", "1", "--no-progress", "--format", "tif,wkt", "--close-radius", "1"]) == 0  # fmt: skip
    index = json.loads((out / "predictions.json").read_text())
    assert index["images"]["scene"] == {"probs": "scene_probs.tif", "mask": "scene_mask.tif",
                                        "wkt": "scene_wkt.csv"}  # fmt: skip
    with rasterio.open(out / "scene_mask.tif") as src:
        assert src.crs.to_epsg() == 32640


@pytest.mark.slow
def test_trained_run_predicts_sample_via_cli_and_evaluates(tmp_path, capsys):
    from satseg.io import open_dataset
    from satseg.training import TrainConfig, train

    tiny = {"model": {"input_size": 32, "crop_margin": 4, "depth": 2, "base_filters": 4},
            "training": {"epochs": 1, "steps_per_epoch": 3, "batch_size": 4, "seed": 1},
            "data": {"val_crop_size": 64, "val_crops_per_image": 2}}  # fmt: skip
    train(TrainConfig.from_dict(tiny), data="sample", out_dir=tmp_path / "run", progress=False)
    image_id = open_dataset("sample").labelled_ids()[0]
    out = tmp_path / "pred"
    assert main(["predict", "--model", str(tmp_path / "run"), "--data", "sample", "--scenes",
                 image_id, "--out", str(out), "--tta", "2", "--no-progress", "--batch", "64"]) == 0  # fmt: skip
    files = json.loads((out / "predictions.json").read_text())["images"][image_id]
    assert set(files) == {"probs", "mask", "geojson"}
    capsys.readouterr()
    assert main(["evaluate", "--pred", str(out), "--data", "sample", "--per-image"]) == 0
    text = capsys.readouterr().out
    assert "Building" in text and "mean" in text and image_id in text
    assert main(["evaluate", "--pred", str(out), "--data", "sample", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert set(rep["per_class"]) == {"Building", "Land", "Road", "Vegetation", "Water"}
    # tuning on the same image writes postprocess.json into the run folder
    assert main(["predict", "--model", str(tmp_path / "run"), "--data", "sample", "--scenes",
                 image_id, "--tune", "--tta", "1", "--no-progress", "--batch", "64"]) == 0  # fmt: skip
    assert (tmp_path / "run" / "postprocess.json").is_file()
