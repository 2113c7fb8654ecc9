"""Browser tests: the served dashboard in headless chromium (Playwright on Debian's chromium).

One server per session (a subprocess on a free 127.0.0.1 port); every wait is on a condition.
Screenshots go to docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.app.conftest import REPO, AppServer, sample_available, wait_until

pytestmark = pytest.mark.ui


def _has_search() -> bool:
    try:
        import satseg.search as search
    except ImportError:
        return False
    return hasattr(search, "StudyStore") and hasattr(search, "run_search")


@pytest.fixture(scope="session")
def server(tmp_path_factory, request):
    root = tmp_path_factory.mktemp("ui")
    data, dubai = [], None
    if sample_available():
        data.append("sample")
    else:
        try:
            dubai = request.getfixturevalue("dubai_path")
        except pytest.skip.Exception:
            pytest.skip("neither the bundled sample nor the real Dubai data is available")
    try:
        from satseg.datasets.synth import write_synthetic_dstl

        write_synthetic_dstl(root / "dstl", scenes=1, size=600, seed=0)
        data.append(str(root / "dstl"))
    except ImportError:
        pass
    srv = AppServer(data, [str(root / "study.db")], root / "server.log", dubai=dubai)
    srv.store = root / "study.db"
    srv.has_sample = "sample" in data
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def pixel_std(png: bytes) -> float:
    from PIL import Image

    return float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32).std())


def open_app(page, server):
    page.route("**/fonts.googleapis.com/**", lambda route: route.abort())
    page.goto(server.url)
    page.wait_for_selector(".bands-plot canvas", timeout=120_000)
    # The other tabs are built right after the page loads; wait until they are.
    wait_until(lambda: page.locator(".pn-loading").count() == 0, 120, 0.2, "the deferred tabs")


def open_tab(page, name: str) -> None:
    page.locator(".bk-tab", has_text=name).first.click()


def click_settled(loc, settle_s: float = 0.5, timeout: float = 60.0) -> None:
    """Click ``loc`` once its box has stayed put for ``settle_s``. A tab just shown (or a
    status line that grows) is laid out by Bokeh for a moment after the element is visible and
    Playwright's own stability check (two animation frames) has passed, and a click then lands
    where the button was: a Stop click once reached nothing."""
    loc.wait_for(state="visible", timeout=timeout * 1000)
    t_end = time.monotonic() + timeout
    last, since = loc.bounding_box(), time.monotonic()
    while time.monotonic() < t_end:
        time.sleep(0.1)
        box = loc.bounding_box()
        if box != last:
            last, since = box, time.monotonic()
        elif box is not None and time.monotonic() - since >= settle_s:
            break
    loc.click()


def plot_image(page, selector: str, min_std: float = 8.0) -> bytes:
    """A screenshot of the plot once it shows real content (not a flat canvas)."""
    loc = page.locator(selector).first
    return wait_until(lambda: (lambda png: png if pixel_std(png) > min_std else None)(loc.screenshot()),
                      60, 0.5, f"{selector} to show an image")


def select(page, label: str, value: str) -> None:
    page.locator(".bk-input-group", has_text=label).locator("select").first.select_option(value)


def widget(page, label: str, kind: str = "select", scope: str = ""):
    """The ``kind`` element of the visible widget labelled exactly ``label`` (under ``scope``)."""
    group = page.locator(f"{scope} .bk-input-group".strip()).filter(
        has=page.locator("label", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))
    return group.locator(kind).locator("visible=true").first


_DEEP_TEXT = """e => { const out = [];
  const walk = n => { if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.childNodes) {
      if (c.nodeType === 3) out.push(c.textContent);
      else if (!['STYLE', 'SCRIPT', 'LINK'].includes(c.nodeName)) walk(c); } };
  walk(e); return out.join(' '); }"""


def enter(loc, value: str) -> None:
    """Type ``value`` into an input and press Enter (Panel's text inputs commit on Enter)."""
    loc.fill(value)
    loc.press("Enter")


def text(loc) -> str:
    """The text of an element and everything inside it, shadow roots included (Panel renders
    panes in shadow DOM, which ``inner_text`` does not enter), with spaces normalised."""
    return re.sub(r"\s+", " ", loc.evaluate(_DEEP_TEXT)).strip()


def colour_pixels(png: bytes, rgb: tuple[int, int, int], tol: int = 30, crop_right: int = 0) -> int:
    """Pixels of ``png`` within ``tol`` (per channel) of ``rgb``."""
    from PIL import Image

    arr = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    if crop_right:
        arr = arr[:, :-crop_right]
    return int((np.abs(arr - np.asarray(rgb, np.int16)).max(axis=-1) <= tol).sum())


_COLORBAR_TITLES = """() => Bokeh.documents.flatMap(d => [...d._all_models.values()])
    .filter(m => m.constructor.__name__ === 'ColorBar').map(m => m.title)"""


def test_bands_tab_renders_and_band_change_updates(page, server, screenshots):
    open_app(page, server)
    before = plot_image(page, ".bands-plot")
    assert page.locator(".bands-plot canvas").count() >= 1
    first_layer = widget(page, "Band or index").input_value()
    assert first_layer != "blue"
    assert first_layer in page.evaluate(_COLORBAR_TITLES)
    select(page, "Band or index", "blue")
    wait_until(lambda: page.locator(".bands-plot").first.screenshot() != before, 30, 0.3,
               "the plot to change after a band change")
    # The colour bar is titled with the band shown.
    wait_until(lambda: "blue" in page.evaluate(_COLORBAR_TITLES), 10, 0.2, "the colour bar title")
    assert first_layer not in page.evaluate(_COLORBAR_TITLES)
    after = plot_image(page, ".bands-plot")
    diff = np.abs(np.asarray(_img(after), float) - np.asarray(_img(before), float)).mean()
    assert diff > 1.0
    # A click on a pixel draws its spectrum.
    spectrum = page.locator(".spectrum-plot").first
    empty = spectrum.screenshot()
    box = page.locator(".bands-plot canvas").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    wait_until(lambda: spectrum.screenshot() != empty, 30, 0.3, "the pixel spectrum")
    page.mouse.move(5, 600)  # no hover tooltip in the screenshot
    page.screenshot(path=str(screenshots / "bands.png"))


def _img(png: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("L")


def test_hyperspace_bad_yaml_shows_message_and_changes_nothing(page, server, screenshots):
    open_app(page, server)
    open_tab(page, "Hyperspace")
    editor = page.locator(".space-yaml textarea").first
    editor.wait_for(timeout=60_000)
    fields_before = page.locator(".bk-input-group input[type=checkbox]").count()
    page.screenshot(path=str(screenshots / "hyperspace.png"))
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("learning_rate: low: 1")
    page.locator(".apply-yaml button").first.click()
    message = page.get_by_text("the YAML is not valid at line")
    wait_until(lambda: message.count() > 0 and message.first.is_visible(), 60, 0.3,
               "the YAML error message")
    # Nothing changed: the field widgets are those of the last valid space.
    assert page.locator(".bk-input-group input[type=checkbox]").count() == fields_before


def test_auto_from_hyperspace_refuses_a_bad_budget_runs_and_stops(page, server, screenshots):
    """The Hyperspace tab's *satseg auto*: a budget too small is refused next to the controls;
    a real run starts (a `satseg auto` process), shows its stage, offers its search's store,
    and Stop ends it resumable."""
    if not server.has_sample:
        pytest.skip("the run trains on the bundled sample")
    open_app(page, server)
    open_tab(page, "Hyperspace")
    page.locator(".start-auto button").first.wait_for(timeout=60_000)
    name, budget = widget(page, "Run name", "input"), widget(page, "Budget", "input")
    enter(name, "ui-auto")
    enter(budget, "20s")
    page.locator(".start-auto button").first.click()
    error = page.locator(".hyperspace-error").first
    wait_until(lambda: "too small" in text(error) and error.is_visible(), 30, 0.3,
               "the budget error")
    enter(budget, "3m")
    page.locator(".start-auto button").first.click()
    status = page.locator(".auto-status").first
    wait_until(lambda: "ui-auto: running: stage search" in text(status), 60, 0.5,
               "the run's stage")
    assert not error.is_visible()
    assert "auto: ui-auto" in widget(page, "Study store").locator("option").all_inner_texts()
    page.locator(".auto-status").first.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "hyperspace-auto.png"))
    time.sleep(10)  # past the process's start-up: the pipeline itself takes the Ctrl-C
    click_settled(page.locator(".stop-auto button").first)
    wait_until(lambda: "stopped (Resume goes on)" in text(status), 120, 0.5,
               "the run to stop")
    assert (server.store.parent / "auto-runs" / "ui-auto" / "auto.json").is_file()
    # the Ctrl-C reached the run's trial process too: it ends without a traceback
    assert "_child.py" not in (server.store.parent / "auto-runs" / "ui-auto.log").read_text()


