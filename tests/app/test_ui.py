"""Browser tests: the served dashboard in headless chromium (Playwright on Debian's chromium).

One server per session (a subprocess on a free 127.0.0.1 port); every wait is on a condition.
Screenshots go to docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.app.conftest import AppServer, sample_available, wait_until

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


def plot_image(page, selector: str, min_std: float = 8.0) -> bytes:
    """A screenshot of the plot once it shows real content (not a flat canvas)."""
    loc = page.locator(selector).first
    return wait_until(lambda: (lambda png: png if pixel_std(png) > min_std else None)(loc.screenshot()),
                      60, 0.5, f"{selector} to show an image")


def select(page, label: str, value: str) -> None:
    page.locator(".bk-input-group", has_text=label).locator("select").first.select_option(value)


def test_bands_tab_renders_and_band_change_updates(page, server, screenshots):
    open_app(page, server)
    before = plot_image(page, ".bands-plot")
    assert page.locator(".bands-plot canvas").count() >= 1
    select(page, "Band or index", "blue")
    wait_until(lambda: page.locator(".bands-plot").first.screenshot() != before, 30, 0.3,
               "the plot to change after a band change")
    after = plot_image(page, ".bands-plot")
    diff = np.abs(np.asarray(_img(after), float) - np.asarray(_img(before), float)).mean()
    assert diff > 1.0
    # A click on a pixel draws its spectrum.
    spectrum = page.locator(".spectrum-plot").first
    empty = spectrum.screenshot()
    box = page.locator(".bands-plot canvas").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    wait_until(lambda: spectrum.screenshot() != empty, 30, 0.3, "the pixel spectrum")
    page.screenshot(path=str(screenshots / "bands.png"))


def _img(png: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("L")


def test_hyperspace_bad_yaml_shows_message_and_changes_nothing(page, server, screenshots):
    open_app(page, server)
    open_tab(page, "Hyperspace")
    editor = page.locator(".ace_editor").first
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


@pytest.mark.skipif(not _has_search(), reason="satseg.search (study store, run_search) not installed")
def test_tiny_study_from_hyperspace_appears_in_trials(page, server, screenshots):
    open_app(page, server)
    open_tab(page, "Hyperspace")
    page.locator(".start-search button").first.wait_for(timeout=30_000)
    page.locator(".bk-input-group", has_text="Trials").locator("input").first.fill("1")
    page.locator(".start-search button").first.click()
    open_tab(page, "Trials")
    table = page.locator(".tabulator-row")
    wait_until(lambda: table.count() >= 1, 240, 1.0, "a trial row in the Trials table")
    plot_image(page, ".bk-Canvas, canvas")
    page.screenshot(path=str(screenshots / "trials.png"))
