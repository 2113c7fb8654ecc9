"""The Hyperspace tab's layout: field widgets beside the YAML editor, study controls, advice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn
import yaml

from app.spacefields import Field
from app.views.hyperspace import HyperspaceView
from satseg.io.yamlfile import load_yaml

#: ``pn.bind`` untyped: Panel's stubs declare its function a generator.
bind: Any = pn.bind


def _field_widget(view: HyperspaceView, f: Field) -> pn.viewable.Viewable:
    """Widgets of one field; every change goes through ``view.update_field``."""
    w = pn.widgets
    enabled = w.Checkbox(name=f.name, value=f.enabled, width=260)
    enabled.param.watch(lambda e: view.update_field(f.name, enabled=e.new), "value")
    message = pn.pane.Markdown(
        bind(lambda errs: f"<span style='color:#c00'>{errs.get(f.name, '')}</span>", view.param.field_errors),
        margin=(0, 10), css_classes=["field-error"])
    parts: list = [enabled]
    if f.kind in ("float", "int"):
        low, high = float(f.low or 0.0), float(f.high or 0.0)  # set for numeric fields
        lo, hi = f.bounds or (low, high)
        lo, hi = min(lo, low), max(hi, high)
        step = 1 if f.kind == "int" else (hi - lo) / 200 or 0.01
        rng = w.EditableRangeSlider(name="range", start=lo, end=hi, value=(low, high), step=step,
                                    format="0.[00000]" if f.kind == "float" else "0", width=300)
        rng.param.watch(lambda e: view.update_field(f.name, low=e.new[0], high=e.new[1]), "value")
        log = w.Checkbox(name="log scale", value=f.log, width=100)
        log.param.watch(lambda e: view.update_field(f.name, log=e.new), "value")
        parts += [pn.Row(rng, log)]
    elif f.kind == "choice":
        labels = {str(o): o for o in f.options}
        box = w.CheckBoxGroup(options=list(labels), value=[str(o) for o in f.selected], inline=True)
        box.param.watch(lambda e: view.update_field(f.name, selected=[labels[v] for v in e.new]), "value")
        parts.append(box)
    else:
        text = w.TextInput(name="value", value=yaml.safe_dump(f.value).strip().removesuffix("..."),
                           width=300)

        def _fixed(e):
            try:
                value = load_yaml(e.new)
            except yaml.YAMLError:
                view.field_errors = {**view.field_errors, f.name: "not a valid YAML value"}
                return
            view.update_field(f.name, value=value)

        text.param.watch(_fixed, "value")
        parts.append(text)
    parts.append(message)
    return pn.Column(*parts, styles={"border-bottom": "1px solid #ddd"}, margin=(2, 5))


_MONO = """textarea { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 13px; line-height: 1.35; white-space: pre; tab-size: 2; }"""


def _status(study: str, search: str, message: str) -> str:
    """The status lines: the selected study (from the store), this page's search, the last action."""
    lines = [f"**Study:** {study}"]
    if search:
        lines.append(f"**Search started here:** {search}")
    if message:
        lines.append(message)
    return "  \n".join(lines)


def _click(fn: Callable[[], Any]) -> Callable[[Any], None]:
    """A button handler calling ``fn()`` (its result is for tests, not for the button)."""
    def handler(_event: Any) -> None:
        fn()
    return handler


def _auto_status(status: str, log: str) -> str:
    text = f"**Run:** {status}"
    if log:
        text += "\n\n```\n" + log + "\n```"
    return text


def _auto_controls(view: HyperspaceView) -> pn.viewable.Viewable:
    """``satseg auto`` on the selected data set with the space in the editor: a search, then
    the best configuration trained for the rest of the budget (app.auto_api)."""
    w = pn.widgets
    run = w.Button(name="Run auto", button_type="success", css_classes=["start-auto"])
    resume = w.Button(name="Resume", button_type="primary", css_classes=["resume-auto"])
    stop = w.Button(name="Stop", button_type="danger", css_classes=["stop-auto"])
    run.on_click(_click(view.start_auto))
    resume.on_click(_click(lambda: view.start_auto(resume=True)))
    stop.on_click(_click(view.stop_auto))
    report = pn.pane.Markdown(bind(lambda r: r, view.param.auto_report),
                              visible=bind(bool, view.param.auto_report),
                              css_classes=["auto-report"])
    return pn.Column(
        "### satseg auto",
        pn.pane.Markdown("A search, then its best configuration trained for the rest of the "
                         "budget on every image (the data set and the space above). The search's "
                         "trials appear under the store *auto: NAME*, the final model in the "
                         "Results tab as *auto run NAME*."),
        pn.Row(w.TextInput.from_param(view.param.auto_name, name="Run name", width=180),
               w.TextInput.from_param(view.param.auto_budget, name="Budget", width=100)),
        pn.Row(run, resume, stop),
        pn.pane.Markdown(bind(_auto_status, view.param.auto_status, view.param.auto_log),
                         css_classes=["auto-status"]),
        report,
    )