STUDY = "ui-quick"
ORANGE = (213, 94, 0)  # the objective plot's "best so far" line (its legend shows it)
BLUE_ON_WHITE = (77, 156, 201)  # a trial's point: #0072B2 at alpha 0.7 over white


def _trial_rows(store_path, study: str) -> list[dict]:
    from satseg.search import StudyStore

    store = StudyStore(store_path)
    return store.trial_rows(study) if store.has_study(study) else []


def _search_processes(pid: int) -> list[str]:
    """Command lines of the server's child processes that belong to a search (dask workers,
    isolated trials)."""
    import psutil

    out = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "spawn_main" in cmd or "satseg.search._child" in cmd or "distributed" in cmd:
            out.append(cmd)
    return out


@pytest.mark.skipif(not _has_search(), reason="satseg.search (study store, run_search) not installed")
def test_tiny_study_from_hyperspace_appears_in_trials(page, server, screenshots):
    """The 'quick' space, a study of 20 trials started in the Hyperspace tab: the first finishes
    (ok, objective) and shows in the Trials tab, then Stop ends the running trial and the search
    (nothing keeps running). The budget is far more than can finish before Stop is pressed: with
    2 trials the second sometimes finished first (quick trials take ~15 s), so Stop found a
    finished study."""
    if not server.has_sample:
        pytest.skip("the search trains on the bundled sample")
    open_app(page, server)
    open_tab(page, "Hyperspace")
    editor = page.locator(".space-yaml textarea").first
    editor.wait_for(timeout=60_000)
    widget(page, "Start from (bundled space)").select_option("quick")
    wait_until(lambda: "training.steps_per_epoch: 15" in editor.input_value(),
               60, 0.3, "the quick space in the YAML editor")
    enter(widget(page, "Study name", "input"), STUDY)
    enter(widget(page, "Trials", "input"), "20")
    click_settled(page.locator(".start-search button").first)
    status = page.locator(".search-status").first
    wait_until(lambda: "started 1 study of 20 trials" in text(status), 30, 0.3,
               "the search to start")

    open_tab(page, "Trials")
    objective = page.locator(".trials-objective").first
    objective.wait_for(state="visible", timeout=30_000)
    empty = objective.screenshot()
    n_orange, n_blue = colour_pixels(empty, ORANGE), colour_pixels(empty, BLUE_ON_WHITE, 25, 40)
    rows = page.locator(".tabulator-row")
    wait_until(lambda: rows.count() >= 1, 240, 1.0, "a trial row in the Trials table")
    summary = page.locator(".trials-summary").first
    wait_until(lambda: "ok: 1" in text(summary), 300, 1.0, "the first trial to finish ok")
    # The objective plot of the Trials tab (not a hidden tab's canvas) shows the finished trial:
    # its point and the legend of the best-so-far line.
    shown = wait_until(lambda: (lambda png: png if colour_pixels(png, ORANGE) >= n_orange + 10 and
                                colour_pixels(png, BLUE_ON_WHITE, 25, crop_right=40) >= n_blue + 4
                                else None)(objective.screenshot()),
                       30, 0.5, "the finished trial in the objective plot")
    assert shown != empty

    # Stop: the second trial is asked to stop, the search ends. (satseg checks the stop request
    # once per training batch, so a trial still loading its data ends when training starts or
    # is killed after the 30 s grace; then the local cluster closes. On a loaded 2-core CI
    # machine that took over 120 s once, hence the long timeout.)
    open_tab(page, "Hyperspace")
    click_settled(page.locator(".stop-search button").first)
    # The click reached the page's search (it says so at once); once it did not, and the
    # search ran all its trials while this test waited for it to stop.
    try:
        wait_until(lambda: "stop requested" in text(status) or "stopped" in text(status), 20,
                   0.3, "the page to take the Stop click")
    except AssertionError:
        page.screenshot(path=str(screenshots / "hyperspace-stop-not-taken.png"))
        raise
    wait_until(lambda: f"finished: {STUDY}: stopped" in text(status), 300, 0.5,
               "the search to end after Stop")
    rows_db = _trial_rows(server.store, STUDY)
    ok = [r for r in rows_db if r["status"] == "ok"]
    assert [r["trial_id"] for r in ok][:1] == [0], rows_db
    for r in ok:
        assert isinstance(r["objective"], float) and 0.0 <= r["objective"] <= 1.0
    assert all(r["status"] in ("ok", "stopped") for r in rows_db), rows_db
    assert len(rows_db) < 20 and any(r["status"] == "stopped" for r in rows_db), rows_db
    from satseg.search import StudyStore

    assert StudyStore(server.store).study_state(STUDY) == "stopped"
    wait_until(lambda: not _search_processes(server.proc.pid), 60, 0.5,
               "the dask workers and trial processes to exit")

    open_tab(page, "Trials")
    wait_until(lambda: f"ok: {len(ok)}" in text(summary) and "running" not in text(summary),
               30, 0.5, "the final trial states in the Trials tab")
    ok_rows = page.locator(".tabulator-row").filter(
        has=page.locator('.tabulator-cell[tabulator-field="status"]', has_text=re.compile(r"^ok$")))
    # The table is redrawn by the tab's periodic refresh (every 2 s), apart from the summary.
    wait_until(lambda: ok_rows.count() == len(ok), 30, 0.5, "the finished trials' table rows")
    shown_objectives = sorted(
        float(ok_rows.nth(i).locator('.tabulator-cell[tabulator-field="objective"]').inner_text())
        for i in range(ok_rows.count()))
    assert shown_objectives == pytest.approx(sorted(r["objective"] for r in ok), abs=1e-3)
    # Pick the finished trials in the table: their learning curves are drawn.
    curves = page.locator(".trials-curves").first
    no_curves = curves.screenshot()
    for i in range(ok_rows.count()):
        ok_rows.nth(i).locator("input[type=checkbox]").first.check()
    wait_until(lambda: curves.screenshot() != no_curves, 30, 0.5, "the trials' learning curves")
    page.screenshot(path=str(screenshots / "trials.png"))


