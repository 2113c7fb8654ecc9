"""Fixtures: a tiny Dubai-like manifest data set (RGB images, colour masks)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from satseg.io import open_dataset

MANIFEST = """\
name: tiny-colour
bands: [red, green, blue]
images: {pattern: "images/{part}.png"}
labels:
  kind: colour
  pattern: "masks/{part}.png"
  ignore: ["#9B9B9B"]
classes:
  - {name: Building, colour: "#3C1098"}
  - {name: Road, colour: "#6EC1E4"}
  - {name: Water, colour: "#E2A929"}
"""
PALETTE = [(0x3C, 0x10, 0x98), (0x6E, 0xC1, 0xE4), (0xE2, 0xA9, 0x29), (0x9B, 0x9B, 0x9B)]


@pytest.fixture()
def colour_data(tmp_path):
    """A Dubai-like manifest data set: RGB images, colour masks with an ignore colour."""
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for k in range(3):
        img = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(img).save(tmp_path / "images" / f"p{k}.png")
        codes = rng.integers(0, len(PALETTE), (24, 24))
        mask = np.asarray(PALETTE, np.uint8)[codes]
        Image.fromarray(mask).save(tmp_path / "masks" / f"p{k}.png")
    (tmp_path / "satseg.yaml").write_text(MANIFEST)
    return open_dataset(tmp_path)
