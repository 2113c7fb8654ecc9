"""The data set interface every reader implements, and :func:`open_dataset`.

A data set is a list of images (DSTL scenes or generic image files), each with a band stack and,
where labelled, per-class masks. Classes may overlap (DSTL), so masks are one 0/1 plane per class.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from satseg.errors import DataError, MissingFileError

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr


@dataclass(frozen=True, kw_only=True)
class ClassInfo:
    """One target class: its name, display colour (``#rrggbb``) and code in the source masks."""

    name: str
    colour: str = "#ff00ff"
    code: int | None = None


@dataclass(frozen=True, kw_only=True)
class Labels:
    """Per-class masks of one image on the image's grid.

    ``masks`` is uint8 ``(n_classes, H, W)`` holding 0/1; ``ignore`` is bool ``(H, W)``, True
    where a pixel counts neither as positive nor negative (unlabelled, nodata, border).
    """

    masks: np.ndarray
    ignore: np.ndarray
    classes: tuple[ClassInfo, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.masks.ndim != 3:
            raise DataError(f"Labels.masks must be (n_classes, H, W), got shape {self.masks.shape}")
        if self.ignore.shape != self.masks.shape[1:]:
            raise DataError(
                f"Labels.ignore shape {self.ignore.shape} does not match masks {self.masks.shape[1:]}"
            )

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    def pixel_counts(self) -> dict[str, int]:
        """Labelled (non-ignored) positive pixels per class."""
        valid = ~self.ignore
        return {
            c.name: int(np.count_nonzero(self.masks[i] & valid)) for i, c in enumerate(self.classes)
        }


class SegDataset(abc.ABC):
    """A segmentation data set: images as band stacks plus optional labels."""

    kind: str = "abstract"

    def __init__(self, root: Path, name: str, classes: tuple[ClassInfo, ...]):
        self.root = Path(root)
        self.name = name
        self.classes = tuple(classes)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    @abc.abstractmethod
    def band_names(self) -> tuple[str, ...]:
        """Names of the bands of :meth:`load_image`, in order."""

    @abc.abstractmethod
    def ids(self) -> list[str]:
        """Every image (or scene) id, sorted."""

    @abc.abstractmethod
    def labelled_ids(self) -> list[str]:
        """The ids that have labels."""

    @abc.abstractmethod
    def load_image(self, image_id: str) -> xr.DataArray:
        """Lazy float32 stack ``(band, y, x)``; invalid pixels are NaN."""

    @abc.abstractmethod
    def load_labels(self, image_id: str) -> Labels:
        """Per-class masks on the grid of :meth:`load_image`."""

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for ``satseg data info``."""
        return {
            "kind": self.kind,
            "name": self.name,
            "root": str(self.root),
            "bands": list(self.band_names),
            "classes": [{"name": c.name, "colour": c.colour, "code": c.code} for c in self.classes],
            "images": self.ids(),
            "labelled": self.labelled_ids(),
        }

    def check_id(self, image_id: str) -> None:
        """Raise a clear error for an unknown id."""
        ids = self.ids()
        if image_id not in ids:
            shown = ", ".join(ids[:8]) + (" ..." if len(ids) > 8 else "")
            raise DataError(
                f"image '{image_id}' is not in data set '{self.name}' ({self.root}); "
                f"known ids: {shown}"
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} kind={self.kind} images={len(self.ids())}>"


def open_dataset(path: str | Path, manifest: str | Path | None = None) -> SegDataset:
    """Open a data set by path: a DSTL folder, a folder with ``satseg.yaml``, or ``"sample"``.

    ``"sample"`` is the small real Dubai sample shipped inside the package. ``manifest`` names a
    manifest file kept elsewhere (for read-only data folders); a path to a ``.yaml`` file opens
    the folder named by its ``root:`` key, or else the folder that holds it: a manifest file is
    then a complete data set reference for every command (``--data dubai.satseg.yaml``).
    """
    if str(path) == "sample":
        from satseg.datasets.sample import sample_path

        path = sample_path()
    root = Path(path).expanduser()
    if manifest is None and root.is_file() and root.suffix.lower() in (".yaml", ".yml"):
        # A manifest file alone: its data folder is its `root:` key, else its own folder.
        from satseg.io.generic import GenericDataset
        from satseg.io.manifest import load_manifest

        m = load_manifest(root)
        return GenericDataset(m.root or root.parent, m)
    if not root.exists():
        raise MissingFileError(
            f"data set folder {root} does not exist; pass a DSTL folder, a folder with a "
            "satseg.yaml manifest, or 'sample' for the bundled sample"
        )
    if not root.is_dir():
        raise DataError(f"data set path {root} is a file; pass the folder that holds the data")
    if manifest is not None or (root / "satseg.yaml").is_file():
        from satseg.io.generic import GenericDataset

        return GenericDataset.from_folder(root, manifest)
    if (root / "grid_sizes.csv").is_file() or (root / "three_band").is_dir():
        from satseg.io.dstl import DstlDataset

        return DstlDataset(root)
    raise DataError(
        f"{root} is neither a DSTL folder (three_band/, sixteen_band/, grid_sizes.csv) nor a "
        "generic data set (satseg.yaml manifest); add a satseg.yaml (see docs/manifest.md) or "
        "pass --manifest FILE"
    )
