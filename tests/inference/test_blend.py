"""Laws of smooth blending: identity and centre-crop models are reproduced exactly, constants stay
constant, TTA of an equivariant model changes nothing, row sources equal arrays; bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satseg.errors import ConfigError, DataError, ModelError
from satseg.inference import CachedRows, blend_predict
from satseg.inference.windows import (
    VIEWS,
    accumulated_weight,
    reflect_index,
    spline_window_1d,
    tile_starts,
    view_forward,
    view_inverse,
)

FAST = settings(max_examples=40, deadline=None)


@st.composite
def geometry(draw):
    out = draw(st.integers(1, 24))
    margin = draw(st.integers(0, 6))
    return {
        "h": draw(st.integers(1, 70)),
        "w": draw(st.integers(1, 70)),
        "c": draw(st.integers(1, 3)),
        "out": out,
        "margin": margin,
        "sub": draw(st.integers(1, min(out, 5))),
        "tta": draw(st.sampled_from([1, 2, 4, 8])),
        "batch": draw(st.integers(1, 7)),
        "combine": draw(st.sampled_from(["arithmetic", "geometric"])),
        "seed": draw(st.integers(0, 2**16)),
    }


def crop_fn(margin):
    return (lambda x: x) if margin == 0 else (lambda x: x[:, margin:-margin, margin:-margin])


@FAST
@given(geometry())
def test_identity_and_centre_crop_reproduce_the_input(g):
    x = np.random.default_rng(g["seed"]).random((g["h"], g["w"], g["c"]), dtype=np.float32) + 0.05
    y = blend_predict(
        crop_fn(g["margin"]), x, window=g["out"] + 2 * g["margin"], out_window=g["out"],
        subdivisions=g["sub"], tta=g["tta"], batch=g["batch"], combine=g["combine"],
    )  # fmt: skip
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, x, rtol=2e-6, atol=2e-6)


@FAST
@given(geometry(), st.floats(0.01, 5.0))
def test_constant_model_gives_a_constant_map(g, value):
    x = np.zeros((g["h"], g["w"], g["c"]), np.float32)
    out = g["out"]

    def const(b):
        return np.full((len(b), out, out, 2), value, np.float32)

    y = blend_predict(const, x, window=out + 2 * g["margin"], out_window=out,
                      subdivisions=g["sub"], tta=g["tta"], combine=g["combine"])  # fmt: skip
    np.testing.assert_allclose(y, value, rtol=3e-6)


def blur3(b):
    """Symmetric 3x3 blur with reflect padding inside each window: D4-equivariant."""
    p = np.pad(b, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    k = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16
    h, w = b.shape[1:3]
    return sum(k[i, j] * p[:, i : i + h, j : j + w] for i in range(3) for j in range(3))


@FAST
@given(geometry(), st.sampled_from(["pointwise", "blur"]))
def test_tta_of_an_equivariant_model_changes_nothing(g, kind):
    x = np.random.default_rng(g["seed"]).random((g["h"], g["w"], g["c"]), dtype=np.float32) + 0.1
    win = max(g["out"], 3)
    fn = (lambda b: np.tanh(b) * 0.5 + 0.5) if kind == "pointwise" else blur3
    kw = dict(window=win, subdivisions=min(g["sub"], win), batch=g["batch"], combine=g["combine"])
    plain = blend_predict(fn, x, tta=1, **kw)
    for tta in (2, 4, 8):
        np.testing.assert_allclose(blend_predict(fn, x, tta=tta, **kw), plain, rtol=1e-5, atol=1e-6)


def test_tta_is_not_a_no_op_for_a_non_equivariant_model():
    x = np.ones((40, 30, 1), np.float32)
    ramp = np.linspace(0, 1, 16, dtype=np.float32)[None, :, None, None]
    y1 = blend_predict(lambda b: b * ramp, x, window=16, tta=1, subdivisions=1)
    y8 = blend_predict(lambda b: b * ramp, x, window=16, tta=8)
    np.testing.assert_allclose(y8, 0.5, atol=1e-6)  # a ramp averaged over D4 is its mean
    assert np.abs(y1 - 0.5).max() > 0.1


def test_linear_model_is_exact_on_a_large_non_square_image_with_odd_subdivisions():
    rng = np.random.default_rng(3)
    x = rng.random((333, 517, 4), dtype=np.float32)
    wm = rng.standard_normal((4, 3)).astype(np.float32)
    for sub in (1, 2, 3, 5):
        y = blend_predict(lambda b: np.tensordot(b[:, 5:-5, 5:-5], wm, axes=1), x, window=40, out_window=30,
                          subdivisions=sub, tta=8, batch=9)  # fmt: skip
        # the model sees the 40 px input and returns the centre 30 px
        np.testing.assert_allclose(y, np.tensordot(x, wm, axes=1), atol=2e-5)


def test_row_source_equals_array_and_sink_streams_rows_in_order():
    x = np.random.default_rng(1).random((150, 90, 2), dtype=np.float32)
    reads = []

    def read(a, b):
        reads.append((a, b))
        return x[a:b]

    rows = []
    src = CachedRows(x.shape, read, block=40)
    fn = lambda b: np.sqrt(b[:, 2:-2, 2:-2])  # noqa: E731
    kw = dict(window=20, out_window=16, subdivisions=2, tta=4, batch=3)
    res = blend_predict(fn, src, sink=lambda y0, r: rows.append((y0, r.copy())), **kw)
    assert res is None
    assert [y0 for y0, _ in rows] == sorted(y0 for y0, _ in rows)
    streamed = np.concatenate([r for _, r in rows])
    np.testing.assert_array_equal(streamed, blend_predict(fn, x, **kw))
    assert sum(b - a for a, b in reads) < 3 * len(x)  # each row read about once


@FAST
@given(geometry(), st.data())
def test_a_strip_of_rows_equals_the_same_rows_of_the_whole_image(g, data):
    """rows=(r0, r1) uses the whole image's window grid: bit-identical rows, any geometry."""
    x = np.random.default_rng(g["seed"]).random((g["h"], g["w"], g["c"]), dtype=np.float32) + 0.05
    r0 = data.draw(st.integers(0, g["h"] - 1))
    r1 = data.draw(st.integers(r0 + 1, g["h"]))
    kw = dict(window=g["out"] + 2 * g["margin"], out_window=g["out"], subdivisions=g["sub"],
              tta=g["tta"], batch=g["batch"], combine=g["combine"])  # fmt: skip
    fn = lambda b: np.sqrt(crop_fn(g["margin"])(b))  # noqa: E731
    whole = blend_predict(fn, x, **kw)
    strip = blend_predict(fn, x, rows=(r0, r1), **kw)
    np.testing.assert_array_equal(strip, whole[r0:r1])
    got = []
    blend_predict(fn, x, rows=(r0, r1), sink=lambda y0, r: got.append((y0, r.copy())), **kw)
    assert got[0][0] == r0 and sum(len(r) for _, r in got) == r1 - r0
    np.testing.assert_array_equal(np.concatenate([r for _, r in got]), whole[r0:r1])


