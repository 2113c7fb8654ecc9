"""The Trials tab's layout. Plots are rasterised with datashader above DATASHADE_ABOVE trials."""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
from holoviews.operation.datashader import dynspread, rasterize

from app.views.trials import TrialsView

PLOT = dict(responsive=True, height=300, tools=["hover"], show_grid=True)
RUNG_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]

#: ``pn.bind`` untyped: Panel's stubs declare its function a generator.
bind: Any = pn.bind


def log_ticks(values) -> list[tuple[float, str]]:
    """Ticks at 1, 2 and 5 times the powers of ten inside the values' range, labelled as plain
    numbers (0.001, 0.002, 0.005): Bokeh's own log ticks on one decade are a crowd of exponents."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        return []
    lo, hi = v.min(), v.max()
    out = []
    for k in range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1):
        for m in (1, 2, 5):
            t = m * 10.0 ** k
            if lo / 1.5 <= t <= hi * 1.5:
                out.append((t, f"{t:.6g}"))
    return out if len(out) >= 2 else [(t, f"{t:.3g}") for t in (lo, hi)]


def epoch_ticker():
    """Whole numbers only on an axis of epochs or trial ids."""
    from bokeh.models import AdaptiveTicker

    return AdaptiveTicker(min_interval=1, mantissas=[1, 2, 5], num_minor_ticks=0)


def _points(view: TrialsView, data: pd.DataFrame, x: str, y: str, **opts):
    pts = hv.Points(data, [x, y], [c for c in data.columns if c not in (x, y)])
    if view.aggregate():
        return dynspread(rasterize(pts, aggregator="count", dynamic=False, width=600, height=300)
                         ).opts(cmap="Blues", cnorm="eq_hist", colorbar=False, **opts)
    return pts.opts(size=5, alpha=0.7, color="#0072B2", **opts)


def _objective_ylim(values) -> dict:
    """For one objective value (one trial): a range around it, not Bokeh's default of about
    +-1. The objective axes of the Trials tab are linked, so every plot of it sets the same."""
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    return {"ylim": (lo - 0.1 * max(1.0, abs(lo)), hi + 0.1 * max(1.0, abs(hi)))} if hi == lo else {}


def objective_plot(view: TrialsView):
    """Objective of each finished trial and the best so far."""
    df = view.best_so_far()
    if df.empty:
        return hv.Curve([], "trial_id", "objective").opts(title="no finished trial yet", **PLOT)
    best = hv.Curve(df, "trial_id", "best", label="best so far").opts(color="#D55E00", line_width=2)
    extra = _objective_ylim(df["objective"])
    trials = view.trials
    if ("rung" in trials and "trial_id" in trials and trials["rung"].notna().any()
            and not view.aggregate()):
        # Multi-fidelity search: one colour per rung (the budget a trial reached).
        rungs = trials.set_index("trial_id")["rung"]
        d = df.assign(rung=df["trial_id"].map(rungs).fillna(-1).astype(int))
        pts = hv.Overlay([
            hv.Points(d[d["rung"] == r], ["trial_id", "objective"], ["rung"], label=f"rung {r}").opts(
                size=6, alpha=0.8, color=RUNG_COLOURS[i % len(RUNG_COLOURS)])
            for i, r in enumerate(sorted(d["rung"].unique()))])
        return (pts * best).opts(title=f"objective per trial ({len(df)} finished, colour: rung)",
                                 legend_position="bottom_right", xticks=epoch_ticker(),
                                 xformatter="%d", **PLOT, **extra)
    return (_points(view, df[["trial_id", "objective"]], "trial_id", "objective") * best).opts(
        title=f"objective per trial ({len(df)} finished)", legend_position="bottom_right",
        xticks=epoch_ticker(), xformatter="%d", **PLOT, **extra)


def importance_plot(view: TrialsView):
    """Importance of each searched parameter for the objective (permutation importance of a
    random-forest surrogate, satseg.search.importance), largest on top."""
    imp = view.importance()
    opts = dict(responsive=True, height=300, show_grid=True)
    if imp is None or isinstance(imp, str):
        why = "computing ..." if imp is None else imp.replace("parameter importance ", "")
        return hv.Bars([], "param", "importance").opts(
            title=f"parameter importance: {why}", xaxis=None, yaxis=None, **opts)
    d = imp.iloc[::-1].assign(param=lambda x: x["param"].astype(str))
    r2 = float(imp["r2"].iloc[0]) if len(imp) else 0.0
    return hv.Bars(d, "param", ["importance", "std"]).opts(
        invert_axes=True, color="#0072B2", tools=["hover"], xlabel="", ylabel="importance (share)",
        title=f"parameter importance (random-forest surrogate, R² {r2:.2f})",
        **opts)


def parallel_plot(view: TrialsView):
    """Parallel coordinates: one line per trial through its scaled parameters, coloured by objective."""
    long = view.parallel()
    if long.empty:
        return hv.Curve([]).opts(title="parallel coordinates: no finished trial yet", **PLOT)
    axes = list(dict.fromkeys(long["axis"]))
    n_axes = len(axes)
    # long is ordered axis-major: reshape to (trials, axes) and draw each trial as one polyline.
    pos = long["position"].to_numpy().reshape(n_axes, -1).T
    val = long["value"].to_numpy().reshape(n_axes, -1).T
    obj = long["objective"].to_numpy().reshape(n_axes, -1).T
    if view.aggregate():
        # One NaN-separated path: datashader draws thousands of polylines in one pass.
        sep = np.full((pos.shape[0], 1), np.nan)
        data = np.column_stack([np.hstack([pos, sep]).ravel(), np.hstack([val, sep]).ravel(),
                                np.hstack([obj, sep]).ravel()])
        path = hv.Path([data], ["position", "value"], vdims=["objective"])
    else:
        path = hv.Path([np.column_stack([p, v, o]) for p, v, o in zip(pos, val, obj, strict=True)],
                       ["position", "value"], vdims=["objective"])
    ticks = [(i, a) for i, a in enumerate(axes)]
    opts = dict(xticks=ticks, xrotation=30, ylabel="scaled value", xlabel="",
                title="parallel coordinates (colour: objective)", **{k: v for k, v in PLOT.items() if k != "tools"})
    if view.aggregate():
        import datashader as ds

        return rasterize(path, aggregator=ds.mean("objective"), width=800, height=300,
                         dynamic=False).opts(
            cmap="viridis", colorbar=True, clabel="objective (mean)", **opts)
    return path.opts(color="objective", cmap="viridis", colorbar=True, line_width=1.5, alpha=0.6, **opts)


def param_plots(view: TrialsView):
    """Objective against each parameter (categories as codes)."""
    num = view.numeric_params()
    fin = view.finished()
    if num.empty or not len(num.columns):
        return hv.Layout([hv.Curve([]).opts(title="no parameters yet", width=400, height=220)])
    obj = pd.to_numeric(fin["objective"]).to_numpy(dtype=float)
    plots = []
    for col in num.columns:
        d = pd.DataFrame({col: num[col].to_numpy(), "objective": obj})
        cats = view.categories.get(col)
        logx = not cats and view.log_axis(col, d[col].to_numpy()) and bool(np.all(d[col] > 0))
        extra: dict = (dict(xticks=list(enumerate(cats)), xrotation=30 if len(cats) > 3 else 0)
                       if cats else {})
        if logx:
            extra["xticks"] = log_ticks(d[col])
        extra.update(_objective_ylim(obj))
        # Fixed sizes: responsive plots inside a layout collapse to no width in Bokeh.
        plots.append(_points(view, d, col, "objective", logx=logx and not cats, title=col,
                             width=400, height=220, show_grid=True, **extra))
    return hv.Layout(plots).cols(3).opts(shared_axes=False)


def curves_plot(view: TrialsView):
    """Learning curves of the trials picked in the table (else of the best five)."""
    curves = view.curves()
    metric = view.curve_metric
    if not curves or metric is None:
        return hv.Curve([], "epoch", "value").opts(title="learning curves: no finished trial yet", **PLOT)
    overlay = []
    for tid, hist in curves.items():
        if metric in hist:
            x = hist["epoch"] if "epoch" in hist else np.arange(1, len(hist) + 1)
            overlay.append(hv.Curve((x, hist[metric]), "epoch", metric, label=f"trial {tid}"))
    which = "ticked trials" if view.selected else "5 best (tick rows for others)"
    return hv.Overlay(overlay).opts(title=f"learning curves: {metric}, {which}",
                                    legend_position="right", xticks=epoch_ticker(),
                                    xformatter="%d", **PLOT)


def _titles(columns) -> dict[str, str]:
    """Short column titles: a parameter's last name part (``model.base_filters`` -> base_filters)."""
    return {c: str(c).rsplit(".", 1)[-1] for c in columns if "." in str(c)}


