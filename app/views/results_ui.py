"""The Results tab's layout: Jaccard bars, prediction overlays with linked pan/zoom, predict button."""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import panel as pn

from app.jobs import readable_error
from app.render import ERROR_COLOURS
from app.views.bands_ui import RGB_OPTS, _empty_rgba
from app.views.legend import legend_html
from app.views.raster import raster_dmap, reset_view, strided
from app.views.results import ResultsView

TILE = {**{k: v for k, v in RGB_OPTS.items() if k not in ("data_aspect", "frame_height")},
        "tools": []}
TILE_WIDTH = 330

def tile_height(h: int, w: int) -> int:
    """Frame height of a Results tile (:data:`TILE_WIDTH` wide) for an ``h`` x ``w`` image:
    its aspect (square pixels), kept within 160-640 px."""
    return int(min(max(TILE_WIDTH * h / w, 160), 640))


#: ``pn.bind`` untyped: Panel's stubs declare its function a generator.
bind: Any = pn.bind


def _rgb_el(arr: np.ndarray | None, label: str, step: int = 1) -> hv.RGB:
    if arr is None:
        return _empty_rgba()
    xs, ys, arr = strided(arr, step)
    chans = [arr[..., i] for i in range(arr.shape[-1])]
    if len(chans) == 3:
        chans.append(np.ones(arr.shape[:2], np.float32))
    return hv.RGB((xs, ys, *chans), kdims=["x", "y"], vdims=list("RGBA"), label=label)


