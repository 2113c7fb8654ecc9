"""Bands tab state and callbacks on real data (no browser)."""

import numpy as np
import pytest

pytest.importorskip("panel")

from app.views.bands import BandsView  # noqa: E402


def test_initial_state_picks_image_and_rgb(catalog):
    v = BandsView(catalog)
    assert v.dataset == catalog.names()[0]
    assert v.image in catalog.dataset(v.dataset).ids()
    bands = catalog.band_names(v.dataset, v.image)
    assert v.layer in bands
    assert (v.red, v.green, v.blue) == ("red", "green", "blue")
    assert v.label_classes == [c.name for c in catalog.dataset(v.dataset).classes]
    assert v.error == ""


def test_layer_change_changes_data_and_limits(catalog):
    v = BandsView(catalog)
    a = v.layer_data(v.layer).copy()
    lo, hi = v.color_limits()
    assert a.shape == v.shape and lo < hi
    assert np.nanmin(a) <= lo and hi <= np.nanmax(a)
    v.layer = "blue"
    b = v.layer_data(v.layer)
    assert not np.array_equal(a, b)
    v.auto_range, v.value_range = False, (1.0, 2.0)
    assert v.color_limits() == (1.0, 2.0)


def test_composite_is_stretched(catalog):
    v = BandsView(catalog, mode="RGB composite")
    rgb = v.composite()
    assert rgb.shape == (*v.shape, 3)
    assert rgb.min() >= 0 and rgb.max() <= 1
    # 2-98 % stretch: about 2 % of each channel's pixels saturate at each end.
    assert 0.005 < (rgb[..., 0] == 1).mean() < 0.1
    v.percentiles = (0.0, 100.0)
    red = v.layer_data("red")
    assert (v.composite()[..., 0] == 1).mean() == pytest.approx((red == np.nanmax(red)).mean())


def test_overlay_toggles_and_hide(catalog):
    v = BandsView(catalog)
    full = v.overlay_rgba()
    assert full is not None and full.shape == (*v.shape, 4)
    covered = (full[..., 3] > 0).mean()
    assert covered > 0.5  # Dubai: almost every pixel has a class
    first = v.label_classes[0]
    v.label_classes = [c for c in v.label_classes if c != first]
    labels = catalog.labels(v.dataset, v.image)
    first_px = labels.masks[0].astype(bool) & ~np.any(labels.masks[1:].astype(bool), axis=0)
    assert (v.overlay_rgba()[..., 3][first_px] == 0).all()
    v.show_labels = False
    assert v.overlay_rgba() is None


def test_click_gives_spectrum_with_wavelengths(catalog):
    v = BandsView(catalog)
    h, w = v.shape
    v.click(w - 0.5, h - 0.5)
    assert v.pixel == (h - 1, w - 1)
    spec = v.spectrum()
    stack = catalog.stack(v.dataset, v.image)
    assert spec["band"] == catalog.band_names(v.dataset, v.image)
    assert np.allclose(spec["value"], stack[:, h - 1, w - 1].values)
    assert all(np.isfinite(spec["wavelength"]))
    v.click(w + 10, 0)  # outside: ignored
    assert v.pixel == (h - 1, w - 1)


def test_histogram_counts_pixels_between_robust_percentiles(catalog):
    v = BandsView(catalog)
    counts, edges, name = v.histogram(bins=32)
    assert name == v.layer and len(edges) == 33
    n = np.isfinite(v.layer_data(v.layer)).sum()
    assert 0.98 * n <= counts.sum() <= n


def test_registration_only_for_dstl(catalog):
    assert BandsView(catalog).registration() is None


def test_bad_dataset_sets_readable_error(catalog, tmp_path):
    catalog.paths["broken"] = str(tmp_path / "nothing-here")
    v = BandsView(catalog)
    v.dataset = "broken"
    assert "broken" in v.error and "Traceback" not in v.error


def test_selection_prepared_before_drawing(catalog):
    """Without a browser session the view prepares synchronously: after each change the drawn
    frame, the overlay and the legend belong to the selection."""
    v = BandsView(catalog)
    f = v.drawn
    assert f is not None and f.key == (v.dataset, v.image) and f.single is not None
    assert v.overlay is not None and v.overlay[0] == f.key
    assert [n for n, _ in v.legend] == v.label_classes
    frame = v.frame
    v.mode = "RGB composite"
    assert v.frame == frame + 1 and v.drawn.rgb is not None and len(v.drawn.channels) == 3
    other = [i for i in v.param.image.objects if i != v.image][0]
    extent = v.extent
    v.image = other
    assert v.extent == extent + 1 and v.drawn.key == (v.dataset, other)
    assert v.drawn.shape == catalog.shape(v.dataset, other)
    v.label_classes = v.label_classes[:1]
    assert [n for n, _ in v.legend] == v.label_classes


