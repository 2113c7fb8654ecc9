"""TrainConfig: defaults load, round trip, bad values and unknown keys rejected with the field."""

from __future__ import annotations

import pytest

from satseg.errors import ConfigError
from satseg.training import TrainConfig


def test_bundled_configs_load_and_round_trip(tmp_path):
    for name in ("default", "full"):
        cfg = TrainConfig.default(name)
        assert TrainConfig.from_dict(cfg.to_dict()) == cfg
        p = tmp_path / f"{name}.yaml"
        p.write_text(cfg.to_yaml())
        assert TrainConfig.from_yaml(p) == cfg
    assert TrainConfig.from_dict({}) == TrainConfig()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"trainig": {}}, "unknown config section"),
        ({"training": {"epoch": 3}}, "unknown field.*'training'"),
        ({"training": {"epochs": 0}}, "training.epochs"),
        ({"training": {"learning_rate": -1}}, "training.learning_rate"),
        ({"training": {"optimizer": "adagrad"}}, "training.optimizer.*one of"),
        ({"training": {"schedule": "cyclic"}}, "training.schedule"),
        ({"training": {"batch_size": 2.5}}, "must be an integer"),
        ({"training": {"class_weights": [0, 0]}}, "class_weights"),
        ({"data": {"class_balance": 1.5}}, "data.class_balance"),
        ({"data": {"classes": []}}, "data.classes"),
        ({"augment": {"d4": "yes"}}, "augment.d4.*true or false"),
        ({"training": {"keep": "newest"}}, r"training.keep.*\['best', 'last'\]"),
        ({"data": {"train_on_val": "yes"}}, "data.train_on_val.*true or false"),
        ({"augment": {"zoom": 0.9}}, "augment.zoom"),
        ({"model": {"depth": 9}}, "depth"),
        ({"model": {"unknown_field": 1}}, "unknown model config"),
        ({"model": {"input_size": 100, "depth": 4}}, "divisible"),
    ],
)
def test_bad_configs_are_rejected_naming_the_field(data, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig.from_dict(data)


def test_updated_and_model_config():
    cfg = TrainConfig.default().updated({"model.depth": 3, "training.epochs": 2})
    assert cfg.model["depth"] == 3 and cfg.training.epochs == 2
    m = cfg.model_config(bands=4, classes=2)
    assert (m.bands, m.classes, m.depth) == (4, 2, 3)
    with pytest.raises(ConfigError, match="section.field"):
        cfg.updated({"epochs": 2})
    with pytest.raises(ConfigError, match="model.bands"):
        TrainConfig.from_dict({"model": {"bands": 5}}).model_config(bands=3, classes=1)


def test_missing_or_malformed_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        TrainConfig.from_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        TrainConfig.from_yaml(bad)


def test_schedules():
    from satseg.training.config import TrainingParams
    from satseg.training.schedules import scheduled_lr

    p = TrainingParams(learning_rate=1e-2, min_learning_rate=1e-4, schedule="cosine", epochs=4)
    assert scheduled_lr(p, 0.0, 0.0, 0) == pytest.approx(1e-2)
    assert scheduled_lr(p, 0.5, 2.0, 0) == pytest.approx((1e-2 + 1e-4) / 2)
    assert scheduled_lr(p, 1.0, 4.0, 0) == pytest.approx(1e-4)
    step = TrainingParams(
        learning_rate=1.0, schedule="step", decay_rate=0.5, decay_epochs=2, min_learning_rate=0.0
    )
    assert [scheduled_lr(step, 0, t, 0) for t in (0, 1.9, 2, 4.5)] == [1.0, 1.0, 0.5, 0.25]
    exp = TrainingParams(
        learning_rate=1.0,
        schedule="exponential",
        decay_rate=0.5,
        decay_epochs=1,
        min_learning_rate=0.2,
    )
    assert scheduled_lr(exp, 0, 1.0, 0) == pytest.approx(0.5)
    assert scheduled_lr(exp, 0, 10.0, 0) == pytest.approx(0.2)  # floored
    plateau = TrainingParams(schedule="plateau", min_learning_rate=1e-5)
    assert scheduled_lr(plateau, 0.3, 1, 3e-4) == pytest.approx(3e-4)
    assert TrainingParams(schedule="constant").learning_rate == scheduled_lr(
        TrainingParams(schedule="constant"), 0.9, 5, 0
    )


def test_importing_training_and_data_does_not_load_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, satseg.training, satseg.data, satseg.cli.train; "
        "sys.exit(1 if 'tensorflow' in sys.modules or 'keras' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
