"""Bands tab: any band, index or RGB composite of an image at full resolution, with histogram,
per-pixel spectrum, ground-truth overlay and (DSTL) registration offsets."""

from __future__ import annotations

import logging

import numpy as np
import panel as pn
import param

from app import render
from app.catalog import Catalog
from app.jobs import Job, readable_error

log = logging.getLogger("satseg.app.bands")

CMAPS = ["viridis", "gray", "magma", "cividis", "RdYlGn", "coolwarm", "Spectral"]
_EMPTY = np.zeros((1, 1), dtype=np.float32)


def _coords(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates: column c spans x in [c, c+1), row r spans y in [r, r+1)."""
    h, w = shape
    return np.arange(w) + 0.5, np.arange(h) + 0.5


def _default_rgb(bands: list[str]) -> tuple[str, str, str]:
    """Red, green, blue by name where the bands are named so, else the first three."""
    lower = {b.lower(): b for b in bands}
    pick = []
    for want in (("r", "red"), ("g", "green"), ("b", "blue")):
        pick.append(next((lower[w] for w in want if w in lower), None))
    if all(pick):
        return tuple(pick)  # type: ignore[return-value]
    padded = (bands * 3)[:3]
    return padded[0], padded[1], padded[2]


class BandsView(param.Parameterized):
    """State and plots of the Bands tab."""

    dataset = param.Selector(objects=[], doc="data set (found under the server's --data paths)")
    image = param.Selector(objects=[], doc="scene or image id of the data set")
    mode = param.Selector(objects=["Single layer", "RGB composite"], default="Single layer",
                          doc="one band/index with a colour map, or three as red, green, blue")
    layer = param.Selector(objects=[], doc="band or spectral index shown in single-layer mode")
    red = param.Selector(objects=[], doc="band or index shown as red")
    green = param.Selector(objects=[], doc="band or index shown as green")
    blue = param.Selector(objects=[], doc="band or index shown as blue")
    percentiles = param.Range(default=(2.0, 98.0), bounds=(0.0, 100.0),
                              doc="percentile stretch: these percentiles map to the ends of the scale")
    cmap = param.Selector(objects=CMAPS, default="viridis", doc="colour map of single-layer mode")
    auto_range = param.Boolean(default=True, doc="colour range from the percentiles (else the fixed range)")
    value_range = param.Range(default=(0.0, 1.0), doc="fixed colour range of single-layer mode")
    show_labels = param.Boolean(default=True, doc="draw the ground truth over the image")
    label_classes = param.ListSelector(default=[], objects=[], doc="classes drawn in the overlay")
    label_alpha = param.Number(default=0.45, bounds=(0.0, 1.0), doc="overlay opacity")
    labels_ready = param.Integer(default=0, doc="bumped when background labels arrive")
    shown = param.Integer(default=0, doc="bumped once per newly shown image (a new plot)")
    pixel = param.Tuple(default=(-1, -1), length=2, doc="(row, col) of the last clicked pixel")
    error = param.String(default="", doc="last error, shown in the page")

    def __init__(self, catalog: Catalog, **params):
        self.catalog = catalog
        self._memo: dict = {}
        self._labels_job: Job | None = None
        super().__init__(**params)
        names = catalog.names()
        self.param.dataset.objects = names
        if names and self.dataset not in names:
            self.dataset = names[0]
        elif names:
            self._on_dataset()

    # ---------------------------------------------------------------- state changes
    @param.depends("dataset", watch=True)
    def _on_dataset(self) -> None:
        try:
            ds = self.catalog.dataset(self.dataset)
            ids = ds.ids()
        except Exception as exc:  # noqa: BLE001 - shown in the page
            self.error = f"cannot open data set {self.dataset!r}: {readable_error(exc)}"
            return
        labelled = set(ds.labelled_ids())
        # Labelled images first: the overlay has something to show.
        ids = sorted(ids, key=lambda i: (i not in labelled, i))
        self.param.image.objects = ids
        classes = [c.name for c in ds.classes]
        self.param.label_classes.objects = classes
        with param.parameterized.discard_events(self):
            self.label_classes = classes
        if self.image in ids:
            self._on_image()
        else:
            self.image = ids[0] if ids else None

    @param.depends("layer", "percentiles", watch=True)
    def _on_layer(self) -> None:
        # The fixed range starts from the current stretch, so unticking "auto" keeps the picture.
        if self.auto_range and self.image is not None and self.layer:
            try:
                lo, hi = render.percentile_limits(self.layer_data(self.layer), *self.percentiles)
            except Exception:  # noqa: BLE001 - the plot reports the error
                return
            self.value_range = (round(lo, 6), round(hi, 6))

    @param.depends("image", watch=True)
    def _on_image(self) -> None:
        if self.image is None:
            return
        try:
            layers = self.catalog.layers(self.dataset, self.image)
        except Exception as exc:  # noqa: BLE001
            self.error = f"cannot read image {self.image!r}: {readable_error(exc)}"
            return
        self.error = ""
        bands = self.catalog.band_names(self.dataset, self.image)
        r, g, b = _default_rgb(bands)
        for p in ("layer", "red", "green", "blue"):
            self.param[p].objects = layers
        with param.parameterized.batch_call_watchers(self):
            self.pixel = (-1, -1)
            if self.layer not in layers:
                self.layer = layers[0]
            self.red, self.green, self.blue = r, g, b
        self.shown += 1

    # ---------------------------------------------------------------- data
    @property
    def shape(self) -> tuple[int, int]:
        return self.catalog.shape(self.dataset, self.image)

    def layer_data(self, name: str) -> np.ndarray:
        return self.catalog.layer(self.dataset, self.image, name)

    def shown_layers(self) -> list[str]:
        return [self.layer] if self.mode == "Single layer" else [self.red, self.green, self.blue]

    def color_limits(self) -> tuple[float, float]:
        """Colour range of single-layer mode."""
        if not self.auto_range:
            return tuple(self.value_range)  # type: ignore[return-value]
        return render.percentile_limits(self.layer_data(self.layer), *self.percentiles)

    def _memoised(self, key: tuple, make):
        """Full-resolution arrays are kept between pans and zooms (last 4 keys)."""
        if key not in self._memo:
            self._memo[key] = make()
            while len(self._memo) > 4:
                self._memo.pop(next(iter(self._memo)))
        return self._memo[key]

    def composite(self) -> np.ndarray:
        """Stretched RGB ``(H, W, 3)`` in [0, 1] of the red, green, blue selections."""

        def make():
            chans = [self.layer_data(n) for n in (self.red, self.green, self.blue)]
            limits = [render.percentile_limits(c, *self.percentiles) for c in chans]
            return render.rgb_from_channels(chans, limits)

        key = ("rgb", self.dataset, self.image, self.red, self.green, self.blue, tuple(self.percentiles))
        return self._memoised(key, make)

    def overlay_rgba(self, wait: bool = True) -> np.ndarray | None:
        """RGBA ground-truth overlay of the enabled classes, or None (no labels / hidden).

        With ``wait=False`` (the plot), labels not read yet are read in a background job and
        None is returned; :attr:`labels_ready` changes when they arrive.
        """
        if not self.show_labels or self.image is None:
            return None
        if not wait and not self.catalog.has_labels(self.dataset, self.image):
            self._load_labels_in_background()
            return None
        labels = self.catalog.labels(self.dataset, self.image)
        if labels is None:
            return None
        names = [c.name for c in labels.classes]
        enabled = [n in self.label_classes for n in names]
        # Opaque colours: the plot applies label_alpha as the layer's opacity.
        key = ("labels", self.dataset, self.image, tuple(enabled))
        return self._memoised(key, lambda: render.class_overlay(
            labels.masks, [c.colour for c in labels.classes], enabled, 1.0))

    def _load_labels_in_background(self) -> None:
        key = (self.dataset, self.image)
        if self._labels_job is not None and self._labels_job.name == str(key) and not self._labels_job.done:
            return
        doc = pn.state.curdoc

        def work(job: Job):
            self.catalog.labels(*key)
            # Back on the session's thread: redraw the overlay (or poll() does it without one).
            if doc is not None and doc.session_context is not None:
                doc.add_next_tick_callback(self.poll)

        self._labels_job = Job(str(key), work).start()

    def poll(self) -> None:
        """Redraw the overlay once background labels have arrived; show their error if any."""
        job = self._labels_job
        if job is None or not job.done:
            return
        self._labels_job = None
        if job.status == "failed":
            self.error = f"cannot read the labels: {job.error}"
        else:
            self.labels_ready += 1

    def spectrum(self) -> dict | None:
        """Values of every band at :attr:`pixel`, with names and wavelengths; None if unset."""
        row, col = self.pixel
        if row < 0 or self.image is None:
            return None
        return {
            "band": self.catalog.band_names(self.dataset, self.image),
            "wavelength": self.catalog.wavelengths(self.dataset, self.image),
            "value": self.catalog.pixel(self.dataset, self.image, row, col).tolist(),
        }

    def histogram(self, bins: int = 64) -> tuple[np.ndarray, np.ndarray, str]:
        """Counts and edges of the shown layer (the red channel in RGB mode), on an overview."""
        name = self.shown_layers()[0]
        sub = render.overview(self.layer_data(name), 1_000_000)
        finite = sub[np.isfinite(sub)]
        if finite.size == 0:
            return np.zeros(bins), np.linspace(0, 1, bins + 1), name
        counts, edges = np.histogram(finite, bins=bins)
        return counts, edges, name

    def registration(self) -> dict | None:
        """Registration offsets per band group (DSTL data sets), from ``describe()``."""
        ds = self.catalog.dataset(self.dataset)
        if getattr(ds, "kind", "") != "dstl":
            return None
        info = ds.describe()
        for key in ("registration", "offsets", "registration_offsets"):
            if key in info and info[key]:
                val = info[key]
                if isinstance(val, dict) and self.image in val:
                    return val[self.image]
                return val
        return None

    def click(self, x: float | None, y: float | None) -> None:
        """Select the pixel under plot coordinates ``(x, y)`` (ignored outside the image)."""
        log.debug("click at x=%s y=%s", x, y)
        if x is None or y is None or self.image is None:
            return
        h, w = self.shape
        col, row = int(np.floor(x)), int(np.floor(y))
        if 0 <= row < h and 0 <= col < w:
            self.pixel = (row, col)