@pytest.fixture(scope="module")
def finished_study(server):
    """``(study, ok trial ids)``: a study in the server's store with finished ('ok') trials that
    kept their models: the one the test above made, else one made now with the CLI
    (``satseg search --space quick --trials 1``)."""
    from satseg.search import StudyStore

    store = StudyStore(server.store)
    for name in store.study_names():
        ok = [r["trial_id"] for r in store.trial_rows(name) if r["status"] == "ok"
              and store.trial(name, r["trial_id"])["artifacts"].get("run_dir")]
        if ok:
            return name, ok
    if not server.has_sample:
        pytest.skip("the search trains on the bundled sample")
    subprocess.run([sys.executable, "-m", "satseg", "search", "--space", "quick", "--trials", "1",
                    "--store", str(server.store), "--study", "cli-quick", "--no-progress"],
                   check=True, cwd=REPO, timeout=600)
    return "cli-quick", [r["trial_id"] for r in store.trial_rows("cli-quick") if r["status"] == "ok"]


def _numbers(s: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.\d+", s)]


@pytest.mark.skipif(not _has_search(), reason="satseg.search (study store, run_search) not installed")
def test_prediction_overlay_in_results(page, server, screenshots, finished_study):
    """Results: finished trials' models predict an image; their overlays and per-class Jaccard
    show."""
    from satseg.search import StudyStore

    study, ok_ids = finished_study
    trial_id, other = ok_ids[0], (ok_ids[1] if len(ok_ids) > 1 else None)
    store = StudyStore(server.store)
    per_class = store.trial(study, trial_id)["per_class"]
    assert per_class
    open_app(page, server)
    widget(page, "Study").select_option(study)
    open_tab(page, "Results")
    pred = page.locator(".results-prediction").first
    pred.wait_for(state="visible", timeout=60_000)
    widget(page, "Trial (best first)").select_option(str(trial_id))
    jaccard = page.locator(".results-jaccard").first

    def has_trial_scores() -> bool:
        # the table first shows the demo model (the same class names): wait for the trial's values
        shown = _numbers(text(jaccard))
        return all(c in text(jaccard) for c in per_class) and all(
            any(abs(v - j) < 1.1e-3 for v in shown) for j in per_class.values())

    wait_until(has_trial_scores, 60, 0.5, f"trial {trial_id}'s per-class Jaccard {per_class} in "
               "the table")
    image = widget(page, "Image")
    first_image = image.locator("option").first.get_attribute("value")
    image.select_option(first_image)
    panes = [pred]
    if other is not None:
        widget(page, "Second trial").select_option(str(other))
        panes.append(page.locator(".results-second").first)
    befores = [plot_image(page, f".results-{k}") for k in ("prediction", "second")[:len(panes)]]
    page.locator(".predict-button button").first.click()
    message = page.locator(".predict-message").first
    wait_until(lambda: "done in" in text(message), 180, 0.5, "the prediction")

    def changed(loc, before):
        def check():
            png = loc.screenshot()
            diff = np.abs(np.asarray(_img(png), float) - np.asarray(_img(before), float))
            return png if diff.mean() > 2.0 else None

        return check

    for loc, before in zip(panes, befores, strict=True):  # the image alone before: now overlaid
        after = wait_until(changed(loc, before), 120, 0.5, "a prediction overlay over the image")
        assert pixel_std(after) > 8.0
    assert page.locator(".results-error").locator("visible=true").count() == 0
    page.mouse.move(5, 600)
    page.screenshot(path=str(screenshots / "results.png"))
