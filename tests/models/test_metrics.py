"""JaccardMetric equals the numpy implementation of satseg.evaluation."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from satseg.errors import ConfigError
from satseg.evaluation import confusion_counts, jaccard_from_counts
from satseg.models import JaccardMetric, jaccard_metrics

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _batches(seed: int = 5):
    rng = np.random.default_rng(seed)
    y = (rng.random((6, 12, 12, 3)) > 0.6).astype(np.float32)
    y[rng.random((6, 12, 12)) > 0.8] = -1.0  # ignored pixels, every channel
    y[..., 2] = np.where(y[..., 2] >= 0, 0.0, -1.0)  # class 2 absent from the truth
    p = rng.random((6, 12, 12, 3)).astype(np.float32)
    p[..., 2] = 0.1  # ... and never predicted: TP+FP+FN = 0
    return y, p


def test_metric_equals_numpy_over_batches() -> None:
    y, p = _batches()
    metric = JaccardMetric(3, ["a", "b", "c"])
    for i in range(0, 6, 2):
        metric.update_state(y[i : i + 2], p[i : i + 2])
    counts = confusion_counts(p, y, threshold=0.5, channel_axis=-1)
    np.testing.assert_array_equal(metric.counts(), counts)
    report = jaccard_from_counts(counts, ["a", "b", "c"])
    assert float(metric.result()) == pytest.approx(report.mean, rel=1e-6)
    per_class = metric.per_class()
    assert per_class["a"] == pytest.approx(report.per_class["a"])
    assert math.isnan(per_class["c"]) and math.isnan(report.per_class["c"])
    assert metric.report().table() == report.table()
    metric.reset_state()
    assert metric.counts().sum() == 0 and math.isnan(float(metric.result()))


def test_threshold_is_inclusive() -> None:
    metric = JaccardMetric(1)
    metric.update_state(np.ones((1, 1, 2, 1)), np.array([0.5, 0.49]).reshape(1, 1, 2, 1))
    np.testing.assert_array_equal(metric.counts(), [[1, 0, 1]])


def test_per_class_metrics_in_fit_logs() -> None:
    y, p = _batches()
    metrics = jaccard_metrics(["Buildings", "Road (paved)", "c"])
    assert [m.name for m in metrics] == [
        "jaccard",
        "jaccard_buildings",
        "jaccard_road_paved",
        "jaccard_c",
    ]
    inputs = keras.Input((12, 12, 3))
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    model.compile(loss="mse", metrics=metrics)
    logs = model.evaluate(p, y, batch_size=2, verbose=0, return_dict=True)
    report = jaccard_from_counts(confusion_counts(p, y, threshold=0.5, channel_axis=-1))
    assert logs["jaccard"] == pytest.approx(report.mean, rel=1e-6)
    assert logs["jaccard_road_paved"] == pytest.approx(report.per_class["class_1"], rel=1e-6)


def test_config_round_trip_and_errors() -> None:
    metric = JaccardMetric(2, ["x", "y"], class_id=1, threshold=0.3, name="jaccard_y")
    again = JaccardMetric.from_config(metric.get_config())
    assert again.get_config() == metric.get_config()
    with pytest.raises(ConfigError):
        JaccardMetric(2, ["only one"])
    with pytest.raises(ConfigError):
        JaccardMetric(2, class_id=2)
