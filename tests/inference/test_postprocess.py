"""Post-processing: thresholds, minimum areas, morphology, cross-class rules (DSTL defaults by
name, none otherwise), tuning against the exact Jaccard, persistence; the water-index baseline."""

from __future__ import annotations

import numpy as np
import pytest

from satseg.errors import ConfigError, DataError
from satseg.evaluation import confusion_counts, jaccard_from_counts
from satseg.inference.postprocess import (
    PostProcess,
    apply_postprocess,
    default_rules,
    tune_postprocess,
)

DSTL = ["Buildings", "Misc. manmade structures", "Road", "Track", "Trees", "Crops",
        "Waterway", "Standing water", "Vehicle Large", "Vehicle Small"]  # fmt: skip


def test_thresholds_min_area_and_morphology():
    p = np.zeros((2, 40, 40), np.float32)
    p[0, 5:20, 5:20] = 0.7
    p[0, 30:32, 30:32] = 0.9  # 4 px object
    p[1, 10:30, 10:30] = 0.4
    p[1, 19, 19] = np.nan
    pp = PostProcess(class_names=("a", "b"), thresholds={"a": 0.6, "b": 0.3}, min_area={"a": 5})
    m = apply_postprocess(p, pp)
    assert m.dtype == np.uint8 and m[0].sum() == 225 and m[1].sum() == 399
    pp2 = PostProcess(class_names=("a", "b"), thresholds={"b": 0.45})
    assert apply_postprocess(p, pp2)[1].sum() == 0
    p[0, 12, 12] = 0.0  # a pin hole: closing fills it, opening removes thin lines
    p[0, 25, 0:40] = 0.9
    pm = PostProcess(class_names=("a", "b"), open_radius=1, close_radius=1)
    m3 = apply_postprocess(p, pm)
    assert m3[0, 12, 12] == 1 and m3[0, 25].sum() == 0


def test_morphology_keeps_the_image_border():
    # scipy's opening/closing treat pixels outside the image as 0: a closing used to clear a
    # radius-wide frame of every mask, an opening the corners
    p = np.ones((1, 12, 15), np.float32)
    for r in (1, 2):
        m = apply_postprocess(p, PostProcess(class_names=("a",), open_radius=r, close_radius=r))
        assert m.all()
    p[0, :, :5] = 0  # an object touching three borders keeps its edge pixels
    m = apply_postprocess(p, PostProcess(class_names=("a",), close_radius=2))
    assert (m[0] == (p[0] > 0.5)).all()


def test_dstl_rules_are_the_default_for_dstl_names_only():
    rules = default_rules(DSTL)
    assert [w for w, _ in rules] == ["Waterway", "Standing water", "Buildings", "Road"]
    assert default_rules(["Building", "Land", "Road", "Vegetation", "Water"]) == []
    p = np.full((10, 4, 4), 0.9, np.float32)
    m = apply_postprocess(p, PostProcess(class_names=tuple(DSTL)))
    # waterway clears everything else, wherever all are predicted
    assert m[DSTL.index("Waterway")].all() and m.sum() == 16
    p[DSTL.index("Waterway")] = 0
    m = apply_postprocess(p, PostProcess(class_names=tuple(DSTL)))
    assert m[DSTL.index("Buildings")].all() and m[DSTL.index("Road")].sum() == 0
    assert m.sum() == 16
    p[DSTL.index("Buildings")] = 0
    m = apply_postprocess(p, PostProcess(class_names=tuple(DSTL)))
    assert m[DSTL.index("Standing water")].all() and m[DSTL.index("Road")].sum() == 0
    # configured rules by name, also for other class sets
    pp = PostProcess(class_names=("Water", "Road"), rules=(("Water", ("Road",)),))
    m = apply_postprocess(np.full((2, 3, 3), 0.9, np.float32), pp)
    assert m[0].all() and not m[1].any()
    with pytest.raises(ConfigError, match="Lake"):
        PostProcess(class_names=("Water", "Road"), rules=(("Lake", ("Road",)),))


