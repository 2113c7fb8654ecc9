"""The bundled sample and the real Dubai data load through their manifests alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from satseg.datasets import sample_path
from satseg.io import open_dataset

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "dubai-aerial.satseg.yaml"
CLASSES = ["Building", "Land", "Road", "Vegetation", "Water"]


def test_sample_opens_and_every_image_has_every_class():
    ds = open_dataset("sample")
    assert ds.root == sample_path()
    assert ds.kind == "generic" and ds.band_names == ("red", "green", "blue")
    assert list(ds.class_names) == CLASSES
    ids = ds.ids()
    assert len(ids) == 7 and ids == ds.labelled_ids()
    assert {i.split("/")[0] for i in ids} == {f"tile_{k}" for k in range(1, 8)}
    for i in ids:
        h, w = ds.image_shape(i)
        assert max(h, w) <= 600
        lab = ds.load_labels(i)
        counts = lab.pixel_counts()
        assert all(counts[c] > 0 for c in CLASSES), (i, counts)
        assert lab.ignore.mean() < 0.05
        # classes never overlap in a colour mask, and ignore pixels belong to no class
        assert lab.masks.sum(axis=0).max() == 1
        assert not lab.masks[:, lab.ignore].any()
    img = ds.load_image(ids[0])
    assert img.dtype == np.float32 and img.chunks is not None
    v = img.values
    assert v.shape == (3, *ds.image_shape(ids[0])) and 0 <= v.min() and v.max() <= 255


def test_sample_has_licence_note():
    text = (sample_path() / "README.md").read_text()
    assert "CC0" in text and "Humans in the Loop" in text and "MBRSC" in text
    assert (sample_path() / "LICENSE.txt").is_file()


def test_dubai_loads_through_the_example_manifest(dubai_path, tmp_path):
    """The shared folder is read-only: a temporary folder of symlinks plus the example manifest."""
    for tile in sorted(dubai_path.glob("tile_*")):
        (tmp_path / tile.name).symlink_to(tile, target_is_directory=True)
    shutil.copy(EXAMPLE, tmp_path / "satseg.yaml")
    ds = open_dataset(tmp_path)
    assert len(ds.ids()) == 63 and ds.labelled_ids() == ds.ids()
    assert "tile_1/image_part_001" in ds.ids()
    # a palette PNG mask (tile_2) decodes, and every mask colour is in the table
    lab = ds.load_labels("tile_2/image_part_005")
    counts = lab.pixel_counts()
    assert all(counts[c] > 0 for c in CLASSES)
    assert lab.shape == ds.image_shape("tile_2/image_part_005")


def test_dubai_with_explicit_manifest_and_all_counts(dubai_path):
    ds = open_dataset(dubai_path, manifest=EXAMPLE)
    d = ds.describe()
    shares = {c["name"]: c["share"] for c in d["classes"]}
    assert set(shares) == set(CLASSES)
    assert 0.4 < shares["Land"] < 0.65  # the dominant class (README: 52%)
    assert all(0.03 < shares[c] < 0.25 for c in ("Building", "Road", "Vegetation", "Water"))
    ignored = d["pixels"]["ignored"] / (d["pixels"]["ignored"] + d["pixels"]["labelled"])
    assert 0.0005 < ignored < 0.02  # Unlabeled + black border (README: ~1.1%)
