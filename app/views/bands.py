"""Bands tab: any band, index or RGB composite of an image at full resolution, with histogram,
per-pixel spectrum, ground-truth overlay and (DSTL) registration offsets.

Nothing heavy runs on the server's event loop: a change of selection (data set, image, band,
mode, stretch, classes, clicked pixel) reads and computes what the plots need in a thread pool
(:meth:`BandsView.prepare`), then, back on the session's thread, sets the selects consistently
and bumps :attr:`BandsView.frame` (or ``label_frame``, ``spectrum_frame``); the plots draw only
from what was prepared (:attr:`BandsView.drawn`). Without a browser session (tests, notebooks)
the same work runs synchronously.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import panel as pn
import param

from app import render
from app.catalog import Catalog
from app.jobs import readable_error

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


#: Reads and computations of every session (numpy, rasterio and dask release the GIL).
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="satseg-app-bands")
HIST_PERCENTILES = (0.5, 99.5)


def held(doc: Any, fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` run with the document's events held, so that the changes it makes (image,
    overlay, legend, extent, selects) reach the browser as one message and one layout."""

    def run() -> None:
        from panel.io.document import hold

        with hold(doc):
            fn()

    return run


class Inbox:
    """Results of one session's background work, each applied once on the session's thread:
    by the next-tick callback that :func:`offload` schedules for it or, should that callback be
    lost, by the page's periodic refresh (:meth:`BandsView.poll`).

    Why: a next-tick callback added from a worker thread while the page's session was being set
    up was sometimes never run (seen once in four page loads: the first picture never came,
    the plot kept its empty axes); the refresh bounds such a loss to its period."""

    def __init__(self) -> None:
        self._items: deque[Callable[[], None]] = deque()

    def put(self, fn: Callable[[], None]) -> None:
        self._items.append(fn)

    def __len__(self) -> int:
        return len(self._items)

    def drain(self) -> None:
        """Run the waiting results in order (each once, whichever thread of the session's
        callbacks gets it first)."""
        while True:
            try:
                fn = self._items.popleft()
            except IndexError:
                return
            fn()


def offload(work: Callable[[], Any], done: Callable[[Any], None],
            failed: Callable[[BaseException], None], inbox: Inbox) -> None:
    """Run ``work()`` in the thread pool, then ``done(result)`` (or ``failed(exc)``) on the
    session's thread; synchronously when there is no browser session. The result waits in
    ``inbox`` until applied (see :class:`Inbox`)."""
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        try:
            result = work()
        except Exception as exc:  # noqa: BLE001 - reported by the view
            failed(exc)
            return
        done(result)
        return

    def finished(fut: Future) -> None:
        exc = fut.exception()
        # add_next_tick_callback is the one thread-safe Document method; next_tick skips a
        # session whose tab closed meanwhile (bokeh raised AttributeError on its destroyed doc).
        from app.serverfix import next_tick

        if exc is not None:
            item: Callable[[], None] = lambda: failed(exc)  # noqa: E731
        else:
            result = fut.result()
            item = lambda: done(result)  # noqa: E731
        inbox.put(item)
        next_tick(doc, held(doc, inbox.drain))

    _POOL.submit(work).add_done_callback(finished)


def robust_histogram(arr: np.ndarray, bins: int = 64,
                     percentiles: tuple[float, float] = HIST_PERCENTILES) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of the finite pixels between two percentiles (on an overview of large
    arrays): a few extreme values (NDVI near a zero denominator) no longer squeeze the histogram
    into one bar. Pixels outside the range are not counted."""
    sub = render.overview(np.asarray(arr), 1_000_000)
    finite = sub[np.isfinite(sub)]
    if finite.size == 0:
        return np.zeros(bins), np.linspace(0, 1, bins + 1)
    lo, hi = (float(v) for v in np.percentile(finite, percentiles))
    if not hi > lo:
        lo, hi = lo - 0.5, lo + 0.5
    counts, edges = np.histogram(finite, bins=bins, range=(lo, hi))
    return counts, edges


@dataclass(frozen=True)
class Selection:
    """What the user picked: a snapshot of the view's parameters, handed to the thread pool."""

    dataset: str
    image: str | None
    mode: str
    layer: str | None
    red: str | None
    green: str | None
    blue: str | None
    percentiles: tuple[float, float]
    auto_range: bool
    value_range: tuple[float, float]
    show_labels: bool
    label_classes: tuple[str, ...]

    def shown_layers(self) -> list[str]:
        names = [self.layer] if self.mode == "Single layer" else [self.red, self.green, self.blue]
        return [str(n) for n in names]


