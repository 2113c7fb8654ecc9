"""Reading data sets: rasters, the DSTL layout, generic manifest folders, vectors."""

from satseg.io.dataset import ClassInfo, Labels, SegDataset, open_dataset
from satseg.io.generic import GenericDataset
from satseg.io.manifest import Manifest, load_manifest
from satseg.io.raster import RasterInfo, load_raster, raster_info, read_array

__all__ = [
    "ClassInfo",
    "GenericDataset",
    "Labels",
    "Manifest",
    "RasterInfo",
    "SegDataset",
    "load_manifest",
    "load_raster",
    "open_dataset",
    "raster_info",
    "read_array",
]
