"""Reading data sets: rasters, the DSTL layout, generic manifest folders, vectors."""

from satseg.io.dataset import ClassInfo, Labels, SegDataset, open_dataset

__all__ = ["ClassInfo", "Labels", "SegDataset", "open_dataset"]
