"""The Bands tab's layout: controls, the rasterised image with overlay, histogram, spectrum."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
from app.jobs import readable_error
from app.views.bands import BandsView, _coords
from app.views.raster import raster_dmap, strided

def _fast_ranges(plot, element) -> None:
    """Bokeh reports a zoom to the server only when its level-of-detail mode ends, 500 ms after
    the last wheel event by default; 80 ms keeps a zoom-to-image well under a second."""
    plot.state.lod_timeout = 80


IMAGE_OPTS = dict(
    hooks=[_fast_ranges],
    frame_height=520, data_aspect=1, invert_yaxis=True, framewise=True,
    tools=["hover", "tap"], active_tools=["wheel_zoom"], xlabel="column", ylabel="row", show_legend=False,
)
STATE = ["dataset", "image", "mode", "layer", "red", "green", "blue", "percentiles",
         "auto_range", "value_range"]


def _empty_image() -> hv.Image:
    xs, ys = _coords((2, 2))
    return hv.Image((xs, ys, np.full((2, 2), np.nan, np.float32)), kdims=["x", "y"], vdims=["value"])


def _empty_rgba() -> hv.RGB:
    """A transparent 2x2 RGBA (datashader cannot regrid a 1x1 RGB)."""
    xs, ys = _coords((2, 2))
    return hv.RGB((xs, ys, *(np.zeros((2, 2), np.float32),) * 4), kdims=["x", "y"], vdims=list("RGBA"))


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
    return hv.RGB((xs, ys, *(rgba[..., i] for i in range(4))), kdims=["x", "y"], vdims=list("RGBA"))


@_guard
def _histogram(view: BandsView):
    if view.image is None:
        return hv.Histogram(([0, 1], [0]))
    counts, edges, name = view.histogram()
    return hv.Histogram((edges, counts), kdims=[hv.Dimension("v", label=name)], vdims=["pixels"])


@_guard
def _spectrum(view: BandsView):
    spec = view.spectrum()
    if spec is None:
        return hv.Curve([], "band", "value").opts(title="click a pixel for its spectrum")
    wl = np.asarray(spec["wavelength"], dtype=float)
    row, col = view.pixel
    title = f"spectrum at row {row}, column {col}"
    if np.all(np.isfinite(wl)) and len(np.unique(wl)) == len(wl):
        order = np.argsort(wl)
        data = {"wavelength": wl[order], "value": np.asarray(spec["value"])[order],
                "band": np.asarray(spec["band"])[order]}
        curve = hv.Curve(data, "wavelength", ["value", "band"])
        pts = hv.Scatter(data, "wavelength", ["value", "band"])
        return (curve * pts.opts(size=6, tools=["hover"])).opts(title=title, xlabel="wavelength (nm)")
    labels = [f"{b} ({w:.0f} nm)" if np.isfinite(w) else str(b)
              for b, w in zip(spec["band"], wl, strict=True)]
    data = {"band": labels, "value": spec["value"]}
    return (hv.Curve(data, "band", "value") * hv.Scatter(data, "band", "value").opts(size=6)).opts(
        title=title, xrotation=45)


def bands_layout(view: BandsView) -> pn.viewable.Viewable:
    """The Bands tab for ``view``."""
    params = hv.streams.Params(view, STATE)
    label_params = hv.streams.Params(view, ["dataset", "image", "show_labels", "label_classes",
                                            "labels_ready"])
    def image_key():
        return view.dataset, view.image

    def shape():
        return view.shape

    kw = dict(key=image_key, shape=shape)
    shaded = raster_dmap(lambda step: _single(view, _empty_image(), step), [params], **kw).apply.opts(
        cmap=view.param.cmap, colorbar=True)
    rgb_r = raster_dmap(lambda step: _rgb(view, _empty_rgba(), step), [params], **kw)
    lab_r = raster_dmap(lambda step: _labels(view, _empty_rgba(), step), [label_params], **kw).apply.opts(
        alpha=view.param.label_alpha)
    plot = (shaded * rgb_r * lab_r).opts(hv.opts.Image(**IMAGE_OPTS), hv.opts.RGB(**IMAGE_OPTS))
    tap = hv.streams.Tap(source=shaded, x=None, y=None)
    tap.add_subscriber(lambda x, y: view.click(x, y))

    hist = hv.DynamicMap(lambda **_: _histogram(view, hv.Histogram(([0, 1], [0]))),
                         streams=[hv.streams.Params(view, ["dataset", "image", "mode", "layer", "red"])])
    spec = hv.DynamicMap(lambda **_: _spectrum(view, hv.Curve([])),
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
            return pn.pane.Markdown("*Registration offsets: only for DSTL-format scenes.*", width=220)
        return pn.Column("**Registration offsets per band group (pixels)**",
                         pn.pane.JSON(reg, depth=3, theme="light"), width=300)

    below = pn.Row(
        pn.pane.HoloViews(hist.opts(width=330, height=240, tools=["hover"])),
        pn.pane.HoloViews(spec.opts(hv.opts.Curve(width=420, height=240), hv.opts.Overlay(width=420, height=240))),
        pn.bind(_registration, view.param.dataset, view.param.image),
    )
    main = pn.Column(error, pn.pane.HoloViews(plot, linked_axes=False, css_classes=["bands-plot"]), below)
    return pn.Row(controls, main, sizing_mode="stretch_width")
