"""The Bands tab's layout: controls, the rasterised image with overlay, histogram, spectrum."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
from app.jobs import readable_error
from app.views.bands import BandsView, _coords
from app.views.raster import raster_dmap

IMAGE_OPTS = dict(
    frame_height=520, data_aspect=1, invert_yaxis=True,
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

    def wrapped(view: BandsView, empty):
        try:
            return fn(view)
        except Exception as exc:  # noqa: BLE001 - shown in the page
            view.error = readable_error(exc)
            return empty

    return wrapped


@_guard
def _single(view: BandsView):
    if view.image is None or view.mode != "Single layer":
        return _empty_image()
    arr = view.layer_data(view.layer)
    xs, ys = _coords(arr.shape)
    lo, hi = view.color_limits()
    return hv.Image((xs, ys, arr), kdims=["x", "y"], vdims=[hv.Dimension("value", label=view.layer,
                                                                     range=(lo, hi))])


@_guard
def _rgb(view: BandsView):
    if view.image is None or view.mode != "RGB composite":
        return _empty_rgba()
    rgb = view.composite()
    xs, ys = _coords(rgb.shape[:2])
    alpha = np.ones(rgb.shape[:2], np.float32)
    return hv.RGB((xs, ys, rgb[..., 0], rgb[..., 1], rgb[..., 2], alpha), kdims=["x", "y"],
                  vdims=list("RGBA"))


@_guard
def _labels(view: BandsView):
    rgba = view.overlay_rgba()
    if rgba is None:
        return _empty_rgba()
    xs, ys = _coords(rgba.shape[:2])
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
    label_params = hv.streams.Params(view, ["dataset", "image", "show_labels", "label_classes"])
    shaded = raster_dmap(lambda: _single(view, _empty_image()), [params]).apply.opts(
        cmap=view.param.cmap, colorbar=True)
    rgb_r = raster_dmap(lambda: _rgb(view, _empty_rgba()), [params])
    lab_r = raster_dmap(lambda: _labels(view, _empty_rgba()), [label_params]).apply.opts(
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