def trials_layout(view: TrialsView) -> pn.viewable.Viewable:
    """The Trials tab for ``view``: status filter and metric on top; objective and parameter
    importance; the table beside the learning curves it drives; parallel coordinates; the
    objective against each parameter."""
    dep = [view.param.version, view.param.statuses]
    first = view.table()
    table = pn.widgets.Tabulator(
        first, pagination="remote", page_size=15, selectable="checkbox", show_index=False,
        header_filters=True, sizing_mode="stretch_width", height=470, disabled=True,
        name="trials-table", layout="fit_data_table", titles=_titles(first.columns),
        formatters={"error": {"type": "textarea"}}, widths={"error": 220},
        frozen_columns=["trial_id"], css_classes=["trials-table"],
        # Every row of a page drawn (at most 15), not only those in view: the table is updated
        # while its tab is hidden (no height), where the virtual renderer drew none.
        configuration={"renderVertical": "basic"},
    )

    def _update_table(*_):
        df = view.table()
        table.titles = _titles(df.columns)
        table.value = df
        # Keep the picked trials picked (their rows move as trials arrive or statuses change).
        if "trial_id" in df and view.selected:
            ids = list(df["trial_id"])
            table.selection = [ids.index(t) for t in view.selected if t in ids]

    view.param.watch(_update_table, ["version", "statuses"])

    def _select(event):
        df = table.value
        view.selected = [df.iloc[i]["trial_id"] for i in event.new if i < len(df)] if "trial_id" in df else []

    table.param.watch(_select, "selection")
    w = pn.widgets
    controls = pn.Row(
        w.MultiChoice.from_param(view.param.statuses, name="Status filter", width=360,
                                 css_classes=["status-filter"], sizing_mode="fixed"),
        w.Select.from_param(view.param.curve_metric, name="Learning-curve metric", width=220,
                            sizing_mode="fixed", css_classes=["curve-metric"]),
        w.Checkbox.from_param(view.param.higher_is_better, name="higher objective is better",
                              align="end", sizing_mode="fixed", width=220),
    )
    summary = bind(lambda *_: pn.pane.Markdown(
        f"**{view.studies.study or 'no study'}**: {len(view.trials)} trials, "
        + ", ".join(f"{k}: {v}" for k, v in view.trials["status"].value_counts().items())
        if "status" in view.trials else "no trials yet", css_classes=["trials-summary"]), *dep)
    error = pn.pane.Alert(bind(lambda a, b: a or b, view.param.error, view.studies.param.error),
                          alert_type="danger",
                          visible=bind(lambda a, b: bool(a or b), view.param.error, view.studies.param.error))
    return pn.Column(
        error, summary, controls,
        pn.Row(pn.pane.HoloViews(bind(lambda *_: objective_plot(view), *dep, view.param.higher_is_better),
                                 sizing_mode="stretch_width", css_classes=["trials-objective"], linked_axes=False),
               pn.pane.HoloViews(bind(lambda *_: importance_plot(view), *dep,
                                         view.param.importance_version),
                                 sizing_mode="stretch_width", css_classes=["trials-importance"],
                                 linked_axes=False)),
        # The table beside the learning curves it drives (3:2 of the width).
        pn.Row(pn.Column("#### Trials (tick rows to draw their learning curves)", table,
                         sizing_mode="stretch_width", styles={"flex": "3 1 0"}),
               pn.pane.HoloViews(bind(lambda *_: curves_plot(view), view.param.selected,
                                         view.param.curve_metric, view.param.version,
                                         view.param.statuses),
                                 sizing_mode="stretch_width", css_classes=["trials-curves"], linked_axes=False,
                                 margin=(40, 5, 5, 5), styles={"flex": "2 1 0"})),
        pn.pane.HoloViews(bind(lambda *_: parallel_plot(view), *dep), sizing_mode="stretch_width", linked_axes=False),
        # One fixed-size pane per parameter: a HoloViews Layout in one pane collapses its plots.
        pn.Column(bind(lambda *_: pn.GridBox(
            *[pn.pane.HoloViews(el, sizing_mode="fixed", linked_axes=False) for el in param_plots(view).values()],
            ncols=3), *dep), css_classes=["trials-params"]),
        sizing_mode="stretch_width",
    )