def _safe(view: ResultsView, fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - shown in the page
        view.error = readable_error(exc)
        return None


def jaccard_bars(view: ResultsView):
    df = view.jaccard_table()
    if df.empty:
        return hv.Bars([], ["class", "trial"], "jaccard").opts(title="no per-class Jaccard yet",
                                                                responsive=True, height=300)
    return hv.Bars(df, ["class", "trial"], "jaccard").opts(
        title="validation Jaccard per class", responsive=True, height=320, tools=["hover"],
        ylim=(0, 1), xrotation=30, multi_level=True, show_legend=True, color="trial", cmap="Category10",
        legend_position="right")


def results_layout(view: ResultsView) -> pn.viewable.Viewable:
    """The Results tab for ``view``."""
    state = hv.streams.Params(view, ["dataset", "image", "trial", "other", "error_class", "threshold",
                                     "version", "tta", "palette"])

    def base(step):
        return _rgb_el(_safe(view, view.rgb) if view.image else None, "image", step)

    def pred(which, step):
        tid = view.trial if which == "trial" else view.other
        ov = _safe(view, lambda: view.overlay(tid)) if tid is not None else None
        return _rgb_el(ov, view.label(tid), step)

    def truth(step):
        return _rgb_el(_safe(view, view.truth_overlay) if view.image else None, "ground truth", step)

    def errors(step):
        em = _safe(view, lambda: view.error_map(view.trial)) if view.trial is not None else None
        return _rgb_el(em, "errors", step)

    def shape():
        return view.catalog.shape(view.dataset, view.image)

    def tile_size() -> tuple[int, int]:
        try:
            h, w = shape() if view.image else (1, 1)
        except Exception:  # noqa: BLE001 - the error shows in the page already
            h, w = 1, 1
        return TILE_WIDTH, tile_height(h, w)

    # One base image shared by the four panes (their axes are linked: a pan redraws all four).
    # Rasterised at the tiles' fixed frame size: with the browser's PlotSize stream, every pane
    # was drawn again once the browser had laid the tab out (eight renders on the server's
    # event loop right after page load, delaying the first interaction by up to 0.4 s).
    def dmap(fn):
        return raster_dmap(fn, [state], shape=shape, size=tile_size)

    bases = [dmap(base)] * 4
    tops = [dmap(lambda s: pred("trial", s)), dmap(lambda s: pred("other", s)), dmap(truth),
            dmap(errors)]
    layers = bases[:1] + tops
    p1, p2, gt = (d.apply.opts(alpha=view.param.alpha) for d in tops[:3])
    em = tops[3]
    legend = " ".join(f"<span style='color:{c}'>&#9632;</span> {k}" for k, c in ERROR_COLOURS.items())

    def grid(image, active):
        # Fixed frames with the image's aspect (square pixels); rebuilt when the image changes.
        if not active:
            return pn.pane.Markdown("")
        fh = tile_size()[1]
        reset_view(*layers)
        tile = dict(TILE, frame_width=TILE_WIDTH, frame_height=fh)
        panes = [
            pn.pane.HoloViews((img * layer).opts(hv.opts.RGB(**tile), hv.opts.Overlay(title=title)),
                              linked_axes=True, sizing_mode="fixed", css_classes=[f"results-{css}"])
            for img, layer, title, css in zip(bases, (p1, p2, gt, em), (
                "prediction (selected trial)", "prediction (second trial)", "ground truth",
                "error map of the class"), ("prediction", "second", "truth", "errors"), strict=True)
        ]
        # Separate panes in one layout: Panel links their x/y ranges (pan/zoom together).
        return pn.GridBox(*panes, ncols=2, css_classes=["results-grid"])

    w = pn.widgets
    predict_btn = w.Button(name="Predict with the selected trial", button_type="primary", css_classes=["predict-button"])

    def _predict(_=None):
        view.predict(view.trial)
        if view.other is not None:
            view.predict(view.other)

    predict_btn.on_click(_predict)
    progress = w.Progress(value=bind(lambda p: max(p, 0), view.param.progress), max=100,
                          visible=bind(lambda p: p >= 0, view.param.progress), width=300)
    controls = pn.Column(
        w.Select.from_param(view.param.trial, name="Trial (best first)"),
        w.Select.from_param(view.param.other, name="Second trial"),
        w.Select.from_param(view.param.image, name="Image"),
        pn.pane.Markdown("Test-time augmentation (views averaged; more is slower)",
                         margin=(8, 10, 0, 10), css_classes=["tta-label"]),
        w.RadioButtonGroup.from_param(view.param.tta, name="", button_style="outline",
                                      orientation="vertical", css_classes=["tta-buttons"]),
        predict_btn, progress,
        pn.pane.Markdown(bind(lambda m: m, view.param.status_text), css_classes=["predict-message"]),
        w.Select.from_param(view.param.error_class, name="Class of the error map"),
        pn.pane.HTML(legend),
        w.FloatSlider.from_param(view.param.threshold, name="Threshold", step=0.05),
        w.FloatSlider.from_param(view.param.alpha, name="Overlay opacity", step=0.05),
        w.Select.from_param(view.param.palette, name="Class colours", css_classes=["palette"]),
        w.MultiChoice.from_param(view.param.compare, name="Trials in the Jaccard bars"),
        width=320,
    )
    error = pn.pane.Alert(bind(lambda e: e, view.param.error), alert_type="danger",
                          visible=bind(bool, view.param.error), css_classes=["results-error"])
    bars = pn.pane.HoloViews(bind(lambda *_: jaccard_bars(view), view.param.compare,
                                     view.studies.param.version), sizing_mode="stretch_width", linked_axes=False)

    def _jaccard_table(*_):
        df = _safe(view, view.jaccard_wide)
        if df is None or df.empty:
            return pn.pane.Markdown("*No per-class Jaccard: pick finished trials above.*")
        return pn.pane.DataFrame(df, index=False, float_format="{:.3f}".format,
                                 sizing_mode="stretch_width")

    table = pn.Column(bind(_jaccard_table, view.param.compare, view.studies.param.version),
                      css_classes=["results-jaccard"], sizing_mode="stretch_width")
    legend_pane = pn.pane.HTML(bind(lambda *_: legend_html(view.legend(), "Classes:"),
                                       view.param.palette, view.param.dataset),
                               css_classes=["results-legend"], sizing_mode="stretch_width")
    main = pn.Column(error, bars, table, legend_pane,
                     bind(grid, view.param.image, view.param.active), sizing_mode="stretch_width")
    return pn.Row(controls, main, sizing_mode="stretch_width")
