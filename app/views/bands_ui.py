"""The Bands tab's layout: controls, the rasterised image with overlay, histogram, spectrum."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn

from app.jobs import readable_error
from app.views.bands import BandsView, _coords
from app.views.raster import EMPTY, raster_dmap, reset_view, strided


def _fast_ranges(plot, element) -> None:
    """Bokeh reports a zoom to the server only when its level-of-detail mode ends, 500 ms after
    the last wheel event by default; 80 ms keeps a zoom-to-image well under a second."""
    plot.state.lod_timeout = 80


IMAGE_OPTS = dict(
    hooks=[_fast_ranges],
    frame_height=520, data_aspect=1, invert_yaxis=True,
    tools=["hover", "tap"], active_tools=["wheel_zoom"], xlabel="column", ylabel="row", show_legend=False,
)
#: RGB layers (composite, class overlays) get no hover: it would show packed RGBA integers.
RGB_OPTS = {**IMAGE_OPTS, "tools": ["tap"]}
STATE = ["dataset", "image", "mode", "layer", "red", "green", "blue", "percentiles",
         "auto_range", "value_range"]


def _empty_image() -> hv.Image:
    xs, ys = _coords((2, 2))
    return hv.Image((xs, ys, np.full((2, 2), np.nan, np.float32)), kdims=["x", "y"], vdims=["value"],
                    label=EMPTY)


def _empty_rgba() -> hv.RGB:
    """A transparent 2x2 RGBA (datashader cannot regrid a 1x1 RGB)."""
    xs, ys = _coords((2, 2))
    return hv.RGB((xs, ys, *(np.zeros((2, 2), np.float32),) * 4), kdims=["x", "y"], vdims=list("RGBA"),
                  label=EMPTY)


def _guard(fn):
    """Run a plot callback; on error record a readable message and draw nothing."""

    def wrapped(view: BandsView, empty, *args):
        try:
            return fn(view, *args)
        except Exception as exc:  # noqa: BLE001 - shown in the page
            view.error = readable_error(exc)
            return empty

    return wrapped


@_guard
def _single(view: BandsView, step: int = 1):
    if view.image is None or view.mode != "Single layer":
        return _empty_image()
    lo, hi = view.color_limits()
    xs, ys, arr = strided(view.layer_data(view.layer), step)
    return hv.Image((xs, ys, arr), kdims=["x", "y"], vdims=[hv.Dimension("value", label=view.layer,
                                                                     range=(lo, hi))])


@_guard
def _rgb(view: BandsView, step: int = 1):
    if view.image is None or view.mode != "RGB composite":
        return _empty_rgba()
    xs, ys, rgb = strided(view.composite(), step)
    alpha = np.ones(rgb.shape[:2], np.float32)
    return hv.RGB((xs, ys, rgb[..., 0], rgb[..., 1], rgb[..., 2], alpha), kdims=["x", "y"],
                  vdims=list("RGBA"))


@_guard
def _labels(view: BandsView, step: int = 1):
    rgba = view.overlay_rgba(wait=False)
    if rgba is None:
        return _empty_rgba()
    xs, ys, rgba = strided(rgba, step)
    return hv.RGB((xs, ys, *(rgba[..., i] for i in range(4))), kdims=["x", "y"], vdims=list("RGBA"),
                  label="labels")


@_guard
def _histogram(view: BandsView):
    if view.image is None:
        return hv.Histogram(([0, 1], [0]))
    counts, edges, name = view.histogram()
    return hv.Histogram((edges, counts), kdims=[hv.Dimension("v", label=name)], vdims=["pixels"])


def _empty_spectrum():
    data = {"position": [], "value": [], "band": []}
    return (hv.Curve(data, "position", ["value", "band"])
            * hv.Scatter(data, "position", ["value", "band"])).opts(title="click a pixel for its spectrum")


@_guard
def _spectrum(view: BandsView):
    """Values of every band at the clicked pixel against wavelength (nm) where every band has
    one, else against band order; the band name shows on hover. The dimensions never change, so
    the plot updates in place."""
    spec = view.spectrum()
    if spec is None:
        return _empty_spectrum()
    wl = np.asarray(spec["wavelength"], dtype=float)
    row, col = view.pixel
    by_wl = bool(np.all(np.isfinite(wl)) and len(np.unique(wl)) == len(wl))
    pos = wl if by_wl else np.arange(len(wl), dtype=float)
    order = np.argsort(pos)
    names = [f"{b} ({w:.0f} nm)" if np.isfinite(w) else str(b) for b, w in zip(spec["band"], wl, strict=True)]
    data = {"position": pos[order], "value": np.asarray(spec["value"])[order],
            "band": np.asarray(names)[order]}
    curve = hv.Curve(data, "position", ["value", "band"])
    pts = hv.Scatter(data, "position", ["value", "band"])
    xlabel = "wavelength (nm)" if by_wl else "band"
    ticks = None if by_wl else [(i, str(b)) for i, b in enumerate(spec["band"])]
    return (curve * pts).opts(hv.opts.Scatter(size=6, tools=["hover"]),
                              hv.opts.Curve(xlabel=xlabel, xticks=ticks),
                              hv.opts.Overlay(title=f"spectrum at row {row}, column {col}"))


def bands_layout(view: BandsView) -> pn.viewable.Viewable:
    """The Bands tab for ``view``."""
    params = hv.streams.Params(view, STATE)
    label_params = hv.streams.Params(view, ["dataset", "image", "show_labels", "label_classes",
                                            "labels_ready"])
    def shape():
        return view.shape

    single = raster_dmap(lambda step: _single(view, _empty_image(), step), [params], shape=shape)
    rgb_r = raster_dmap(lambda step: _rgb(view, _empty_rgba(), step), [params], shape=shape)
    labels = raster_dmap(lambda step: _labels(view, _empty_rgba(), step), [label_params], shape=shape)
    shaded = single.apply.opts(cmap=view.param.cmap, colorbar=True, clabel=view.param.layer)
    lab_r = labels.apply.opts(alpha=view.param.label_alpha)

    def colorbar_title(plot, element) -> None:
        # HoloViews titles the colour bar once, when the plot is made; a hook runs on every
        # update, so the title follows the band or index shown.
        bar = plot.handles.get("colorbar")
        title = view.layer if view.mode == "Single layer" else ""
        if bar is not None and bar.title != title:
            bar.title = title

    image_opts = {**IMAGE_OPTS, "hooks": [*IMAGE_OPTS["hooks"], colorbar_title]}
    plot = (shaded * rgb_r * lab_r).opts(hv.opts.Image(**image_opts), hv.opts.RGB(**RGB_OPTS))

    hist = hv.DynamicMap(lambda **_: _histogram(view, hv.Histogram(([0, 1], [0]))),
                         streams=[hv.streams.Params(view, ["dataset", "image", "mode", "layer", "red"])])
    spec = hv.DynamicMap(lambda **_: _spectrum(view, _empty_spectrum()),
                         streams=[hv.streams.Params(view, ["pixel", "image", "dataset"])])

    w = pn.widgets
    controls = pn.Column(
        w.Select.from_param(view.param.image, name="Image"),
        w.RadioButtonGroup.from_param(view.param.mode, button_type="primary", button_style="outline"),
        w.Select.from_param(view.param.layer, name="Band or index"),
        pn.Row(w.Select.from_param(view.param.red, name="Red", width=95),
               w.Select.from_param(view.param.green, name="Green", width=95),
               w.Select.from_param(view.param.blue, name="Blue", width=95)),
        w.RangeSlider.from_param(view.param.percentiles, name="Percentile stretch", step=0.5),
        w.Select.from_param(view.param.cmap, name="Colour map"),
        w.Checkbox.from_param(view.param.auto_range, name="Colour range from percentiles"),
        w.EditableRangeSlider.from_param(view.param.value_range, name="Fixed colour range"),
        pn.layout.Divider(),
        w.Checkbox.from_param(view.param.show_labels, name="Ground truth overlay"),
        w.CheckBoxGroup.from_param(view.param.label_classes, name="Classes"),
        w.FloatSlider.from_param(view.param.label_alpha, name="Overlay opacity", step=0.05),
        width=320,
    )
    error = pn.pane.Alert(pn.bind(lambda e: e or "", view.param.error), alert_type="danger",
                          visible=pn.bind(bool, view.param.error))

    def _registration(dataset, image):
        try:
            reg = view.registration()
        except Exception as exc:  # noqa: BLE001
            return pn.pane.Alert(readable_error(exc), alert_type="warning")
        if reg is None:
            return pn.pane.Markdown("*Registration offsets: only for DSTL-format scenes.*")
        import pandas as pd

        rows = [{"group": g, **{k: round(float(v), 3) for k, v in off.items()}}
                for g, off in reg.items() if isinstance(off, dict)]
        table = pd.DataFrame(rows) if rows else pd.DataFrame({"offsets": [str(reg)]})
        return pn.Column("**Registration offsets per band group (px, on the RGB grid)**",
                         pn.pane.DataFrame(table, index=False, width=330), width=340)

    below = pn.Row(
        pn.pane.HoloViews(hist.opts(width=330, height=240, tools=["hover"], framewise=True), linked_axes=False),
        pn.pane.HoloViews(spec.opts(hv.opts.Curve(width=420, height=240, framewise=True,
                                                  padding=0.08),
                                    hv.opts.Scatter(framewise=True, padding=0.08),
                                    hv.opts.Overlay(width=420, height=240, framewise=True)),
                          css_classes=["spectrum-plot"], linked_axes=False),
    )
    # Below the plots (beside them it was cut off at the page's edge).
    registration = pn.Column(pn.bind(_registration, view.param.dataset, view.param.image),
                             css_classes=["registration"])
    def image_plot(_shown):
        # A new plot per image: its axes start from the whole image, not the last one's zoom.
        reset_view(single, rgb_r, labels)
        # A click selects the pixel whose spectrum is drawn (a new stream for the new plot).
        tap = hv.streams.Tap(source=shaded, x=None, y=None)
        doc = pn.state.curdoc

        def on_tap(x, y):
            # HoloViews drops stream events raised inside a stream callback: set the pixel on the
            # next tick, so the spectrum's own stream fires.
            if doc is not None and doc.session_context is not None:
                doc.add_next_tick_callback(lambda: view.click(x, y))
            else:
                view.click(x, y)

        tap.add_subscriber(on_tap)
        return pn.pane.HoloViews(plot, linked_axes=False, css_classes=["bands-plot"])

    main = pn.Column(error, pn.bind(image_plot, view.param.shown), below, registration)
    return pn.Row(controls, main, sizing_mode="stretch_width")
