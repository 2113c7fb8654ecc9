"""A tiny SegDataset over the real Dubai tiles, read directly (tests only).

Used until/where the bundled sample (``open_dataset("sample")``) is not available: it reads a few
real images and crops them to ``crop`` px so the tests stay fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from satseg.io.dataset import ClassInfo, Labels, SegDataset

COLOURS = {
    "Building": "#3C1098",
    "Land": "#8429F6",
    "Road": "#6EC1E4",
    "Vegetation": "#FEDD3A",
    "Water": "#E2A929",
}
IGNORE_COLOURS = ("#9B9B9B", "#000000")


def _rgb(hexcode: str) -> tuple[int, int, int]:
    return tuple(int(hexcode[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


class DubaiDirect(SegDataset):
    kind = "generic"

    def __init__(self, root: Path, ids: list[str], crop: int | None = 256, offset: int = 0):
        classes = tuple(
            ClassInfo(name=n, colour=c.lower(), code=i) for i, (n, c) in enumerate(COLOURS.items())
        )
        super().__init__(Path(root), "dubai-direct", classes)
        self._ids = sorted(ids)
        self.crop = crop
        self.offset = offset

    @property
    def band_names(self) -> tuple[str, ...]:
        return ("red", "green", "blue")

    def ids(self) -> list[str]:
        return list(self._ids)

    def labelled_ids(self) -> list[str]:
        return list(self._ids)

    def _cut(self, a: np.ndarray) -> np.ndarray:
        if self.crop is None:
            return a
        o = self.offset
        return a[o : o + self.crop, o : o + self.crop]

    def _paths(self, image_id: str) -> tuple[Path, Path]:
        tile, part = image_id.split("/")
        return (
            self.root / tile / "images" / f"{part}.jpg",
            self.root / tile / "masks" / f"{part}.png",
        )

    def load_image(self, image_id: str):
        import xarray as xr
        from PIL import Image

        self.check_id(image_id)
        arr = self._cut(np.asarray(Image.open(self._paths(image_id)[0]).convert("RGB")))
        data = np.moveaxis(arr, -1, 0).astype(np.float32)
        return xr.DataArray(
            data,
            dims=("band", "y", "x"),
            coords={"band": list(self.band_names), "wavelength": ("band", [660.0, 560.0, 480.0])},
        )

    def load_labels(self, image_id: str) -> Labels:
        from PIL import Image

        rgb = self._cut(np.asarray(Image.open(self._paths(image_id)[1]).convert("RGB"))).astype(
            np.int32
        )
        code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        masks = np.zeros((len(COLOURS),) + code.shape, np.uint8)
        known = np.zeros(code.shape, bool)
        for k, c in enumerate(COLOURS.values()):
            r, g, b = _rgb(c)
            hit = code == ((r << 16) | (g << 8) | b)
            masks[k] = hit
            known |= hit
        return Labels(masks=masks, ignore=~known, classes=self.classes)
