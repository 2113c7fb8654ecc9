"""Browser tests of the Bands tab (headless chromium through Playwright): each image opens at its
full extent and Reset returns to it, the ground truth stays visible over an RGB composite, a
data-set switch in RGB mode takes everything from the new data set, checkbox labels toggle.

Every wait is on a condition (a loaded 2-core machine answers slowly); screenshots go to
``test-results/screenshots/`` for a look.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from tests.app.conftest import AppServer, sample_available, wait_until

pytestmark = pytest.mark.ui

#: [x start, x end, y start, y end] of the Bands image plot (the figure with an Image glyph).
_RANGES = """() => { for (const d of Bokeh.documents) for (const m of d._all_models.values()) {
    if (m.renderers && m.renderers.some(r => r.glyph && r.glyph.type === 'Image'))
      return [m.x_range.start, m.x_range.end, m.y_range.start, m.y_range.end]; }
  return null; }"""


@pytest.fixture(scope="module")
def bands_server(tmp_path_factory):
    if not sample_available():
        pytest.skip("the bundled sample is not available")
    from satseg.datasets.synth import write_synthetic_dstl

    root = tmp_path_factory.mktemp("bands-ui")
    write_synthetic_dstl(root / "dstl", scenes=1, size=400, seed=0)
    srv = AppServer(["sample", str(root / "dstl")], [str(root / "study.db")], root / "server.log")
    srv.dstl = root / "dstl"
    try:
        srv.wait_ready(timeout=300)  # the first page is built inside that request
        yield srv
    finally:
        srv.stop()


def _open(page, server) -> None:
    page.route("**/fonts.googleapis.com/**", lambda route: route.abort())
    page.goto(server.url)
    page.wait_for_selector(".bands-plot canvas", timeout=180_000)
    _idle(page)


def _idle(page, timeout: float = 180) -> None:
    """Until no pane shows its loading spinner (the Bands plot while it waits for data)."""
    wait_until(lambda: page.locator(".pn-loading").count() == 0, timeout, 0.2, "the page to be idle")


def _select(page, label: str):
    group = page.locator(".bk-input-group").filter(
        has=page.locator("label", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))
    return group.locator("select").locator("visible=true").first


_DEEP_TEXT = """e => { const out = [];
  const walk = n => { if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.childNodes) { if (c.nodeType === 3) out.push(c.textContent);
      else if (!['STYLE', 'SCRIPT', 'LINK'].includes(c.nodeName)) walk(c); } };
  walk(e); return out.join(' '); }"""


def _text(loc) -> str:
    """Text inside an element, shadow roots included (Panel renders panes in shadow DOM)."""
    return re.sub(r"\s+", " ", loc.evaluate(_DEEP_TEXT)).strip()


_COLORBAR_SHOWN = """() => { for (const d of Bokeh.documents) for (const m of d._all_models.values())
    if (m.constructor.__name__ === 'ColorBar') return m.visible;
  return null; }"""


def _ranges(page):
    return page.evaluate(_RANGES)




def _wait_full_extent(page, shape, what: str) -> None:
    h, w = shape
    wait_until(lambda: (lambda r: r is not None and np.allclose(r, [0, w, h, 0], atol=0.5))(_ranges(page)),
               120, 0.3, f"{what}: the plot at the full extent {w} x {h} (ranges {_ranges(page)})")


def _zoom_in(page) -> None:
    before = _ranges(page)
    box = page.locator(".bands-plot canvas").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.wheel(0, -400)
    wait_until(lambda: _ranges(page) != before, 60, 0.2, "the zoom")


def _shape(image_id: str, dataset: str = "sample") -> tuple[int, int]:
    from satseg.io import open_dataset

    s = open_dataset(dataset).load_image(image_id)
    return int(s.sizes["y"]), int(s.sizes["x"])


def _switch_to_another_size(page, screenshots):
    """Open the page's first image, zoom, switch to an image of another size: full extent."""
    image = _select(page, "Image")
    ids = image.locator("option").all_inner_texts()
    first = image.input_value()
    _wait_full_extent(page, _shape(first), "first image")
    shapes = {i: _shape(i) for i in ids}
    other = next(i for i in ids if shapes[i] != shapes[first])
    _zoom_in(page)
    image.select_option(other)
    _wait_full_extent(page, shapes[other], "after an image switch")
    page.screenshot(path=str(screenshots / "bands-image-switch.png"))
    return shapes[other]


def test_each_image_opens_at_its_full_extent(page, bands_server, screenshots):
    _open(page, bands_server)
    _switch_to_another_size(page, screenshots)


def test_reset_returns_to_the_full_extent_after_an_image_switch(page, bands_server, screenshots):
    _open(page, bands_server)
    shape = _switch_to_another_size(page, screenshots)
    _zoom_in(page)
    page.locator(".bands-plot .bk-tool-icon-reset").first.click()
    _wait_full_extent(page, shape, "after Reset")


def _png(loc) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(loc.screenshot())).convert("RGB"), dtype=np.float32)


