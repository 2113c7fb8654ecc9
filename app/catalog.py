"""Opened data sets and computed layers, cached and shared by the sessions of one server.

A *layer* is one band of an image's stack or one spectral index, computed into memory (float32
``(H, W)``) the first time it is shown: panning and zooming then re-rasterise from memory.
The cache holds at most ``max_layers`` layers (least recently used are dropped).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from app.settings import AppSettings
from satseg.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

log = logging.getLogger("satseg.app.catalog")


def _index_api():
    """``satseg.bands`` index functions, or None while that module is absent."""
    try:
        from satseg.bands import compute_index, list_indices
    except ImportError:  # pragma: no cover - satseg.bands is part of the package
        log.warning("satseg.bands is not importable: spectral indices are not offered")
        return None
    return compute_index, list_indices


class Catalog:
    """The data sets found by :class:`AppSettings` and what was computed from them."""

    def __init__(self, settings: AppSettings, max_layers: int = 24):
        self.settings = settings
        self.paths = settings.datasets()
        self.max_layers = max_layers
        self._datasets: dict[str, Any] = {}
        self._stacks: dict[tuple[str, str], xr.DataArray] = {}
        self._layers: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        self._labels: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._indices: dict[tuple[str, str], list[str]] = {}
        self._opening: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- data sets
    def add(self, name: str, dataset: Any, path: str | None = None) -> None:
        """Offer an already opened data set (notebooks, tests, benchmarks)."""
        with self._lock:
            self.paths[name] = path or str(getattr(dataset, "root", name))
            self._datasets[name] = dataset

    def names(self) -> list[str]:
        return list(self.paths)

    def image_ids(self, name: str) -> list[str]:
        """The data set's image ids as offered: labelled images first (the overlay has
        something to show), each part sorted."""
        ds = self.dataset(name)
        labelled = set(ds.labelled_ids())
        return sorted(ds.ids(), key=lambda i: (i not in labelled, i))

    def prefetch(self, name: str) -> None:
        """Open data set ``name`` and compute what the Bands tab shows first when it is picked:
        the first image's stack (a DSTL scene is registered here, seconds for a large one), its
        first layer and its labels. Run in the background at server start, so that picking the
        data set later answers from memory."""
        ids = self.image_ids(name)
        if not ids:
            return
        layers = self.layers(name, ids[0])
        if layers:
            self.layer(name, ids[0], layers[0])
        self.labels(name, ids[0])

    def dataset(self, name: str):
        """The opened data set called ``name`` (a label from :meth:`names`)."""
        if name not in self.paths:
            raise DataError(
                f"data set {name!r} was not found under the server's --data paths; "
                f"known: {', '.join(self.paths) or 'none'}"
            )
        with self._lock:
            if name not in self._datasets:
                from satseg.io import open_dataset

                self._datasets[name] = open_dataset(self.paths[name])
            return self._datasets[name]

    def stack(self, name: str, image_id: str) -> xr.DataArray:
        """The lazy band stack ``(band, y, x)`` of one image."""
        key = (name, image_id)
        with self._lock:
            if key in self._stacks:
                return self._stacks[key]
            opening = self._opening.setdefault(key, threading.Lock())
        # One lock per image: opening a stack (registering a large DSTL scene takes seconds)
        # must not hold up the other images' cache look-ups.
        with opening:
            with self._lock:
                if key in self._stacks:
                    return self._stacks[key]
            stack = self.dataset(name).load_image(image_id)
            with self._lock:
                self._stacks[key] = stack
                self._opening.pop(key, None)
            return stack

    def shape(self, name: str, image_id: str) -> tuple[int, int]:
        s = self.stack(name, image_id)
        return int(s.sizes["y"]), int(s.sizes["x"])

    def band_names(self, name: str, image_id: str) -> list[str]:
        return [str(b) for b in self.stack(name, image_id).coords["band"].values]

    def wavelengths(self, name: str, image_id: str) -> list[float]:
        s = self.stack(name, image_id)
        if "wavelength" in s.coords:
            return [float(w) for w in np.asarray(s.coords["wavelength"].values, dtype=float)]
        return [float("nan")] * s.sizes["band"]

    def indices(self, name: str, image_id: str) -> list[str]:
        """The spectral indices computable from this image's bands."""
        key = (name, image_id)
        if key in self._indices:
            return self._indices[key]
        api = _index_api()
        found: list[str] = []
        if api is not None:
            from satseg.errors import BandMismatchError

            compute_index, list_indices = api
            corner = self.stack(name, image_id).isel(y=slice(0, 2), x=slice(0, 2))
            for idx in list_indices():
                try:
                    compute_index(corner, idx)
                except BandMismatchError:
                    continue
                found.append(str(idx))
        self._indices[key] = found
        return found

    def layers(self, name: str, image_id: str) -> list[str]:
        """Bands then indices, as offered in the band selects."""
        return self.band_names(name, image_id) + self.indices(name, image_id)

    def layer(self, name: str, image_id: str, layer: str) -> np.ndarray:
        """One band or index in memory, float32 ``(H, W)``, NaN where invalid."""
        key = (name, image_id, layer)
        with self._lock:
            if key in self._layers:
                self._layers.move_to_end(key)
                return self._layers[key]
        stack = self.stack(name, image_id)
        bands = self.band_names(name, image_id)
        if layer in bands:
            return self._band_chunk(name, image_id, stack, bands, layer)
        if layer in self.indices(name, image_id):
            compute_index, _ = _index_api()
            arr = compute_index(stack, layer)
        else:
            raise DataError(
                f"{layer!r} is neither a band nor an index of image {image_id!r}; "
                f"choose one of {', '.join(self.layers(name, image_id))}"
            )
        values = np.asarray(arr.values if hasattr(arr, "values") else arr, dtype=np.float32)
        self._remember({key: values})
        return values

    def _remember(self, layers: dict[tuple[str, str, str], np.ndarray]) -> None:
        """Add layers to the cache (the last one given is the most recently used)."""
        with self._lock:
            for key, values in layers.items():
                self._layers[key] = values
                self._layers.move_to_end(key)
            while len(self._layers) > self.max_layers:
                self._layers.popitem(last=False)

    def _band_chunk(self, name: str, image_id: str, stack, bands: list[str], layer: str) -> np.ndarray:
        """One band, computed together with the bands that share its dask chunk.

        Band stacks of ``satseg.bands`` have one chunk per band (one band is read and resampled
        alone); a reader whose chunk holds several bands costs the whole chunk for one of them,
        so every band of that chunk is kept, and switching to another is then immediate.
        """
        i = bands.index(layer)
        lo, hi = i, i + 1
        chunks = getattr(getattr(stack, "data", None), "chunks", None)
        if chunks:
            edges = np.cumsum((0, *chunks[0]))
            j = int(np.searchsorted(edges, i, side="right")) - 1
            lo, hi = int(edges[j]), int(edges[j + 1])
            if hi - lo > max(1, self.max_layers // 2):  # a huge chunk: keep the one band only
                lo, hi = i, i + 1
        values = np.asarray(stack.isel(band=slice(lo, hi)).values, dtype=np.float32)
        if hi - lo == 1:  # the band alone: no copy (a tenth of a second for a 3349 px band)
            layers = {(name, image_id, layer): values[0]}
            self._remember(layers)
            return values[0]
        # Copies: a cached band must not keep its whole group's array alive after the others
        # have left the cache.
        layers = {(name, image_id, bands[k]): values[k - lo].copy() for k in range(lo, hi) if k != i}
        layers[(name, image_id, layer)] = values[i - lo].copy()
        self._remember(layers)
        return layers[(name, image_id, layer)]

    def pixel(self, name: str, image_id: str, row: int, col: int) -> np.ndarray:
        """Every band's value at one pixel (from memory where cached, else from the lazy stack)."""
        bands = self.band_names(name, image_id)
        with self._lock:
            cached = [self._layers.get((name, image_id, b)) for b in bands]
        if all(c is not None for c in cached):
            return np.array([c[row, col] for c in cached if c is not None], dtype=np.float32)
        return np.asarray(self.stack(name, image_id)[:, row, col].values, dtype=np.float32)

    def has_labels(self, name: str, image_id: str) -> bool:
        """True when :meth:`labels` of this image would return at once (cached)."""
        with self._lock:
            return (name, image_id) in self._labels

    def labels(self, name: str, image_id: str):
        """Labels of one image (cached), or None when the image is not labelled."""
        key = (name, image_id)
        with self._lock:
            if key in self._labels:
                return self._labels[key]
        ds = self.dataset(name)
        lab = ds.load_labels(image_id) if image_id in ds.labelled_ids() else None
        with self._lock:
            self._labels[key] = lab
            while len(self._labels) > 4:
                self._labels.popitem(last=False)
        return lab
