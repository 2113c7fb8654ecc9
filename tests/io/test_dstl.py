"""The DSTL layout on synthetic scenes: listing, stacks, labels vs WKT, describe, bad inputs."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from satseg.datasets.synth import write_synthetic_dstl
from satseg.errors import BandMismatchError, DataError, LabelError, MissingFileError
from satseg.io import open_dataset
from satseg.io.dstl import DstlDataset
from satseg.io.wkt import read_wkt_csv, to_pixels


@pytest.fixture(scope="module")
def dstl(tmp_path_factory):
    return write_synthetic_dstl(tmp_path_factory.mktemp("dstl") / "d", scenes=2, size=256, seed=7)


def test_open_lists_scenes_and_bands(dstl):
    ds = open_dataset(dstl)
    assert isinstance(ds, DstlDataset) and ds.kind == "dstl"
    assert ds.ids() == ["6010_0_0", "6010_0_1"] and ds.labelled_ids() == ds.ids()
    assert len(ds.band_names) == 20 and ds.band_names[3] == "P"
    assert [c.name for c in ds.classes][4] == "Trees" and ds.classes[9].code == 10


def test_raw_group_rasters(dstl):
    ds = open_dataset(dstl)
    sid = ds.ids()[0]
    rgb, p, m, a = (ds.read_group(sid, g) for g in ("RGB", "P", "M", "A"))
    assert rgb.sizes["band"] == 3 and list(m.band.values)[5] == "M6"
    assert p.sizes["y"] == rgb.sizes["y"] - 1 and p.sizes["x"] == rgb.sizes["x"] - 1
    assert abs(m.sizes["y"] - rgb.sizes["y"] / 4) <= 2 and a.sizes["band"] == 8
    assert float(a.max()) <= 16383 and float(rgb.max()) <= 2047


def test_load_image_and_labels_line_up(dstl):
    ds = open_dataset(dstl)
    sid = ds.ids()[0]
    stack = ds.load_image(sid)
    labels = ds.load_labels(sid)
    assert stack.dims == ("band", "y", "x") and stack.chunks is not None
    assert labels.masks.shape == (10, stack.sizes["y"], stack.sizes["x"])
    assert labels.masks.dtype == np.uint8 and set(np.unique(labels.masks)) <= {0, 1}
    # vegetation is bright in NIR (M7) and dark in red: labels sit on the right pixels
    ndvi = (
        (stack.sel(band="M7") - stack.sel(band="R")) / (stack.sel(band="M7") + stack.sel(band="R"))
    ).values
    crops = labels.masks[5].astype(bool) & ~labels.masks[[0, 2, 3]].any(axis=0)
    road = labels.masks[2].astype(bool)
    assert np.nanmean(ndvi[crops]) > 0.5 > np.nanmean(ndvi[road])


def test_labels_follow_the_wkt_with_holes(dstl):
    ds = open_dataset(dstl)
    sid = ds.ids()[0]
    xmax, ymin = ds.grid_sizes[sid]
    geoms = ds.label_geometry(sid)
    shape = ds.group_shape(sid, "RGB")
    px = to_pixels(geoms[6], shape, xmax, ymin)  # crops: fields with yard holes
    assert any(len(p.interiors) for p in px.geoms)
    mask = ds.load_labels(sid).masks[5]
    hole = next(p for p in px.geoms if p.interiors).interiors[0].centroid
    assert mask[int(hole.y), int(hole.x)] == 0
    assert abs(int(mask.sum()) - px.area) / px.area < 0.02


def test_m_grid_labels(dstl):
    ds = open_dataset(dstl)
    sid = ds.ids()[1]
    stack = ds.load_image(sid, grid="m")
    lab = ds.load_labels(sid, grid="m")
    assert lab.shape == (stack.sizes["y"], stack.sizes["x"]) == ds.group_shape(sid, "M")


def test_wkt_file_has_all_classes_and_empty_rows(dstl):
    rows = read_wkt_csv(dstl / "train_wkt_v4.csv")
    assert all(sorted(r) == list(range(1, 11)) for r in rows.values())
    head = (dstl / "grid_sizes.csv").read_text().splitlines()[0]
    assert head == ",Xmax,Ymin"


def test_describe_reports_groups_sizes_offsets(dstl):
    d = open_dataset(dstl).describe()
    assert d["kind"] == "dstl" and set(d["band_groups"]) == {"RGB", "P", "M", "A"}
    assert d["band_groups"]["A"]["bit_depth"] == 14
    sid = d["images"][0]
    assert set(d["sizes"][sid]) == {"RGB", "P", "M", "A"}
    assert set(d["registration"][sid]["M"]) == {"dy_px", "dx_px", "dy_ref_px", "dx_ref_px"}
    import json

    json.dumps(d)  # JSON-able for `satseg data info --json`


# ------------------------------------------------------------------ bad inputs
def copy(dstl, tmp_path):
    out = tmp_path / "c"
    shutil.copytree(dstl, out)
    return out


def test_missing_raster(dstl, tmp_path):
    root = copy(dstl, tmp_path)
    (root / "sixteen_band" / "6010_0_0_M.tif").unlink()
    ds = open_dataset(root)
    with pytest.raises(
        MissingFileError,
        match="scene '6010_0_0' has no M band: expected sixteen_band/6010_0_0_M.tif",
    ):
        ds.load_image("6010_0_0")


def test_unreadable_and_wrong_band_count(dstl, tmp_path):
    from satseg.errors import RasterReadError

    root = copy(dstl, tmp_path)
    (root / "sixteen_band" / "6010_0_0_A.tif").write_bytes(b"garbage")
    shutil.copy(root / "sixteen_band" / "6010_0_1_P.tif", root / "sixteen_band" / "6010_0_1_M.tif")
    ds = open_dataset(root)
    with pytest.raises(RasterReadError, match="6010_0_0_A.tif"):
        ds.load_image("6010_0_0")
    with pytest.raises(BandMismatchError, match="6010_0_1_M.tif has 1 band\\(s\\), expected 8"):
        ds.load_image("6010_0_1")


def test_invalid_wkt_and_missing_grid_size(dstl, tmp_path):
    root = copy(dstl, tmp_path)
    path = root / "train_wkt_v4.csv"
    rows = list(csv.reader(path.open()))
    rows[3][2] = "MULTIPOLYGON (((0 0, 1 1"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    g = root / "grid_sizes.csv"
    g.write_text("\n".join(g.read_text().splitlines()[:2]) + "\n")  # drop the second scene
    ds = open_dataset(root)
    with pytest.raises(LabelError, match=r"train_wkt_v4.csv: 6010_0_0 class 3: invalid WKT"):
        ds.load_labels("6010_0_0")
    with pytest.raises(LabelError, match="scene '6010_0_1' is missing from .*grid_sizes.csv"):
        ds.load_labels("6010_0_1")
    with pytest.raises(DataError, match="not in data set"):
        ds.load_image("9999_9_9")


def test_empty_dataset(tmp_path):
    (tmp_path / "three_band").mkdir()
    (tmp_path / "grid_sizes.csv").write_text(",Xmax,Ymin\n")
    with pytest.raises(DataError, match="is empty: three_band/ holds no .tif"):
        open_dataset(tmp_path)
