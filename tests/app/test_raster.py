"""raster_dmap: sizes chosen by the app, and rasters kept while their data is unchanged."""

import numpy as np
import pytest

hv = pytest.importorskip("holoviews")

from app.views.raster import raster_dmap, strided  # noqa: E402


def _image(step: int, arr: np.ndarray) -> hv.Image:
    xs, ys, a = strided(arr, step)
    return hv.Image((xs, ys, a), kdims=["x", "y"], vdims=["value"])


def test_same_key_returns_the_last_raster_without_drawing_again():
    arr = np.arange(200 * 300, dtype=np.float32).reshape(200, 300)
    calls, key = [], [0]

    def fn(step):
        calls.append(step)
        return _image(step, arr)

    dmap = raster_dmap(fn, [], shape=lambda: arr.shape, size=lambda: (150, 100), key=lambda: key[0])
    draw = dmap.callback.callable
    first = draw(x_range=None, y_range=None)
    assert draw(x_range=None, y_range=None) is first and len(calls) == 1
    assert first.data["value"].shape == (100, 150)  # the size given, not a plot's
    draw(x_range=(0, 150), y_range=(0, 100))  # a zoom is drawn again
    assert len(calls) == 2
    key[0] = 1  # new data at the same view
    draw(x_range=(0, 150), y_range=(0, 100))
    assert len(calls) == 3


def test_a_sized_dmap_does_not_follow_the_browser_plot_size():
    arr = np.zeros((10, 10), np.float32)
    sized = raster_dmap(lambda s: _image(s, arr), [], size=lambda: (10, 10))
    free = raster_dmap(lambda s: _image(s, arr), [])
    kinds = lambda d: {type(s).__name__ for s in d.streams}  # noqa: E731
    assert "PlotSize" not in kinds(sized) and "PlotSize" in kinds(free)


def test_strided_window_is_the_visible_part_of_strided():
    from app.views.raster import strided_window

    arr = np.arange(100 * 80).reshape(100, 80)
    xs, ys, sub = strided(arr, 4)
    wx, wy, wsub = strided_window(arr, 4, (20.0, 40.0), (50.0, 60.0))
    assert wx[0] <= 20 and wx[-1] >= 40 and wy[0] <= 50 and wy[-1] >= 60
    assert wx[0] >= 20 - 8 and wx[-1] <= 40 + 8  # one sample to spare, no more
    c0, r0 = int(np.searchsorted(xs, wx[0])), int(np.searchsorted(ys, wy[0]))
    assert np.array_equal(wsub, sub[r0:r0 + len(wy), c0:c0 + len(wx)])
    full = strided_window(arr, 4)
    assert np.array_equal(full[2], sub)
