"""satseg.auto: the budget plan, the run-folder rules, and the final fit of a study's best trial
(``train_best``) on the bundled sample."""

from __future__ import annotations

import json

import pytest

from satseg.auto.pipeline import AutoPlan, run_auto
from satseg.errors import ConfigError, OutputError, StoreError

QUICK = {  # a small net that trains in seconds on 2 cores
    "model.input_size": 64, "model.crop_margin": 0, "model.depth": 2, "model.base_filters": 8,
    "training.epochs": 1, "training.steps_per_epoch": 4, "training.batch_size": 4,
    "training.learning_rate": 0.003, "training.workers": 1, "training.schedule": "constant",
}


def test_plan_splits_the_budget():
    p = AutoPlan.split(1800)  # the default share, 0.35
    assert p.search_s == pytest.approx(630) and p.reserve_s == pytest.approx(90)
    assert 1800 - p.search_s - p.reserve_s == pytest.approx(1080)  # the final fit
    assert AutoPlan.split(180).search_s == pytest.approx(63)
    p = AutoPlan.split(1800, 0.55)  # satseg auto --search-share 0.55: a longer search
    assert p.search_s == pytest.approx(990) and 1800 - p.search_s - p.reserve_s == pytest.approx(
        720)
    with pytest.raises(ConfigError, match="at least --budget 2m9s"):
        AutoPlan.split(120)  # a 42 s search cannot finish a trial
    assert AutoPlan.split(120, 0.55).search_s == pytest.approx(66)


def test_too_small_a_budget_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="too small for even one search trial.*--budget"):
        run_auto("sample", "60s", tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="--budget"):
        run_auto("sample", "ten minutes", tmp_path / "run")


