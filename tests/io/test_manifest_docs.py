"""The manifests shown in docs/manifest.md are valid, and the Landsat example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import yaml

from satseg.io import open_dataset
from satseg.io.manifest import parse_manifest
from tests.io import makers

DOC = Path(__file__).resolve().parents[2] / "docs" / "manifest.md"


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def test_every_documented_manifest_validates():
    blocks = _yaml_blocks()
    assert len(blocks) == 3
    for text in blocks:
        parse_manifest(yaml.safe_load(text), DOC)


def test_dubai_doc_block_equals_the_example_file():
    example = yaml.safe_load((DOC.parent / "examples" / "dubai-aerial.satseg.yaml").read_text())
    shown = yaml.safe_load(_yaml_blocks()[0])
    assert {k: v for k, v in example.items() if k in shown} == shown


def test_landsat_example_runs_on_small_files(tmp_path):
    text = _yaml_blocks()[1]
    (tmp_path / "satseg.yaml").write_text(text)
    scene = "LC08_039037_20200611"
    rng = np.random.default_rng(7)
    bands = {}
    for k in ("2", "3", "4", "5", "6"):
        b = rng.integers(1, 40000, size=(1, 16, 20), dtype=np.uint16)
        b[0, 0, :3] = 0  # fill
        makers.write_tif(tmp_path / scene / f"{scene}_B{k}.TIF", b, crs=makers.CRS)
        bands[k] = b[0]
    codes = rng.choice(np.array([0, 1, 2, 3, 9, 255], np.uint8), size=(1, 16, 20))
    makers.write_tif(tmp_path / "labels" / f"{scene}.tif", codes, crs=makers.CRS, nodata=255)
    ds = open_dataset(tmp_path)
    assert ds.ids() == [scene] == ds.labelled_ids()
    img = ds.load_image(scene).values
    assert list(ds.band_names) == ["blue", "green", "red", "nir", "swir1"]
    np.testing.assert_array_equal(img[3, 1:], bands["5"][1:].astype(np.float32))
    assert np.isnan(img[:, 0, :3]).all()
    lab = ds.load_labels(scene)
    np.testing.assert_array_equal(lab.masks[2], codes[0] == 3)
    np.testing.assert_array_equal(lab.ignore, np.isin(codes[0], [9, 255]))
