"""Pure array helpers of the dashboard."""

import numpy as np
import pytest

from app import render


def test_hex_to_rgb():
    assert render.hex_to_rgb("#ff8000") == pytest.approx((1.0, 128 / 255, 0.0))
    with pytest.raises(ValueError, match="#rrggbb"):
        render.hex_to_rgb("red")


def test_percentile_limits_ignore_nan_and_widen_flat():
    a = np.arange(100, dtype=np.float32).reshape(10, 10)
    a[0, 0] = np.nan
    lo, hi = render.percentile_limits(a, 0, 100)
    assert (lo, hi) == (1.0, 99.0)
    assert render.percentile_limits(np.full((4, 4), 3.0)) == (2.5, 3.5)
    assert render.percentile_limits(np.full((4, 4), np.nan)) == (0.0, 1.0)
    with pytest.raises(ValueError, match="percentiles"):
        render.percentile_limits(a, 50, 10)


def test_overview_bounds_pixels():
    a = np.zeros((3000, 2000))
    assert render.overview(a, 10_000).size <= 10_000 * 1.1
    assert render.overview(a[:5, :5]).shape == (5, 5)


def test_stretch_clips_and_keeps_nan():
    out = render.stretch(np.array([[-1.0, 0.5, 2.0, np.nan]]), 0.0, 1.0)
    assert out[0, :3].tolist() == [0.0, 0.5, 1.0]
    assert np.isnan(out[0, 3])


def test_class_overlay_colours_toggles_and_overlap():
    masks = np.zeros((2, 3, 3), np.uint8)
    masks[0, 0, 0] = masks[1, 0, 0] = masks[1, 2, 2] = 1
    out = render.class_overlay(masks, ["#ff0000", "#0000ff"], alpha=0.5)
    assert out.shape == (3, 3, 4)
    assert out[0, 0].tolist() == [0, 0, 1, 0.5]  # the later class is on top
    assert out[1, 1, 3] == 0  # no class: transparent
    off = render.class_overlay(masks, ["#ff0000", "#0000ff"], enabled=[True, False])
    assert off[0, 0, :3].tolist() == [1, 0, 0] and off[2, 2, 3] == 0
    with pytest.raises(ValueError):
        render.class_overlay(masks, ["#ff0000"])


def test_error_codes_and_overlay():
    pred = np.array([[1, 1, 0, 0]], bool)
    true = np.array([[1, 0, 1, 0]], bool)
    codes = render.error_codes(pred, true)
    assert codes.tolist() == [[1, 2, 3, 0]]
    ignored = render.error_codes(pred, true, ignore=np.array([[False, True, False, False]]))
    assert ignored.tolist() == [[1, 0, 3, 0]]
    rgba = render.error_overlay(codes)
    colours = {tuple(np.round(rgba[0, i, :3], 3)) for i in range(3)}
    assert len(colours) == 3 and rgba[0, 3, 3] == 0


def test_rgb_from_channels():
    c = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    c2 = c.copy()
    c2[0, 0] = np.nan
    rgb = render.rgb_from_channels([c, c2, c], [(0, 1)] * 3)
    assert rgb.shape == (4, 4, 3) and rgb[0, 0, 1] == 0 and rgb.max() == 1