def test_run_folder_rules(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(OutputError, match="--resume"):
        run_auto("sample", "5m", tmp_path / "full")
    with pytest.raises(OutputError, match="holds no `satseg auto` run"):
        run_auto("sample", "5m", tmp_path / "full", resume=True)
    from satseg.errors import DataError

    with pytest.raises(DataError, match="--exclude-ids"):
        run_auto("sample", "5m", tmp_path / "new", exclude_ids=["no_such_image"])


def _study(tmp_path):
    """A store holding one finished satseg trial of the sample (as a search leaves it)."""
    from satseg.search import StudyStore

    store = StudyStore(tmp_path / "s.db")
    store.create_study("s", {"params": {"training.learning_rate": 0.003}}, data="sample")
    store.update_study("s", settings={"val_ids": ["tile_2/image_part_007"], "classes": None,
                                      "exclude_ids": ["tile_7/image_part_005"], "objective": None,
                                      "seed": 0})
    store.add_trial("s", 0, QUICK)
    store.finish_trial("s", 0, status="ok", objective=0.3)
    store.add_trial("s", 1, {**QUICK, "model.base_filters": 4})
    store.finish_trial("s", 1, status="ok", objective=0.1)
    return store


def test_best_trial_config_rebuilds_the_trial(tmp_path):
    from satseg.auto.final import best_trial_config, final_config

    store = _study(tmp_path)
    best = best_trial_config(store, "s")
    assert best.trial_id == 0 and best.config.model["base_filters"] == 8
    assert list(best.config.data.val_ids) == ["tile_2/image_part_007"]
    assert best.exclude_ids == ("tile_7/image_part_005",)
    cfg = final_config(best.config, 2.5)
    assert cfg.training.schedule == "cosine_time" and cfg.training.time_limit_minutes == 2.5
    assert best_trial_config(store, "s", 1).config.model["base_filters"] == 4
    assert cfg.training.keep == "best" and not cfg.data.train_on_val
    assert cfg.data.final_val == "whole"
    every = final_config(best.config, 2.5, fit_on="all")  # satseg auto's final fit
    assert every.data.train_on_val and every.training.keep == "last"
    assert every.data.final_val == "crops" and every.data.val_crop_size == 128
    with pytest.raises(ConfigError, match="--fit-on 'both'.*'train'.*'all'"):
        final_config(best.config, 2.5, fit_on="both")
    with pytest.raises(ConfigError, match="--fit-on"):
        run_auto("sample", "5m", tmp_path / "never", fit_on="test")
    assert not (tmp_path / "never").exists()
    with pytest.raises(ConfigError, match="--minutes"):
        final_config(best.config, 0)
    store.create_study("empty", {"params": {"x": 1}}, data="sample")
    with pytest.raises(StoreError, match="no finished trial"):
        best_trial_config(store, "empty")


@pytest.mark.slow
def test_train_best_round_trip(tmp_path):
    """The best trial trained again for a few seconds: a normal run folder with a tuned
    postprocess.json that load_run and predict_image use."""
    import numpy as np

    from satseg.auto.final import train_best
    from satseg.inference.predict import predict_image
    from satseg.io import open_dataset
    from satseg.training import load_run

    store = _study(tmp_path)
    res = train_best(store, "s", tmp_path / "final", minutes=0.25, progress=False)
    run_dir = tmp_path / "final"
    assert res["trial_id"] == 0 and res["epochs"] >= 1 and 0 <= res["val_jaccard"] <= 1
    cfg = (run_dir / "config.yaml").read_text()
    assert "cosine_time" in cfg and "base_filters: 8" in cfg
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["val_ids"] == ["tile_2/image_part_007"]
    assert "tile_7/image_part_005" not in meta["train_ids"]  # the held-out image stayed out
    pp = json.loads((run_dir / "postprocess.json").read_text())
    assert set(pp["thresholds"]) == {"Building", "Land", "Road", "Vegetation", "Water"}
    assert res["postprocess"]["thresholds"] == pp["thresholds"]
    run = load_run(run_dir)
    ds = open_dataset("sample")
    probs = predict_image(run, ds.load_image("tile_7/image_part_005"))
    assert probs.shape[0] == 5 and np.isfinite(np.asarray(probs.values)).all()
    assert res["warm_start"] is None  # the trial left no model: a fresh start

    # A trial whose run folder holds its model: the final fit starts from its weights.
    store.finish_trial("s", 0, status="ok", objective=0.3, artifacts={"run_dir": str(run_dir)})
    res2 = train_best(store, "s", tmp_path / "final2", minutes=0.1, progress=False, tune=False)
    assert res2["warm_start"] == str(run_dir) and res2["epochs"] >= 1

    from satseg.training.config import TrainConfig
    from satseg.training.unit import _load_initial_weights, build_compiled

    cfg = TrainConfig.from_yaml(run_dir / "config.yaml")
    fresh = build_compiled(cfg, cfg.model_config(3, 5), None)
    trained = run.models[0].get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), trained, strict=True))
    _load_initial_weights(fresh, run_dir, None)
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), trained, strict=True))
    other = build_compiled(cfg, cfg.model_config(3, 2), None)  # another head: refused clearly
    with pytest.raises(ConfigError, match="do not fit this model"):
        _load_initial_weights(other, run_dir, None)
    with pytest.raises(ConfigError, match="no model"):
        _load_initial_weights(other, tmp_path, None)


@pytest.mark.slow
def test_train_best_on_every_image_keeps_the_last_epoch(tmp_path):
    """``fit_on="all"``: the validation image trains too, the last epoch is the model, and
    nothing is tuned on images the model saw."""
    from satseg.auto.final import train_best

    store = _study(tmp_path)
    res = train_best(store, "s", tmp_path / "all", minutes=0.15, progress=False, fit_on="all")
    run_dir = tmp_path / "all"
    meta = json.loads((run_dir / "meta.json").read_text())
    assert "tile_2/image_part_007" in meta["train_ids"]  # the validation image trained
    assert meta["val_ids"] == ["tile_2/image_part_007"]
    assert "tile_7/image_part_005" not in meta["train_ids"]  # the held-out image did not
    assert res["fit_on"] == "all" and res["postprocess"] is None
    assert not (run_dir / "postprocess.json").exists()
    state = json.loads((run_dir / "checkpoints" / "state.json").read_text())
    jac = json.loads((run_dir / "jaccard.json").read_text())
    assert jac["mean"] == pytest.approx(state["history"][-1]["val_jaccard"])  # the last epoch
    import numpy as np

    from satseg.training.run import load_keras_model

    kept = load_keras_model(run_dir / "model.keras").get_weights()
    last = load_keras_model(run_dir / "checkpoints" / "last.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(kept, last, strict=True))
