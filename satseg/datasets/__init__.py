"""Bundled data: the small real Dubai sample (:func:`sample_path`) and synthetic DSTL scenes."""

from satseg.datasets.sample import sample_path

__all__ = ["sample_path"]