def hyperspace_layout(view: HyperspaceView) -> pn.viewable.Viewable:
    """The Hyperspace tab for ``view``."""
    w = pn.widgets
    fields = bind(lambda _v: pn.Column(*[_field_widget(view, f) for f in view.fields],
                                          scroll=True, height=640, width=440),
                     view.param.fields_version)
    # A plain text area, not Panel's CodeEditor: its Ace editor closes brackets and quotes as
    # they are typed (CodeEditor has no option to turn that off), so a half-typed `{` became a
    # valid `{}` and the page said "no parameters" instead of showing the YAML error.
    editor = w.TextAreaInput(value=view.yaml_text, height=560, sizing_mode="stretch_width",
                             name="", css_classes=["space-yaml"],
                             stylesheets=[_MONO])
    view.param.watch(lambda e: setattr(editor, "value", e.new), "yaml_text")
    apply_btn = w.Button(name="Apply YAML", button_type="primary", css_classes=["apply-yaml"])
    apply_btn.on_click(_click(lambda: view.set_yaml(
        editor.value_input if editor.value_input is not None else editor.value or "")))
    yaml_error = pn.pane.Alert(bind(lambda e: e, view.param.yaml_error), alert_type="danger",
                               visible=bind(bool, view.param.yaml_error), css_classes=["yaml-error"])

    start = w.Button(name="Start", button_type="success", css_classes=["start-search"])
    pause = w.Button(name="Pause", button_type="warning", css_classes=["pause-search"])
    resume = w.Button(name="Resume", button_type="primary", css_classes=["resume-search"])
    stop = w.Button(name="Stop", button_type="danger", css_classes=["stop-search"])
    start.on_click(_click(view.start))
    pause.on_click(_click(view.pause))
    resume.on_click(_click(view.resume))
    stop.on_click(_click(view.stop))
    ask = w.Button(name="Get refinement advice", css_classes=["ask-advice"])
    ask.on_click(_click(view.refresh_advice))
    apply_adv = w.Button(name="Apply advice and continue", button_type="primary")
    apply_adv.on_click(_click(view.apply_advice))

    def _advice(items):
        if not items:
            return pn.pane.Markdown("*No advice yet.*")
        rows = [f"- **{a.get('param', a.get('name', ''))}**: {a.get('message', a)}" for a in items]
        return pn.pane.Markdown("\n".join(rows))

    controls = pn.Column(
        "### Study",
        w.Select.from_param(view.param.dataset, name="Data set"),
        w.TextInput.from_param(view.param.study_name, name="Study name"),
        w.RadioButtonGroup.from_param(view.param.class_mode, button_style="outline"),
        w.MultiChoice.from_param(view.param.classes, name="Classes"),
        pn.Row(w.IntInput.from_param(view.param.n_trials, name="Trials", width=120),
               w.IntInput.from_param(view.param.parallelism, name="Parallel", width=120)),
        w.RadioButtonGroup.from_param(view.param.cluster, button_style="outline"),
        w.TextInput.from_param(view.param.scheduler, name="Scheduler address",
                               visible=view.param.cluster.rx() == "scheduler"),
        pn.Row(start, pause, resume, stop),
        pn.pane.Markdown(bind(_status, view.param.study_status, view.param.status,
                                 view.param.message), css_classes=["search-status"]),
        pn.pane.Markdown(bind(lambda s: s, view.param.workers), css_classes=["search-workers"]),
        "### Refinement",
        pn.Row(ask, apply_adv),
        pn.Column(bind(_advice, view.param.advice), css_classes=["advice"]),
        _auto_controls(view),
        width=400,
    )
    error = pn.pane.Alert(bind(lambda e: e, view.param.error), alert_type="danger",
                          visible=bind(bool, view.param.error), css_classes=["hyperspace-error"])
    return pn.Column(
        error,
        pn.Row(pn.Column("### Space (widgets)", fields),
               pn.Column("### Space (YAML)",
                         w.Select.from_param(view.param.start_from, name="Start from (bundled space)",
                                             css_classes=["start-from"]),
                         editor, apply_btn, yaml_error, sizing_mode="stretch_width"),
               controls, sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
    )