def test_tuning_finds_the_best_threshold_and_min_area():
    rng = np.random.default_rng(0)
    probs, truths, ignores = [], [], []
    for _ in range(3):
        t = np.zeros((1, 64, 64), np.uint8)
        t[0, 10:40, 10:40] = 1
        p = np.where(t > 0, 0.62, 0.2).astype(np.float32) + rng.normal(0, 0.02, t.shape).astype(
            np.float32
        )
        # false-positive specks of high probability, 2 px each
        for y, x in rng.integers(45, 62, size=(6, 2)):
            p[0, y, x : x + 2] = 0.95
        ign = np.zeros((64, 64), bool)
        ign[0:5] = True
        probs.append(p), truths.append(t), ignores.append(ign)
    pp = tune_postprocess(probs, truths, ignores, ["a"])
    assert 0.3 <= pp.thresholds["a"] <= 0.55
    assert pp.min_area["a"] >= 4
    # the reported Jaccard is the one satseg.evaluation computes from the resulting masks
    counts = sum(
        confusion_counts(apply_postprocess(p, pp), t, i)
        for p, t, i in zip(probs, truths, ignores, strict=True)
    )
    assert np.isclose(jaccard_from_counts(counts, ["a"]).mean, pp.tuned_jaccard["a"])
    assert pp.tuned_jaccard["a"] == pytest.approx(1.0)
    with pytest.raises(DataError):
        tune_postprocess([], [], [], ["a"])


def test_save_and_load(tmp_path):
    pp = PostProcess(class_names=("a", "b"), thresholds={"a": 0.3}, min_area={"b": 10},
                     rules=(("a", ("b",)),), close_radius=2)  # fmt: skip
    pp.save(tmp_path)
    assert PostProcess.load(tmp_path, ["a", "b"]) == pp
    assert PostProcess.load(tmp_path / "none", ["x"]) == PostProcess(class_names=("x",))
    with pytest.raises(ConfigError, match="tune it again"):
        PostProcess.load(tmp_path, ["a", "c"])
    (tmp_path / "postprocess.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        PostProcess.load(tmp_path, ["a", "b"])
    with pytest.raises(ConfigError):
        PostProcess(class_names=("a",), thresholds={"a": 1.5})
    with pytest.raises(DataError):
        apply_postprocess(np.zeros((3, 4, 4)), pp)


def test_water_index_baseline_tunes_a_threshold():
    bands = pytest.importorskip("satseg.bands")
    if not hasattr(bands, "compute_index"):
        pytest.skip("satseg.bands.compute_index (another area's work) is not in this checkout yet")
    import xarray as xr

    from satseg.inference.water import WaterIndexBaseline

    rng = np.random.default_rng(0)
    water = np.zeros((40, 50), np.uint8)
    water[:, :20] = 1
    green = np.where(water > 0, 0.3, 0.2) + rng.normal(0, 0.01, water.shape)
    nir = np.where(water > 0, 0.05, 0.4) + rng.normal(0, 0.01, water.shape)
    red = np.full(water.shape, 0.2)
    stack = xr.DataArray(np.stack([red, green, nir]).astype(np.float32), dims=("band", "y", "x"),
                         coords={"band": ["red", "green", "nir"],
                                 "wavelength": ("band", [660.0, 560.0, 842.0])})  # fmt: skip
    base = WaterIndexBaseline.fit([stack], [water], [None])
    assert base.jaccard == pytest.approx(1.0)
    assert -0.6 < base.threshold < 0.6
    np.testing.assert_array_equal(base.predict(stack), water)


def test_a_softmax_runs_masks_are_its_arg_max_classes():
    """Per-class thresholds alone let two classes claim a pixel (low tuned thresholds of a
    softmax run); ``exclusive`` keeps each pixel's arg-max class only, as `satseg predict`
    does, and nodata (NaN) pixels get no class."""
    from satseg.inference.postprocess import exclusive_gate, gate_for_run

    probs = np.array([[[0.6, 0.2, np.nan]], [[0.4, 0.8, np.nan]]], np.float32)  # (K=2, 1, 3)
    pp = PostProcess(class_names=("a", "b"), thresholds={"a": 0.3, "b": 0.3})
    both = apply_postprocess(probs, pp)
    assert both[:, 0, 0].tolist() == [1, 1]  # both classes over their thresholds
    one = apply_postprocess(probs, pp, exclusive=True)
    assert one[:, 0, :].tolist() == [[1, 0, 0], [0, 1, 0]]
    gated = exclusive_gate(probs)
    assert gated[:, 0, 0].tolist() == pytest.approx([0.6, 0.0])
    assert np.isfinite(gated).all()

    class Run:
        mode = "softmax"

    assert gate_for_run(Run(), probs)[1, 0, 0] == 0.0
    Run.mode = "multiclass"
    assert gate_for_run(Run(), probs)[1, 0, 0] == pytest.approx(0.4)
