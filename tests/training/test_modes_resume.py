"""Softmax mode (auto-detected on colour masks), resuming a run for more epochs, the time-keyed
cosine schedule, and a stop flag honoured while the data is being prepared."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from satseg.training import TrainConfig, load_run, train
from tests.training.conftest import TINY


def _cfg(**over) -> TrainConfig:
    return TrainConfig.from_dict(TINY).updated(over)


def _weights(run_dir, name="model.keras"):
    from satseg.training.run import load_keras_model

    return load_keras_model(run_dir / name).get_weights()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # the sample's tiles
def test_auto_mode_trains_softmax_and_predict_writes_exclusive_masks(small_data, tmp_path):
    from satseg.inference.predict import predict_to_files

    res = train(_cfg(), data=small_data, out_dir=tmp_path / "run", progress=False)
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["mode"] == "softmax"  # colour masks: one class per labelled pixel
    assert TrainConfig.from_yaml(tmp_path / "run" / "config.yaml").training.mode == "softmax"
    assert 0.0 <= res.val_jaccard <= 1.0
    run = load_run(tmp_path / "run")
    assert run.mode == "softmax" and run.exclusive
    assert run.models[0].layers[-1].get_config()["activation"] == "softmax"
    x = run.prepare(small_data.load_image(meta["val_ids"][0]))
    scores = run.predict_patches(np.stack([x[:32, :32], x[-32:, -32:]]))
    assert scores.shape == (2, 24, 24, len(run.classes))
    assert ((scores >= 0.5).sum(-1) <= 1).all()  # the default threshold gives the arg-max

    image_id = meta["val_ids"][0]
    (tmp_path / "pred").mkdir()
    paths = predict_to_files(
        run, small_data.load_image(image_id), tmp_path / "pred", image_id, formats=["tif"], tta=2
    )
    import rasterio

    with rasterio.open(paths["mask"]) as src:
        masks = src.read()
    assert masks.shape[0] == len(run.classes)
    assert masks.sum(axis=0).max() == 1  # mutually exclusive per-class masks
    assert len(np.unique(masks.argmax(0))) >= 1


@pytest.mark.slow
def test_explicit_multiclass_keeps_sigmoid(small_data, tmp_path):
    train(
        _cfg(**{"training.mode": "multiclass", "training.epochs": 1}),
        data=small_data,
        out_dir=tmp_path / "run",
        progress=False,
    )
    run = load_run(tmp_path / "run")
    assert run.mode == "multiclass"
    assert run.models[0].layers[-1].get_config()["activation"] == "sigmoid"


@pytest.mark.slow
def test_resume_for_more_epochs_continues_weights_optimizer_and_history(small_data, tmp_path):
    base = {"training.schedule": "constant", "training.mode": "multiclass"}
    one = _cfg(**base, **{"training.epochs": 1})
    two = _cfg(**base, **{"training.epochs": 2})
    r1 = train(one, data=small_data, out_dir=tmp_path / "a", progress=False)
    assert r1.epochs == 1 and r1.stopped is None
    after_one = _weights(tmp_path / "a", "checkpoints/last.keras")
    r2 = train(two, data=small_data, out_dir=tmp_path / "a", progress=False, resume=True)
    assert r2.epochs == 2 and [row["epoch"] for row in r2.history] == [1, 2]
    hist = json.loads((tmp_path / "a" / "history.json").read_text())
    assert [row["epoch"] for row in hist] == [1, 2]
    assert TrainConfig.from_yaml(tmp_path / "a" / "config.yaml").training.epochs == 2
    resumed = _weights(tmp_path / "a", "checkpoints/last.keras")
    assert any(not np.allclose(a, b) for a, b in zip(after_one, resumed, strict=True))
    # the same 2 epochs from scratch: equal up to float noise when the optimiser state (Adam
    # moments, step counter) and the batch stream continued; a restart would differ far more
    train(two, data=small_data, out_dir=tmp_path / "b", progress=False)
    fresh = _weights(tmp_path / "b", "checkpoints/last.keras")
    gap_fresh = max(float(np.abs(a - b).max()) for a, b in zip(resumed, fresh, strict=True))
    gap_one = max(float(np.abs(a - b).max()) for a, b in zip(resumed, after_one, strict=True))
    assert gap_fresh < 0.1 * gap_one, (gap_fresh, gap_one)
    # an interrupted-run resume (no config) of a finished run changes nothing
    r3 = train(None, data=small_data, out_dir=tmp_path / "a", progress=False, resume=True)
    assert r3.epochs == 2 and len(r3.history) == 2


@pytest.mark.slow
def test_cosine_time_decays_to_the_floor_at_the_time_limit(small_data, tmp_path):
    cfg = _cfg(
        **{
            "training.schedule": "cosine_time",
            "training.time_limit_minutes": 0.5,
            "training.epochs": 10000,
            "training.steps_per_epoch": 20,
            "training.learning_rate": 1e-2,
            "training.min_learning_rate": 1e-4,
        }
    )
    t0 = time.monotonic()
    res = train(cfg, data=small_data, out_dir=tmp_path / "run", progress=False)
    elapsed = time.monotonic() - t0
    assert res.stopped == "time_limit"
    lrs = [row["lr"] for row in res.history]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] < 1e-2
    assert lrs[-1] < 1.2e-4  # at the floor when time ran out (evaluated per batch)
    assert 30 <= elapsed < 30 + 25  # trained up to the limit, then the final validation
    assert (tmp_path / "run" / "model.keras").is_file()


def test_cosine_time_without_limit_is_cosine():
    from satseg.training.schedules import scheduled_lr

    p = _cfg(**{"training.schedule": "cosine_time"}).training
    q = _cfg(**{"training.schedule": "cosine"}).training
    assert scheduled_lr(p, 0.3, 0.6, 0.0) == scheduled_lr(q, 0.3, 0.6, 0.0)
    assert scheduled_lr(p, 1.0, 2.0, 0.0) == pytest.approx(p.min_learning_rate)


class _SlowData:
    """The test data set with a slow image reader (as a large scene would be) that sets the stop
    flag while the second image loads."""

    def __init__(self, ds, delay, flag):
        self._ds, self._delay, self._flag = ds, delay, flag
        self.loaded = 0
        self.flag_time = None

    def __getattr__(self, name):
        return getattr(self._ds, name)

    def load_image(self, image_id):
        if self.loaded == 1:
            self._flag.set()
            self.flag_time = time.monotonic()
        time.sleep(self._delay)
        self.loaded += 1
        return self._ds.load_image(image_id)


def test_stop_flag_takes_effect_while_data_loads(small_data, tmp_path):
    flag = threading.Event()
    slow = _SlowData(small_data, 0.5, flag)
    res = train(_cfg(), data=slow, out_dir=tmp_path / "run", progress=False, stop_flag=flag)
    assert res.stopped == "stop_flag" and res.epochs == 0 and res.history == []
    assert slow.flag_time is not None
    assert time.monotonic() - slow.flag_time < 2.0  # no more images, no model build, no batch
    assert slow.loaded == 2 < len(small_data.labelled_ids())
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.slow
def test_training_on_the_memory_mapped_cache(small_data, tmp_path):
    cfg = _cfg(**{"data.cache_dir": str(tmp_path / "cache"), "training.epochs": 1})
    a = train(cfg, data=small_data, out_dir=tmp_path / "a", progress=False)
    b = train(cfg, data=small_data, out_dir=tmp_path / "b", progress=False)
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 1
    assert a.history[0]["loss"] == pytest.approx(b.history[0]["loss"], rel=1e-3)
    assert json.loads((tmp_path / "b" / "meta.json").read_text())["mode"] == "softmax"
    assert a.timings["cache_hit"] == 0.0 and b.timings["cache_hit"] == 1.0
    assert a.timings["load_s"] > 0 and "load_s" not in b.timings  # nothing decoded the 2nd time
    for key in ("prepare_s", "build_s", "first_batch_s", "train_s", "val_s", "save_s",
                "final_val_s", "total_s"):
        assert b.timings[key] >= 0, key
    assert b.timings["total_s"] >= b.timings["train_s"] + b.timings["val_s"]
    # the final score from the best epoch's validation crops: no pass over whole images
    c = train(cfg.updated({"data.final_val": "crops"}), data=small_data, out_dir=tmp_path / "c",
              progress=False)  # fmt: skip
    report = json.loads((tmp_path / "c" / "jaccard.json").read_text())
    assert report["on"] == "validation crops" and report["mean"] == c.history[0]["val_jaccard"]
    assert c.val_jaccard == pytest.approx(c.history[0]["val_jaccard"])
    assert c.timings["final_val_s"] < 1.0


def test_resume_check_accepts_the_saved_yaml_of_the_same_model(tmp_path):
    from satseg.errors import ConfigError
    from satseg.training.loop import _check_resumable

    cfg = TrainConfig.from_dict(
        {"model": {"bottleneck": "pyramid", "pyramid_bins": (1, 2), "filter_growth": 2}}
    )
    (tmp_path / "config.yaml").write_text(cfg.to_yaml())
    saved = TrainConfig.from_yaml(tmp_path / "config.yaml")  # lists where cfg has tuples
    _check_resumable(saved, cfg.updated({"training.epochs": 9}), tmp_path)
    with pytest.raises(ConfigError, match="another model"):
        _check_resumable(saved, cfg.updated({"model.depth": 3}), tmp_path)
