"""The small real sample shipped with satseg: seven Dubai image parts, one from each tile.

Source: "Semantic segmentation of aerial imagery" by Humans in the Loop, imagery by MBRSC, public
domain (CC0 1.0); see ``sample_data/README.md``. Each image part was downscaled so its longer side
is at most 600 px (Lanczos for images, nearest neighbour for masks, which stay exact colours) and
every mask was decoded to RGB. Each part holds all five classes, so any split by tile keeps every
class on both sides. :func:`build_sample` re-creates the folder from the full data set.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from satseg.errors import MissingFileError

log = logging.getLogger("satseg.datasets.sample")

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"
# one image part per tile, each with all five classes (checked on the full masks)
SAMPLE_PARTS = (
    "tile_1/image_part_009",
    "tile_2/image_part_007",
    "tile_3/image_part_002",
    "tile_4/image_part_001",
    "tile_5/image_part_008",
    "tile_6/image_part_004",
    "tile_7/image_part_005",
)
MAX_SIDE = 600


def sample_path() -> Path:
    """The folder of the bundled sample (it holds a ``satseg.yaml``); ``open_dataset("sample")``."""
    if not (SAMPLE_DIR / "satseg.yaml").is_file():
        raise MissingFileError(
            f"the bundled sample is missing from {SAMPLE_DIR}; reinstall satseg (package data "
            "'datasets/sample_data/**/*')"
        )
    return SAMPLE_DIR


def build_sample(source: str | Path, out: str | Path, max_side: int = MAX_SIDE) -> Path:
    """Write the sample from the full Dubai data set at ``source`` into ``out``.

    Images are resized with Lanczos and saved as JPEG (quality 90); masks are converted to RGB
    (palette PNGs included) and resized with nearest neighbour so no new colours appear.
    """
    from PIL import Image

    source, out = Path(source), Path(out)
    for part in SAMPLE_PARTS:
        tile, name = part.split("/")
        img_path = source / tile / "images" / f"{name}.jpg"
        mask_path = source / tile / "masks" / f"{name}.png"
        for p in (img_path, mask_path):
            if not p.is_file():
                raise MissingFileError(f"{p} is missing; pass the dubai-aerial folder as source")
        img = Image.open(img_path).convert("RGB")
        mask = Image.open(mask_path).convert("RGB")
        scale = min(1.0, max_side / max(img.size))
        size = (round(img.width * scale), round(img.height * scale))
        (out / tile / "images").mkdir(parents=True, exist_ok=True)
        (out / tile / "masks").mkdir(parents=True, exist_ok=True)
        img.resize(size, Image.Resampling.LANCZOS).save(
            out / tile / "images" / f"{name}.jpg", quality=90
        )
        mask.resize(size, Image.Resampling.NEAREST).save(out / tile / "masks" / f"{name}.png")
        log.info("sample %s: %dx%d -> %dx%d", part, img.width, img.height, *size)
    manifest = SAMPLE_DIR / "satseg.yaml"
    if out.resolve() != SAMPLE_DIR and manifest.is_file():
        shutil.copy(manifest, out / "satseg.yaml")
    return out