def test_image_switch_brings_its_overlay_in_the_same_frame(catalog):
    """Another image's ground truth is prepared with its layers: the overlay and legend are
    the new image's when its frame is drawn, with no second round (the page then rendered
    every layer twice)."""
    v = BandsView(catalog)
    other = [i for i in v.param.image.objects if i != v.image][0]
    seen = []
    v.param.watch(lambda e: seen.append((v.drawn.key, v.overlay[0] if v.overlay else None)), "frame")
    label_frame = v.label_frame
    v.image = other
    assert seen == [((v.dataset, other), (v.dataset, other))]
    assert v.label_frame == label_frame  # no separate labels update
    assert [n for n, _ in v.legend] == v.label_classes


def test_histogram_range_is_robust():
    from app.views.bands import robust_histogram

    arr = np.linspace(0.0, 1.0, 10_000, dtype=np.float32).reshape(100, 100)
    arr[0, :3] = -6.0  # a few extreme values (an index near a zero denominator)
    counts, edges = robust_histogram(arr, bins=10)
    assert edges[0] > -0.1 and edges[-1] <= 1.0
    assert counts.sum() > 0.98 * arr.size


@pytest.fixture(scope="module")
def dstl_catalog(tmp_path_factory):
    from app.catalog import Catalog
    from app.settings import AppSettings
    from satseg.datasets.synth import write_synthetic_dstl

    root = write_synthetic_dstl(tmp_path_factory.mktemp("dstl") / "dstl", scenes=1, size=400, seed=0)
    return Catalog(AppSettings(data=(str(root),)))


def test_dstl_scene_offers_indices_and_registration(dstl_catalog):
    v = BandsView(dstl_catalog)
    assert v.error == ""
    bands = dstl_catalog.band_names(v.dataset, v.image)
    assert len(bands) == 20 and (v.red, v.green, v.blue) == ("R", "G", "B")
    indices = dstl_catalog.indices(v.dataset, v.image)
    assert {"ndvi", "ndwi", "savi", "evi", "ndre", "ccci"} <= set(indices)
    v.layer = "ndvi"
    ndvi = v.layer_data("ndvi")
    from satseg.bands import compute_index

    expected = compute_index(dstl_catalog.stack(v.dataset, v.image), "ndvi").values
    assert ndvi.shape == v.shape
    np.testing.assert_allclose(ndvi, expected, equal_nan=True)
    reg = v.registration()
    assert set(reg) >= {"P", "M", "A"} and "dx_px" in reg["M"]
    # An index in an RGB composite, e.g. NDVI as red over G and B.
    v.mode, v.red = "RGB composite", "ndvi"
    assert v.composite().shape == (*v.shape, 3)
    v.click(5.5, 7.5)
    spec = v.spectrum()
    assert len(spec["value"]) == 20 and all(np.isfinite(spec["wavelength"]))


def test_legend_html_names_each_class_with_its_colour():
    from app.views.legend import legend_html

    out = legend_html([("Water", "#0000ff"), ("<b>Road</b>", "#303030")], "Ground truth:")
    assert "Water" in out and "#0000ff" in out and "#303030" in out
    assert "<b>Road</b>" not in out and "&lt;b&gt;Road" in out  # names are escaped
    assert legend_html([]) == ""


def test_inbox_applies_each_result_once_and_poll_applies_a_lost_one(catalog):
    from app.views.bands import Inbox

    box, seen = Inbox(), []
    box.put(lambda: seen.append(1))
    box.put(lambda: seen.append(2))
    box.drain()
    box.drain()  # the second drain (the periodic refresh after the callback) finds nothing
    assert seen == [1, 2] and len(box) == 0
    # a background result whose next-tick callback never ran: the page's refresh applies it
    view = BandsView(catalog)
    before = view.frame
    sel, changes, frame = view.prepare(view.selection(), "layer")
    view.inbox.put(lambda: view._apply(sel, changes, frame))
    view.poll()
    assert view.frame == before + 1 and len(view.inbox) == 0
