"""The Bands tab's layout: controls, the rasterised image with overlay and class legend,
histogram, spectrum, registration offsets.

The plots draw only what :class:`BandsView` prepared off the event loop (``view.drawn``,
``view.overlay``, ``view.spectrum_data``): they update when its ``frame``, ``label_frame`` or
``spectrum_frame`` changes, and the image pane shows a loading spinner while ``view.busy``.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn

from app.views.bands import BandsView, _coords
from app.views.legend import legend_html
from app.views.raster import EMPTY, raster_dmap, reset_view, strided, strided_window


def _fast_ranges(plot, element) -> None:
    """Bokeh reports a zoom to the server only when its level-of-detail mode ends, 500 ms after
    the last wheel event by default; 80 ms keeps a zoom-to-image well under a second."""
    plot.state.lod_timeout = 80


FRAME_HEIGHT, MAX_FRAME_WIDTH = 520, 760


def frame_size(shape: tuple[int, int] | None) -> tuple[int, int]:
    """Screen ``(width, height)`` of the image plot's frame for an image of ``shape`` (H, W):
    the image's aspect, :data:`FRAME_HEIGHT` high unless that makes it wider than
    :data:`MAX_FRAME_WIDTH`."""
    if not shape:
        return MAX_FRAME_WIDTH, FRAME_HEIGHT
    h, w = shape
    fh, fw = FRAME_HEIGHT, round(FRAME_HEIGHT * w / h)
    if fw > MAX_FRAME_WIDTH:
        fh, fw = round(MAX_FRAME_WIDTH * h / w), MAX_FRAME_WIDTH
    return fw, fh
IMAGE_OPTS = dict(
    hooks=[_fast_ranges],
    frame_height=FRAME_HEIGHT, data_aspect=1, invert_yaxis=True,
    tools=["hover", "tap"], active_tools=["wheel_zoom"], xlabel="column", ylabel="row", show_legend=False,
)
#: RGB layers (composite, class overlays) get no hover: it would show packed RGBA integers. In RGB
#: mode the image layer under the opaque composite holds the three channels' values for hover.
RGB_OPTS = {**IMAGE_OPTS, "tools": ["tap"]}


def _empty_image() -> hv.Image:
    xs, ys = _coords((2, 2))
    return hv.Image((xs, ys, np.full((2, 2), np.nan, np.float32)), kdims=["x", "y"], vdims=["value"],
                    label=EMPTY)


def _empty_rgba() -> hv.RGB:
    """A transparent 2x2 RGBA (datashader cannot regrid a 1x1 RGB)."""
    xs, ys = _coords((2, 2))
    return hv.RGB((xs, ys, *(np.zeros((2, 2), np.float32),) * 4), kdims=["x", "y"], vdims=list("RGBA"),
                  label=EMPTY)


def _single(view: BandsView, step: int = 1):
    """Single-layer mode: the layer with its colour range. RGB mode: the three channels' raw
    values (hidden under the composite; the hover shows them)."""
    f = view.drawn
    if f is None:
        return _empty_image()
    if f.single is not None:
        xs, ys, arr = strided(f.single, step)
        return hv.Image((xs, ys, arr), kdims=["x", "y"],
                        vdims=[hv.Dimension("value", label=str(f.sel.layer), range=f.limits)])
    if not f.channels:
        return _empty_image()
    chans = [strided(c, step) for c in f.channels]
    xs, ys = chans[0][0], chans[0][1]
    vdims = [hv.Dimension(f"ch_{colour}", label=f"{name} ({colour})")
             for colour, name in zip(("red", "green", "blue"), f.sel.shown_layers(), strict=True)]
    return hv.Image((xs, ys, *(c[2] for c in chans)), kdims=["x", "y"], vdims=vdims)


def _rgb(view: BandsView, step: int = 1):
    f = view.drawn
    if f is None or f.rgb is None:
        return _empty_rgba()
    xs, ys, rgb = strided(f.rgb, step)
    alpha = np.ones(rgb.shape[:2], np.float32)
    return hv.RGB((xs, ys, rgb[..., 0], rgb[..., 1], rgb[..., 2], alpha), kdims=["x", "y"],
                  vdims=list("RGBA"))


def _labels(view: BandsView, step: int = 1, x_range=None, y_range=None):
    f, ov = view.drawn, view.overlay
    # Only the overlay of the image drawn (labels of the next image may arrive first).
    if f is None or ov is None or ov[0] != f.key:
        return _empty_rgba()
    xs, ys, index = strided_window(ov[1], step, x_range, y_range)
    if xs.size < 2 or ys.size < 2:  # the view is outside the image
        return _empty_rgba()
    rgba = ov[2][index]  # coloured on the visible, sampled pixels only
    return hv.RGB((xs, ys, *(rgba[..., i] for i in range(4))), kdims=["x", "y"], vdims=list("RGBA"),
                  label="labels")


def _histogram(view: BandsView):
    f = view.drawn
    if f is None or f.hist is None:
        return hv.Histogram(([0, 1], [0]))
    counts, edges, name = f.hist
    return hv.Histogram((edges, counts), kdims=[hv.Dimension("v", label=f"{name} (0.5-99.5 %)")],
                        vdims=["pixels"])


def _empty_spectrum():
    data = {"position": [], "value": [], "band": []}
    return (hv.Curve(data, "position", ["value", "band"])
            * hv.Scatter(data, "position", ["value", "band"])).opts(title="click a pixel for its spectrum")


def _spectrum(view: BandsView):
    """Values of every band at the clicked pixel against wavelength (nm) where every band has
    one (the axis then has numeric ticks: band names, some at one wavelength, would overlap),
    else against band order with slanted names; the band name shows on hover. The dimensions
    never change, so the plot updates in place."""
    spec = view.spectrum_data
    if spec is None:
        return _empty_spectrum()
    wl = np.asarray(spec["wavelength"], dtype=float)
    row, col = spec["pixel"]
    by_wl = bool(np.all(np.isfinite(wl)))
    pos = wl if by_wl else np.arange(len(wl), dtype=float)
    order = np.argsort(pos, kind="stable")
    names = [f"{b} ({w:.0f} nm)" if np.isfinite(w) else str(b) for b, w in zip(spec["band"], wl, strict=True)]
    data = {"position": pos[order], "value": np.asarray(spec["value"])[order],
            "band": np.asarray(names)[order]}
    curve = hv.Curve(data, "position", ["value", "band"])
    pts = hv.Scatter(data, "position", ["value", "band"])
    xlabel = "wavelength (nm)" if by_wl else "band"
    ticks = None if by_wl else [(i, str(b)) for i, b in enumerate(spec["band"])]
    return (curve * pts).opts(hv.opts.Scatter(size=6, tools=["hover"]),
                              hv.opts.Curve(xlabel=xlabel, xticks=ticks, xrotation=0 if by_wl else 60),
                              hv.opts.Overlay(title=f"spectrum at row {row}, column {col}"))


def _registration_frame(reg: dict | None):
    """Registration offsets as a table (None: not a DSTL-format scene)."""
    import pandas as pd

    if not reg:
        return None
    rows = [{"group": g, **{k: round(float(v), 3) for k, v in off.items()}}
            for g, off in reg.items() if isinstance(off, dict)]
    return pd.DataFrame(rows) if rows else pd.DataFrame({"offsets": [str(reg)]})


def _registration_pane(view: BandsView) -> pn.Column:
    """One table pane updated in place: a new pane per frame added Bokeh models, and every
    model added makes Bokeh walk the whole document (most of a band change's server time)."""
    note = pn.pane.Markdown("*Registration offsets: only for DSTL-format scenes.*")
    title = pn.pane.Markdown("**Registration offsets per band group (px, on the RGB grid)**",
                             visible=False)
    table = pn.pane.DataFrame(None, index=False, width=330, visible=False)
    shown: list = [None]

    def update(*_):
        reg = view.drawn.registration if view.drawn is not None else None
        if reg == shown[0]:
            return
        shown[0] = reg
        df = _registration_frame(reg)
        if df is not None:
            table.object = df
        note.visible, title.visible, table.visible = df is None, df is not None, df is not None

    view.param.watch(update, "frame")
    update()
    return pn.Column(note, title, table, width=340, css_classes=["registration"])


def _checkbox(view: BandsView, name: str, label: str, **kw) -> pn.widgets.CheckBoxGroup:
    """A checkbox whose label toggles it too (Bokeh's Checkbox draws its label as a plain span
    beside the box; a one-option CheckBoxGroup wraps box and text in one <label>)."""
    box = pn.widgets.CheckBoxGroup(options=[label], value=[label] if getattr(view, name) else [], **kw)

    def to_view(event):
        setattr(view, name, label in event.new)

    def from_view(event):
        want = [label] if event.new else []
        if box.value != want:
            box.value = want

    box.param.watch(to_view, "value")
    view.param.watch(from_view, name)
    return box


def _controls(view: BandsView) -> pn.Column:
    w = pn.widgets
    # Two plain inputs (the EditableRangeSlider's overflowed their spinners), shown only when the
    # colour range is fixed.
    fixed = view.param.auto_range.rx.not_()
    low = w.FloatInput(name="Colour range from", value=view.value_range[0], width=140)
    high = w.FloatInput(name="to", value=view.value_range[1], width=140)

    def to_view(*_):
        lo, hi = low.value, high.value
        if lo is not None and hi is not None and hi > lo and (lo, hi) != tuple(view.value_range):
            view.value_range = (lo, hi)

    def from_view(event):
        low.value, high.value = event.new

    low.param.watch(to_view, "value")
    high.param.watch(to_view, "value")
    view.param.watch(from_view, "value_range")
    # The controls of one mode, swapped in one change: toggling the visibility of four widgets
    # made the browser lay out the tab four times (0.3 s each beside a search).
    single_part = [
        w.Select.from_param(view.param.layer, name="Band or index"),
        w.Select.from_param(view.param.cmap, name="Colour map"),
        _checkbox(view, "auto_range", "Colour range from percentiles", css_classes=["auto-range"]),
        pn.Row(low, high, css_classes=["fixed-range"], visible=fixed),
    ]
    rgb_part = [pn.Row(w.Select.from_param(view.param.red, name="Red", width=95),
                       w.Select.from_param(view.param.green, name="Green", width=95),
                       w.Select.from_param(view.param.blue, name="Blue", width=95))]

    def part(mode: str) -> list:
        return single_part if mode == "Single layer" else rgb_part

    by_mode = pn.Column(*part(view.mode), margin=0)

    def on_mode(event) -> None:
        by_mode.objects = part(event.new)

    view.param.watch(on_mode, "mode")
    return pn.Column(
        w.Select.from_param(view.param.image, name="Image"),
        w.RadioButtonGroup.from_param(view.param.mode, button_type="primary", button_style="outline"),
        by_mode,
        w.RangeSlider.from_param(view.param.percentiles, name="Percentile stretch", step=0.5),
        pn.layout.Divider(),
        _checkbox(view, "show_labels", "Ground truth overlay", css_classes=["show-labels"]),
        w.CheckBoxGroup.from_param(view.param.label_classes, name="Classes", css_classes=["classes"]),
        w.FloatSlider.from_param(view.param.label_alpha, name="Overlay opacity", step=0.05),
        width=320,
    )


#: seconds a read or redraw may take before the image pane shows its spinner
SPINNER_DELAY_S = 0.3


def follow_busy(pane: pn.viewable.Viewable, view: BandsView) -> None:
    """``pane.loading`` follows ``view.busy``, in a browser session only once a wait has lasted
    :data:`SPINNER_DELAY_S`. Showing and hiding the spinner changes the plot's CSS classes,
    which makes the browser lay out and repaint the whole tab twice (0.5 s per update on 2
    cores); most updates are done before the spinner would have been seen."""

    def show_if_still_busy() -> None:
        if view.busy:
            pane.loading = True

    def on_busy(event) -> None:
        if not event.new:
            if pane.loading:
                pane.loading = False
            return
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            pane.loading = True
            return
        doc.add_timeout_callback(show_if_still_busy, int(SPINNER_DELAY_S * 1000))

    view.param.watch(on_busy, "busy")
    pane.loading = view.busy


def bands_layout(view: BandsView) -> pn.viewable.Viewable:
    """The Bands tab for ``view``."""
    frame = hv.streams.Params(view, ["frame"])
    label_frame = hv.streams.Params(view, ["label_frame"])

    def shape():
        return view.drawn.shape if view.drawn is not None else None

    def size():
        return frame_size(shape())

    def drawn_key():
        return view.frame

    def labels_key():
        return view.label_frame, view.drawn.key if view.drawn is not None else None

    # The frame is sized by extent_hook, so each layer is rasterised at that size from the
    # first render; the overlay is rasterised again only when it or the image changes.
    def draw_single(step: int):
        if view.drawn is not None:
            view.painted = view.frame
        return _single(view, step)

    single = raster_dmap(draw_single, [frame], shape=shape, label="layer",
                         size=size, key=drawn_key)
    rgb_r = raster_dmap(lambda step: _rgb(view, step), [frame], shape=shape, label="composite",
                        size=size, key=drawn_key)
    def visible_labels(step: int):
        rxy = labels.range_stream
        return _labels(view, step, rxy.x_range, rxy.y_range)

    labels = raster_dmap(visible_labels, [label_frame, frame], shape=shape,
                         label="labels", size=size, key=labels_key)
    shaded = single.apply.opts(cmap=view.param.cmap, colorbar=True)
    lab_r = labels.apply.opts(alpha=view.param.label_alpha)

    def colorbar_hook(plot, element) -> None:
        # HoloViews titles the colour bar once, when the plot is made; a hook runs on every
        # update, so the title follows the band or index shown (no bar in RGB mode).
        f = view.drawn
        bar = plot.handles.get("colorbar")
        single_mode = f is not None and f.single is not None
        if bar is not None:
            title = str(f.sel.layer) if single_mode and f is not None else ""
            if bar.title != title:
                bar.title = title
            bar.visible = single_mode

    def extent_hook(plot, element) -> None:
        # Another image: its full extent, which Reset returns to as well. An overlay hook runs
        # after the overlay's own range update (an element hook's ranges were overwritten).
        f = view.drawn
        if f is None:
            return
        h, w = f.shape
        # Every re-render (a zoom re-rasterises) lets HoloViews set the ranges' reset values from
        # the drawn element, the zoomed part: Reset then went there, not to the image. Keep them
        # at the whole image; the current start/end (the zoom) stay as they are.
        plot.handles["x_range"].update(reset_start=0, reset_end=w)
        plot.handles["y_range"].update(reset_start=h, reset_end=0)
        if getattr(plot, "_satseg_extent", None) == view.extent:
            return
        plot._satseg_extent = view.extent
        # The frame takes the image's aspect, so HoloViews' data_aspect logic leaves the ranges
        # alone (it pads, and with an inverted y axis mirrors, ranges of another aspect).
        fw, fh = frame_size(f.shape)
        plot.state.update(frame_height=fh, frame_width=fw)
        plot.handles["x_range"].update(start=0, end=w, reset_start=0, reset_end=w)
        plot.handles["y_range"].update(start=h, end=0, reset_start=h, reset_end=0)  # row 0 on top

    image_opts = {**IMAGE_OPTS, "hooks": [_fast_ranges, colorbar_hook]}
    plot = (shaded * rgb_r * lab_r).opts(hv.opts.Image(**image_opts), hv.opts.RGB(**RGB_OPTS),
                                         hv.opts.Overlay(hooks=[extent_hook]))
    # Another image starts from its whole extent, not the last one's zoom.
    view.param.watch(lambda *_: reset_view(single, rgb_r, labels), "extent")

    hist = hv.DynamicMap(lambda **_: _histogram(view), streams=[frame])
    spec = hv.DynamicMap(lambda **_: _spectrum(view), streams=[hv.streams.Params(view, ["spectrum_frame"])])

    # A click selects the pixel whose spectrum is drawn.
    tap = hv.streams.Tap(source=shaded, x=None, y=None)

    def on_tap(x, y):
        # HoloViews drops stream events raised inside a stream callback: set the pixel on the
        # next tick, so the view's own watchers fire.
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            doc.add_next_tick_callback(lambda: view.click(x, y))
        else:
            view.click(x, y)

    tap.add_subscriber(on_tap)

    def error_text(e: str) -> str:
        return e or ""

    def legend_text(_label_frame: int, _frame: int) -> str:
        return legend_html(view.legend, "Ground truth:")

    error = pn.pane.Alert(pn.bind(error_text, view.param.error), alert_type="danger",
                          visible=pn.bind(bool, view.param.error))
    image_pane = pn.pane.HoloViews(plot, linked_axes=False, css_classes=["bands-plot"])
    follow_busy(image_pane, view)
    legend = pn.pane.HTML(pn.bind(legend_text, view.param.label_frame, view.param.frame),
                          css_classes=["bands-legend"],
                          sizing_mode="stretch_width", min_height=20)
    below = pn.Row(
        pn.pane.HoloViews(hist.opts(width=330, height=240, tools=["hover"], framewise=True),
                          linked_axes=False, css_classes=["histogram-plot"]),
        pn.pane.HoloViews(spec.opts(hv.opts.Curve(width=420, height=240, framewise=True,
                                                  padding=0.08),
                                    hv.opts.Scatter(framewise=True, padding=0.08),
                                    hv.opts.Overlay(width=420, height=240, framewise=True)),
                          css_classes=["spectrum-plot"], linked_axes=False),
    )
    # Below the plots (beside them it was cut off at the page's edge).
    registration = _registration_pane(view)
    main = pn.Column(error, image_pane, legend, below, registration)
    return pn.Row(_controls(view), main, sizing_mode="stretch_width")