@dataclass
class Frame:
    """Everything the image plot, histogram and registration table draw for one selection."""

    sel: Selection
    shape: tuple[int, int]
    single: np.ndarray | None = None
    limits: tuple[float, float] = (0.0, 1.0)
    rgb: np.ndarray | None = None
    channels: list[np.ndarray] = field(default_factory=list)
    hist: tuple[np.ndarray, np.ndarray, str] | None = None
    registration: dict | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        return self.sel.dataset, self.sel.image


class BandsView(param.Parameterized):
    """State and plots of the Bands tab."""

    dataset: param.Selector = param.Selector(objects=[], doc="data set (found under the server's --data paths)")
    image: param.Selector = param.Selector(objects=[], doc="scene or image id of the data set")
    mode: param.Selector = param.Selector(objects=["Single layer", "RGB composite"], default="Single layer",
                          doc="one band/index with a colour map, or three as red, green, blue")
    layer: param.Selector = param.Selector(objects=[], doc="band or spectral index shown in single-layer mode")
    red: param.Selector = param.Selector(objects=[], doc="band or index shown as red")
    green: param.Selector = param.Selector(objects=[], doc="band or index shown as green")
    blue: param.Selector = param.Selector(objects=[], doc="band or index shown as blue")
    percentiles = param.Range(default=(2.0, 98.0), bounds=(0.0, 100.0),
                              doc="percentile stretch: these percentiles map to the ends of the scale")
    cmap: param.Selector = param.Selector(objects=CMAPS, default="viridis", doc="colour map of single-layer mode")
    auto_range = param.Boolean(default=True, doc="colour range from the percentiles (else the fixed range)")
    value_range = param.Range(default=(0.0, 1.0), doc="fixed colour range of single-layer mode")
    show_labels = param.Boolean(default=True, doc="draw the ground truth over the image")
    label_classes = param.ListSelector(default=[], objects=[], doc="classes drawn in the overlay")
    label_alpha = param.Number(default=0.45, bounds=(0.0, 1.0), doc="overlay opacity")
    pixel = param.Tuple(default=(-1, -1), length=2, doc="(row, col) of the last clicked pixel")
    error = param.String(default="", doc="last error, shown in the page")
    busy = param.Boolean(default=False, doc="the image plot waits for a read or computation")
    frame = param.Integer(default=0, doc="bumped when the image layers of a selection are ready")
    label_frame = param.Integer(default=0, doc="bumped when the overlay of a selection is ready")
    spectrum_frame = param.Integer(default=0, doc="bumped when the clicked pixel's spectrum is ready")
    extent = param.Integer(default=0, doc="bumped when another image is drawn (full extent)")

    def __init__(self, catalog: Catalog, **params):
        self.catalog = catalog
        self._memo: dict = {}
        self._memo_lock = threading.Lock()
        self._gen = {"frame": 0, "labels": 0, "spectrum": 0}
        self._applying = False
        self.drawn: Frame | None = None
        self.inbox = Inbox()
        #: the :attr:`frame` whose image the plot last rasterised (0: no picture yet); set by
        #: the plot's callback, read by the page to build the other tabs after the first picture
        self.painted = 0
        #: ((data set, image), class index map, colour table) of the ground truth shown
        self.overlay: tuple[tuple, np.ndarray, np.ndarray] | None = None
        self.legend: list[tuple[str, str]] = []
        self.spectrum_data: dict | None = None
        super().__init__(**params)
        names = catalog.names()
        self.param.dataset.objects = names
        if names:
            if self.dataset not in names:
                self._applying = True
                try:
                    self.dataset = names[0]
                finally:
                    self._applying = False
            self._request("dataset")

    # ---------------------------------------------------------------- state changes
    def selection(self) -> Selection:
        return Selection(
            str(self.dataset), self.image, self.mode, self.layer, self.red, self.green, self.blue,
            tuple(self.percentiles), bool(self.auto_range), tuple(self.value_range),  # type: ignore[arg-type]
            bool(self.show_labels), tuple(self.label_classes))

    @param.depends("dataset", watch=True)
    def _on_dataset(self) -> None:
        self._request("dataset")

    @param.depends("image", watch=True)
    def _on_image(self) -> None:
        self._request("image")

    @param.depends("mode", "layer", "red", "green", "blue", "percentiles", "auto_range",
                   "value_range", watch=True)
    def _on_layer(self) -> None:
        self._request("layer")

    @param.depends("show_labels", "label_classes", watch=True)
    def _on_labels(self) -> None:
        self._request_labels()

    @param.depends("pixel", watch=True)
    def _on_pixel(self) -> None:
        self._request_spectrum()

    def _request(self, level: str) -> None:
        """Prepare the plots of the current selection off the event loop (``level``: what
        changed: "dataset", "image" or "layer")."""
        if self._applying:
            return
        self._gen["frame"] += 1
        gen, sel = self._gen["frame"], self.selection()
        self.busy = True

        def done(result) -> None:
            if gen == self._gen["frame"]:
                self._apply(*result)

        def failed(exc: BaseException) -> None:
            if gen != self._gen["frame"]:
                return
            what = {"dataset": f"cannot open data set {sel.dataset!r}",
                    "image": f"cannot read image {sel.image!r}"}.get(level, "cannot draw the image")
            self.error = f"{what}: {readable_error(exc)}"
            log.warning("%s", self.error)
            self.busy = False

        offload(lambda: self.prepare(sel, level), done, failed, self.inbox)

    def prepare(self, sel: Selection, level: str = "layer") -> tuple[Selection, dict, Frame | None]:
        """Read and compute what the plots draw for ``sel`` (any thread). Returns the selection
        completed for the data set or image (``level`` "dataset" / "image": the image list,
        layers, red/green/blue and classes come from the new one), the select options that
        change (with ``"labels"``, the new image's overlay and legend: the page then draws
        image and ground truth in one update), and the frame."""
        cat = self.catalog
        changes: dict[str, Any] = {}
        if level == "dataset":
            ds = cat.dataset(sel.dataset)
            ids = cat.image_ids(sel.dataset)
            classes = [c.name for c in ds.classes]
            changes.update(images=ids, classes=classes)
            sel = replace(sel, image=sel.image if sel.image in ids else (ids[0] if ids else None),
                          label_classes=tuple(classes))
        if sel.image is None:
            return sel, changes, None
        if level in ("dataset", "image"):
            layers = cat.layers(sel.dataset, sel.image)
            changes["layers"] = layers
            r, g, b = (str(n) for n in _default_rgb(cat.band_names(sel.dataset, sel.image)))
            if level == "image" and all(n in layers for n in (sel.red, sel.green, sel.blue)):
                r, g, b = str(sel.red), str(sel.green), str(sel.blue)  # kept from the image before
            sel = replace(sel, layer=sel.layer if sel.layer in layers else layers[0],
                          red=r, green=g, blue=b)
            changes["labels"] = self._prepare_labels(sel)
        return sel, changes, self._frame(sel)

    def _frame(self, sel: Selection) -> Frame:
        cat = self.catalog
        stack = cat.stack(sel.dataset, str(sel.image))
        frame = Frame(sel, cat.shape(sel.dataset, str(sel.image)),
                      registration=stack.attrs.get("registration") or None)
        if sel.mode == "Single layer":
            arr = cat.layer(sel.dataset, str(sel.image), str(sel.layer))
            frame.single = arr
            frame.limits = (render.percentile_limits(arr, *sel.percentiles) if sel.auto_range
                            else (float(sel.value_range[0]), float(sel.value_range[1])))
            frame.hist = (*robust_histogram(arr), str(sel.layer))
        else:
            frame.channels = [cat.layer(sel.dataset, str(sel.image), n) for n in sel.shown_layers()]
            frame.rgb = self._composite(sel, frame.channels)
            frame.hist = (*robust_histogram(frame.channels[0]), str(sel.red))
        return frame

    def _apply(self, sel: Selection, changes: dict, frame: Frame | None) -> None:
        """On the session's thread: selects and values from ``sel``, then redraw."""
        self._applying = True
        try:
            # Options first, values after: a widget given new options may push back a value of
            # its own (a class-ticks group kept only the classes both data sets have).
            if "images" in changes:
                self.param.image.objects = changes["images"]
            if "classes" in changes:
                self.param.label_classes.objects = changes["classes"]
            if "layers" in changes:
                for p in ("layer", "red", "green", "blue"):
                    self.param[p].objects = changes["layers"]
            with param.parameterized.batch_call_watchers(self):
                self.image = sel.image
                self.label_classes = list(sel.label_classes)
                if sel.image is not None:
                    self.layer, self.red, self.green, self.blue = sel.layer, sel.red, sel.green, sel.blue
                if frame is not None and sel.auto_range and frame.single is not None:
                    # The fixed range starts from the stretch: unticking "auto" keeps the picture.
                    self.value_range = (round(frame.limits[0], 6), round(frame.limits[1], 6))
        finally:
            self._applying = False
        new_image = frame is None or self.drawn is None or self.drawn.key != frame.key
        self.drawn = frame
        self.error = ""
        if "labels" in changes:
            # Drawn with the frame below; a request still on its way is for the image before.
            self._gen["labels"] += 1
            self.overlay, self.legend = changes["labels"]
        if new_image:
            self.extent += 1
            self.spectrum_data = None
            self._applying = True
            try:
                self.pixel = (-1, -1)
            finally:
                self._applying = False
            self.spectrum_frame += 1
        self.frame += 1
        self.busy = False
        if new_image and "labels" not in changes:
            self._request_labels()

    # ---------------------------------------------------------------- overlay and spectrum
    def _request_labels(self) -> None:
        if self._applying:
            return
        self._gen["labels"] += 1
        gen, sel = self._gen["labels"], self.selection()

        def done(result) -> None:
            if gen == self._gen["labels"]:
                self.overlay, self.legend = result
                self.label_frame += 1

        def failed(exc: BaseException) -> None:
            if gen == self._gen["labels"]:
                self.error = f"cannot read the labels: {readable_error(exc)}"

        offload(lambda: self._prepare_labels(sel), done, failed, self.inbox)

    def _prepare_labels(self, sel: Selection):
        drawn = self._overlay(sel)
        if drawn is None:
            return None, []
        labels = self.catalog.labels(sel.dataset, str(sel.image))
        legend = [(c.name, c.colour) for c in labels.classes if c.name in sel.label_classes]
        return ((sel.dataset, sel.image), *drawn), legend

    def _request_spectrum(self) -> None:
        if self._applying:
            return
        self._gen["spectrum"] += 1
        gen = self._gen["spectrum"]

        def done(result) -> None:
            if gen == self._gen["spectrum"]:
                self.spectrum_data = result
                self.spectrum_frame += 1

        def failed(exc: BaseException) -> None:
            if gen == self._gen["spectrum"]:
                self.error = f"cannot read the pixel's spectrum: {readable_error(exc)}"

        offload(self.spectrum, done, failed, self.inbox)

    def poll(self) -> None:
        """Periodic refresh hook of the dashboard: results whose callback was lost (see
        :class:`Inbox`)."""
        if len(self.inbox):
            log.info("applying %d background result(s) whose callback did not run",
                     len(self.inbox))
            held(pn.state.curdoc, self.inbox.drain)()

    # ---------------------------------------------------------------- data
    @property
    def shape(self) -> tuple[int, int]:
        return self.catalog.shape(self.dataset, self.image)

    def layer_data(self, name: str) -> np.ndarray:
        return self.catalog.layer(self.dataset, self.image, name)

    def shown_layers(self) -> list[str]:
        return self.selection().shown_layers()

    def color_limits(self) -> tuple[float, float]:
        """Colour range of single-layer mode."""
        if not self.auto_range:
            return tuple(self.value_range)  # type: ignore[return-value]
        return render.percentile_limits(self.layer_data(self.layer), *self.percentiles)

    def _memoised(self, key: tuple, make):
        """Full-resolution arrays are kept between pans and zooms (last 4 keys)."""
        with self._memo_lock:
            if key in self._memo:
                return self._memo[key]
        value = make()
        with self._memo_lock:
            self._memo[key] = value
            while len(self._memo) > 4:
                self._memo.pop(next(iter(self._memo)))
        return value

    def composite(self) -> np.ndarray:
        """Stretched RGB ``(H, W, 3)`` in [0, 1] of the red, green, blue selections."""
        sel = replace(self.selection(), mode="RGB composite")
        return self._composite(sel, [self.layer_data(n) for n in sel.shown_layers()])

    def _composite(self, sel: Selection, chans: list[np.ndarray]) -> np.ndarray:
        def make():
            limits = [render.percentile_limits(c, *sel.percentiles) for c in chans]
            return render.rgb_from_channels(chans, limits)

        key = ("rgb", sel.dataset, sel.image, sel.red, sel.green, sel.blue, sel.percentiles)
        return self._memoised(key, make)

    def overlay_rgba(self) -> np.ndarray | None:
        """RGBA ground-truth overlay of the enabled classes, or None (no labels / hidden)."""
        drawn = self._overlay(self.selection())
        return None if drawn is None else drawn[1][drawn[0]]

    def _overlay(self, sel: Selection) -> tuple[np.ndarray, np.ndarray] | None:
        """The class index map of the enabled classes and its colour table
        (:func:`render.class_index`, :func:`render.class_lut`), or None."""
        if not sel.show_labels or sel.image is None:
            return None
        labels = self.catalog.labels(sel.dataset, sel.image)
        if labels is None:
            return None
        names = [c.name for c in labels.classes]
        enabled = [n in sel.label_classes for n in names]
        key = ("labels", sel.dataset, sel.image, tuple(enabled))
        index = self._memoised(key, lambda: render.class_index(labels.masks, enabled))
        # Opaque colours: the plot applies label_alpha as the layer's opacity.
        return index, render.class_lut([c.colour for c in labels.classes], 1.0)

    def spectrum(self) -> dict | None:
        """Values of every band at :attr:`pixel`, with names and wavelengths; None if unset."""
        row, col = self.pixel
        if row < 0 or self.image is None:
            return None
        return {
            "band": self.catalog.band_names(self.dataset, self.image),
            "wavelength": self.catalog.wavelengths(self.dataset, self.image),
            "value": self.catalog.pixel(self.dataset, self.image, row, col).tolist(),
            "pixel": (row, col),
        }

    def histogram(self, bins: int = 64) -> tuple[np.ndarray, np.ndarray, str]:
        """Counts and edges of the shown layer (the red channel in RGB mode) between its 0.5 and
        99.5 percentiles, on an overview."""
        name = self.shown_layers()[0]
        counts, edges = robust_histogram(self.layer_data(name), bins)
        return counts, edges, name

    def registration(self) -> dict | None:
        """Registration offsets per band group of the image (DSTL scenes), else None."""
        if self.image is None:
            return None
        return self.catalog.stack(self.dataset, self.image).attrs.get("registration") or None

    def click(self, x: float | None, y: float | None) -> None:
        """Select the pixel under plot coordinates ``(x, y)`` (ignored outside the image)."""
        log.debug("click at x=%s y=%s", x, y)
        if x is None or y is None or self.image is None:
            return
        h, w = self.drawn.shape if self.drawn is not None else self.shape
        col, row = int(np.floor(x)), int(np.floor(y))
        if 0 <= row < h and 0 <= col < w:
            self.pixel = (row, col)
