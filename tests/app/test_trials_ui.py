"""Browser tests of the Hyperspace status and the Trials table (headless chromium).

The study is written to a real SQLite store the way a search in another process leaves it (the
demo's ``satseg search`` in a terminal): state ``running``, its planned number of trials in its
settings, finished trials with histories. Screenshots go to test-results/screenshots/.
"""

from __future__ import annotations

import re

import pytest

from tests.app.conftest import AppServer, sample_available, wait_until
from tests.app.test_ui import open_app, open_tab, text

pytestmark = pytest.mark.ui
STUDY = "terminal-study"


def _write_study(path) -> None:
    from satseg.search import StudyStore, load_space

    store = StudyStore(path)
    space = load_space("quick")
    store.create_study(STUDY, space, data="sample", settings={"n_trials": 10})
    store.update_study(STUDY, state="running")
    base = {k: (v["options"][0] if isinstance(v, dict) and "options" in v else
                v["low"] if isinstance(v, dict) else v) for k, v in space.to_dict()["params"].items()}
    for tid in range(8):  # 6 ok (enough for parameter importance), 1 failed, 1 running
        params = {**base, "training.learning_rate": 0.001 * (1 + tid),
                  "data.class_balance": 0.07 * tid}
        store.add_trial(STUDY, tid, params, space_version=1, status="running")
        store.update_trial(STUDY, tid, started=1_796_180_000.0 + 100 * tid)
        if tid < 6:
            for epoch in (1, 2):
                store.add_history(STUDY, tid, {"epoch": epoch, "loss": 1.0 / epoch,
                                               "val_jaccard": 0.1 * epoch + 0.01 * tid})
            store.finish_trial(STUDY, tid, status="ok", objective=0.2 + 0.01 * tid,
                               per_class={"Building": 0.2})
        elif tid == 6:
            store.finish_trial(STUDY, tid, status="fail", error="ModelError: out of memory")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not sample_available():
        pytest.skip("the bundled sample is not installed")
    root = tmp_path_factory.mktemp("trials-ui")
    _write_study(root / "study.db")
    srv = AppServer(["sample"], [str(root / "study.db")], root / "server.log")
    try:
        # patient: at load 13 the first page took 16 s, and every retry adds a session
        srv.wait_ready(timeout=300.0, request_timeout=120.0)
        yield srv
    finally:
        srv.stop()


def test_hyperspace_status_shows_the_running_studys_state(page, server, screenshots):
    open_app(page, server)
    open_tab(page, "Hyperspace")
    status = page.locator(".search-status").first
    wait_until(lambda: f"{STUDY}: running, 7 / 10 trials done, 1 running" in text(status), 30, 0.3,
               "the study's state in the Hyperspace status")
    assert "idle" not in text(status)
    page.screenshot(path=str(screenshots / "hyperspace-status.png"))


_BOKEH_TITLES = """() => Bokeh.documents.flatMap(d => [...d._all_models.values()])
    .filter(m => m.constructor.__name__ === 'Title').map(m => m.text).join(' | ')"""


def _cells(page, field: str) -> list[str]:
    return [c.strip() for c in
            page.locator(f'.trials-table .tabulator-cell[tabulator-field="{field}"]').all_inner_texts()]


def test_trials_status_filter_and_readable_times(page, server, screenshots):
    open_app(page, server)
    open_tab(page, "Trials")
    wait_until(lambda: len(_cells(page, "status")) == 8, 30, 0.3, "eight rows in the trials table")
    wait_until(lambda: "R²" in page.evaluate(_BOKEH_TITLES), 60, 0.5,
               "the parameter importance chart")
    started = _cells(page, "started")
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", s) for s in started), started
    durations = [d for d in _cells(page, "duration") if d]
    assert all(re.fullmatch(r"\d+:\d\d:\d\d", d) for d in durations), durations
    page.screenshot(path=str(screenshots / "trials-all.png"), full_page=True)
    # The filter is a multi-select of the statuses: drop 'ok', only the others stay.
    chips = page.locator(".status-filter .choices__list--multiple .choices__item")
    assert chips.count() == 3, chips.all_inner_texts()  # fail, ok, running: all shown
    page.locator('.status-filter .choices__item[data-value="ok"] .choices__button').first.click()
    wait_until(lambda: sorted(_cells(page, "status")) == ["fail", "running"], 30, 0.3,
               "the table to show only failed and running trials")
    page.screenshot(path=str(screenshots / "trials-filtered.png"), full_page=True)
    # The learning-curve select names the metric it draws.
    metric = page.locator(".curve-metric select").first
    assert metric.input_value() == "val_jaccard"


def test_results_shows_the_demo_model_with_a_legend(page, server, screenshots):
    from satseg.datasets.demo_model import demo_model_path

    if demo_model_path() is None:
        pytest.skip("the demo model is not installed")
    open_app(page, server)
    open_tab(page, "Results")
    trial = page.locator(".bk-input-group", has_text="Trial (best first)").locator("select").first
    wait_until(lambda: "demo model" in trial.input_value(), 30, 0.3, "the demo model selected")
    legend = page.locator(".results-legend").first
    wait_until(lambda: all(c in text(legend) for c in ("Building", "Water", "Vegetation")), 30, 0.3,
               "the class legend")
    assert "views" in text(page.locator(".tta-buttons").first)  # labelled TTA buttons
    page.locator(".predict-button button").first.click()
    status = page.locator(".predict-message").first
    wait_until(lambda: "the demo model on" in text(status) and " done in " in text(status), 240, 0.5,
               "the demo model's prediction")
    assert "trial 5" in text(status)  # the second trial (the study's best) reported too
    page.screenshot(path=str(screenshots / "results-demo-model.png"), full_page=True)


def test_closing_tabs_prints_no_traceback(browser, server):
    """Every tab this module opened and closed (and one more, closed at once after loading)
    leaves no traceback in the server's terminal."""
    def closed() -> int:
        return server.log_path.read_text().count("a browser tab closed its connection")

    before = closed()
    tab = browser.new_page(viewport={"width": 1600, "height": 1100})
    open_app(tab, server)
    open_tab(tab, "Trials")
    tab.close()
    wait_until(lambda: closed() > before, 60, 0.5, "the server to see the tab close")
    log = server.log_path.read_text()
    assert "Traceback" not in log and "Uncaught exception" not in log, log[-3000:]