def test_spline_window_and_partition_of_unity():
    w = spline_window_1d(64)
    assert (w > 0).all() and np.isclose(w.mean(), 1.0) and np.allclose(w, w[::-1])
    # at stride size/2 the shifted windows sum to a constant (2 for a mean-1 window)
    starts, _ = tile_starts(200, 64, 32)
    acc = accumulated_weight(200, starts, w)
    np.testing.assert_allclose(acc, 2.0, rtol=1e-12)


def test_views_are_the_dihedral_group_and_invert():
    a = np.arange(2 * 5 * 5).reshape(2, 5, 5, 1)
    seen = {view_forward(a, v).tobytes() for v in VIEWS[8]}
    assert len(seen) == 8
    for v in VIEWS[8]:
        np.testing.assert_array_equal(view_inverse(view_forward(a, v), v), a)
    for k, v in enumerate(VIEWS[4]):
        np.testing.assert_array_equal(view_forward(a, v), np.rot90(a, k, axes=(1, 2)))


def test_reflect_index_matches_numpy_pad():
    for n in (1, 2, 3, 7):
        idx = np.arange(-20, n + 20)
        expected = np.pad(np.arange(n), 20, mode="reflect")
        np.testing.assert_array_equal(reflect_index(idx, n), expected)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"window": 5000}, ConfigError),
        ({"window": 16, "out_window": 20}, ConfigError),
        ({"window": 16, "out_window": 11}, ConfigError),
        ({"window": 16, "subdivisions": 0}, ConfigError),
        ({"window": 16, "tta": 3}, ConfigError),
        ({"window": 16, "batch": 0}, ConfigError),
        ({"window": 16, "combine": "median"}, ConfigError),
        ({"window": 16, "rows": (5, 5)}, ConfigError),
        ({"window": 16, "rows": (0, 21)}, ConfigError),
    ],
)
def test_bad_arguments_raise_config_errors(kwargs, error):
    with pytest.raises(error):
        blend_predict(lambda b: b, np.zeros((20, 20, 1), np.float32), **kwargs)


def test_bad_image_and_bad_model_output():
    with pytest.raises(DataError):
        blend_predict(lambda b: b, np.zeros((20, 20), np.float32), window=8)
    with pytest.raises(DataError):
        blend_predict(lambda b: b, np.zeros((0, 20, 1), np.float32), window=8)
    with pytest.raises(ModelError, match="expected"):
        blend_predict(lambda b: b[:, :4], np.zeros((20, 20, 1), np.float32), window=8)
    with pytest.raises(ModelError):
        blend_predict(lambda b: b[:1], np.zeros((20, 20, 1), np.float32), window=8, batch=4)


def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, satseg.inference, satseg.cli.predict, satseg.cli.evaluate;"
        "print([m for m in ('tensorflow', 'keras', 'rasterio', 'dask.distributed', 'panel')"
        " if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