def test_ground_truth_stays_visible_over_the_rgb_composite(page, bands_server, screenshots):
    _open(page, bands_server)
    page.locator(".bk-btn", has_text="RGB composite").first.click()
    _idle(page)
    wait_until(lambda: _select(page, "Red").is_visible(), 60, 0.2, "the R/G/B selects")
    plot = page.locator(".bands-plot").first
    # The composite is drawn once the colour bar (single-layer mode only) has gone.
    wait_until(lambda: page.evaluate(_COLORBAR_SHOWN) is False, 120, 0.3, "the colour bar to hide")
    _idle(page)
    wait_until(lambda: _png(plot).std() > 8, 60, 0.5, "the composite")
    shots: list = [None]

    def stable():
        now, shots[0] = shots[0], _png(plot)
        return now is not None and now.shape == shots[0].shape and np.abs(now - shots[0]).mean() < 0.5

    wait_until(stable, 60, 0.5, "the composite to settle")
    overlay_on = page.locator(".show-labels input[type=checkbox]").first
    assert overlay_on.is_checked()
    # The legend names the classes drawn.
    wait_until(lambda: "Building" in _text(page.locator(".bands-legend").first), 60, 0.3, "the legend")
    with_labels = _png(plot)
    page.screenshot(path=str(screenshots / "bands-rgb-overlay.png"))
    overlay_on.click()
    _idle(page)

    def differs():
        now = _png(plot)
        h, w = min(now.shape[0], with_labels.shape[0]), min(now.shape[1], with_labels.shape[1])
        return np.abs(now[:h, :w] - with_labels[:h, :w]).mean() > 5.0

    # Unticking changes the picture: the overlay was drawn over the composite.
    wait_until(differs, 60, 0.5, "the composite without the overlay to differ from with it")


def test_dataset_switch_in_rgb_mode_takes_everything_from_the_new_dataset(page, bands_server, screenshots):
    _open(page, bands_server)
    page.locator(".bk-btn", has_text="RGB composite").first.click()
    _idle(page)
    _select(page, "Data set").select_option("dstl")

    def switched():
        return (_select(page, "Image").input_value() == "6010_0_0"
                and [_select(page, c).input_value() for c in ("Red", "Green", "Blue")] == ["R", "G", "B"])

    wait_until(switched, 180, 0.3, "the DSTL scene with R, G, B")
    _idle(page)
    page.screenshot(path=str(screenshots / "bands-dataset-switch-rgb.png"))
    alert = page.locator(".alert-danger")
    assert alert.count() == 0 or not alert.first.is_visible(), alert.first.inner_text()
    boxes = page.locator(".classes input[type=checkbox]")
    labels = page.locator(".classes label").all_inner_texts()
    assert "Buildings" in " ".join(labels) and "Crops" in " ".join(labels)
    assert boxes.count() == 10
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    _wait_full_extent(page, _shape("6010_0_0", str(bands_server.dstl)), "the DSTL scene")


def test_clicking_a_checkbox_label_toggles_it(page, bands_server):
    _open(page, bands_server)
    box = page.locator(".show-labels input[type=checkbox]").first
    assert box.is_checked()
    page.locator(".show-labels").get_by_text("Ground truth overlay").click()
    wait_until(lambda: not box.is_checked(), 30, 0.2, "the overlay checkbox to untick")
    first_class = page.locator(".classes input[type=checkbox]").first
    assert first_class.is_checked()
    page.locator(".classes").get_by_text("Building").first.click()
    wait_until(lambda: not first_class.is_checked(), 30, 0.2, "the class tick to untick")


_BANDS_PICTURE = """() => { for (const d of Bokeh.documents) for (const m of d._all_models.values()) {
    if (m.glyph && m.glyph.type === 'Image') { const im = m.data_source.data.image;
      if (im && im.length && im[0].shape && im[0].shape[0] > 2) return true; } }
  return false; }"""


def test_the_bands_picture_comes_before_the_other_tabs_are_built(bands_server, page):
    """The other tabs are built after the Bands tab's first picture (built first, they held it
    up for 9-18 s on a loaded machine), unless that picture takes longer than
    app.main.BUILD_LATER_AFTER_MS."""
    import time

    from app.main import BUILD_LATER_AFTER_MS

    page.route("**/fonts.googleapis.com/**", lambda route: route.abort())
    t0 = time.monotonic()
    page.goto(bands_server.url)
    seen: dict[str, float] = {}

    def both() -> bool:
        now = time.monotonic() - t0
        if "picture" not in seen and page.evaluate(_BANDS_PICTURE):
            seen["picture"] = now
        if "tabs" not in seen and page.locator(".pn-loading").count() == 0 \
                and page.locator("textarea").count() > 0:  # the Hyperspace editor exists
            seen["tabs"] = now
        return len(seen) == 2

    wait_until(both, 180, 0.05, "the Bands picture and the other tabs")
    assert seen["picture"] <= seen["tabs"] + 0.2 or seen["tabs"] > BUILD_LATER_AFTER_MS / 1000, seen
    # and every tab is there: switching shows it at once
    page.locator(".bk-tab", has_text="Hyperspace").first.click()
    page.wait_for_selector("textarea", state="visible", timeout=30_000)
