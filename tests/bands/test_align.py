"""Resampling and sub-pixel registration on a real band (the bundled Dubai sample)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from satseg.bands.align import axis_resampler, register_translation, resample
from satseg.errors import DataError

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "satseg" / "datasets" / "sample_data" / "tile_1" / "images" / "image_part_009.jpg"


@pytest.fixture(scope="module")
def real_band(request) -> np.ndarray:
    """The green band of a real Dubai image part (bundled sample, else the shared data)."""
    from PIL import Image

    path = BUNDLED
    if not path.is_file():
        dubai = request.getfixturevalue("dubai_path")
        path = dubai / "tile_1" / "images" / "image_part_009.jpg"
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64)[..., 1]


@pytest.mark.parametrize("shift", [(0.3, -0.7), (-1.45, 2.2), (0.05, 0.9)])
def test_recovers_known_subpixel_shift_of_a_real_band(real_band, shift):
    # content moved by +shift (spline shift); registration returns the correction, -shift
    moved = ndimage.shift(real_band, shift, order=3, mode="nearest")
    dy, dx = register_translation(real_band, moved)
    assert abs(dy + shift[0]) < 0.1 and abs(dx + shift[1]) < 0.1, (dy, dx)


def test_recovers_offset_after_downsampling_a_real_band(real_band):
    """The M-like case: a band 4x coarser, sampled with a known offset (in fine pixels)."""
    h, w = real_band.shape
    small_shape = (h // 4, w // 4)
    off = (1.3 / h, -2.6 / w)  # extent fractions: 1.3 and -2.6 fine pixels
    coarse = resample(real_band, small_shape, dst_offset=off)
    ref = resample(real_band, small_shape)
    dy, dx = register_translation(ref, coarse)
    fine = (dy * h / small_shape[0], dx * w / small_shape[1])
    assert abs(fine[0] - 1.3) < 0.25 and abs(fine[1] + 2.6) < 0.25, fine  # 0.06 coarse px


def test_resampler_identity_and_constant_preservation():
    rng = np.random.default_rng(0)
    a = rng.random((20, 30)).astype(np.float32)
    np.testing.assert_allclose(resample(a, (20, 30)), a, atol=1e-6)
    ones = np.ones((37, 41), np.float32)
    for shape in ((150, 160), (9, 10), (36, 40)):
        out = resample(ones, shape)
        np.testing.assert_allclose(out, 1.0, atol=1e-5)


def test_resampler_flags_pixels_outside_the_source():
    r = axis_resampler(10, 40, src_offset=0.1, dst_offset=0.0)  # source starts 10% in
    assert not r.valid[:3].any() and r.valid[5:].all()
    out = resample(np.ones((10, 10)), (40, 40), src_offset=(0.1, 0.0))
    assert np.isnan(out[:3]).all() and np.isfinite(out[5:]).all()


def test_resampler_keeps_nan_local():
    a = np.ones((20, 20), np.float32)
    a[10, 10] = np.nan
    out = resample(a, (80, 80))
    ys, xs = np.nonzero(np.isnan(out))
    assert ys.size > 0  # the 4-tap cubic kernel reaches 2 source pixels: 16 x 16 outputs
    assert ys.min() >= 32 and ys.max() < 50 and xs.min() >= 32 and xs.max() < 50


def test_register_bad_inputs():
    with pytest.raises(DataError, match="one shape"):
        register_translation(np.zeros((10, 10)), np.zeros((10, 12)))
    with pytest.raises(DataError, match="too small"):
        register_translation(np.zeros((4, 4)), np.zeros((4, 4)))
    with pytest.raises(DataError, match="no finite pixels"):
        register_translation(np.full((16, 16), np.nan), np.zeros((16, 16)))
