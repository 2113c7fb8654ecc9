"""Real (tiny) training runs on real data: run folder, load_run, stop flag + resume, one-vs-all,
bad input caught before training."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from satseg.errors import ConfigError, DataError, ModelError, OutputError
from satseg.training import TrainConfig, load_run, train
from tests.training.conftest import TINY


def _cfg(**over) -> TrainConfig:
    return TrainConfig.from_dict(TINY).updated(over)


@pytest.mark.slow
def test_train_writes_run_folder_and_load_run_predicts(small_data, tmp_path):
    seen = []
    result = train(
        _cfg(),
        data=small_data,
        out_dir=tmp_path / "run",
        progress=False,
        callbacks=[lambda epoch, logs: seen.append((epoch, logs["val_jaccard"]))],
    )
    run_dir = tmp_path / "run"
    for name in (
        "config.yaml",
        "meta.json",
        "model.keras",
        "history.csv",
        "history.json",
        "jaccard.json",
        "checkpoints/last.keras",
        "checkpoints/state.json",
    ):
        assert (run_dir / name).is_file(), name
    assert result.epochs == 2 and [e for e, _ in seen] == [1, 2]
    assert 0.0 <= result.val_jaccard <= 1.0
    assert set(result.per_class) == set(small_data.class_names)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["bands"] == list(small_data.band_names) and len(meta["mean"]) == 3
    assert not set(meta["train_ids"]) & set(meta["val_ids"])
    hist = json.loads((run_dir / "history.json").read_text())
    assert [r["epoch"] for r in hist] == [1, 2] and "val_jaccard" in hist[0]
    assert any(k.startswith("val_jaccard_") for k in hist[0])
    assert (run_dir / "history.csv").read_text().startswith("epoch,")

    run = load_run(run_dir)
    assert run.input_size == 32 and run.output_size == 24 and run.margin == 4
    assert [c.name for c in run.classes] == list(small_data.class_names)
    x = run.prepare(small_data.load_image(meta["val_ids"][0]))
    assert x.dtype == np.float32 and x.shape[2] == 3
    # normalisation uses the training split statistics saved in meta.json
    raw = np.moveaxis(small_data.load_image(meta["val_ids"][0]).values, 0, -1)
    assert np.allclose(x, (raw - run.mean) / run.std, atol=1e-4)
    probs = run.predict_patches(np.stack([x[:32, :32], x[-32:, -32:]]))
    assert probs.shape == (2, 24, 24, len(run.classes))
    assert probs.min() >= 0.0 and probs.max() <= 1.0
    assert run.predict_patches(np.zeros((0, 32, 32, 3))).shape == (0, 24, 24, len(run.classes))
    with pytest.raises(ModelError, match="shaped"):
        run.predict_patches(np.zeros((1, 16, 16, 3)))

    with pytest.raises(OutputError, match="already holds a run"):
        train(_cfg(), data=small_data, out_dir=run_dir, progress=False)


@pytest.mark.slow
def test_stop_flag_after_epoch_one_then_resume(small_data, tmp_path):
    flag = threading.Event()
    run_dir = tmp_path / "run"

    def stop_after_first(epoch, logs):
        if epoch == 1:
            flag.set()

    cfg = _cfg(**{"training.epochs": 3})
    first = train(
        cfg,
        data=small_data,
        out_dir=run_dir,
        progress=False,
        stop_flag=flag,
        callbacks=[stop_after_first],
    )
    assert first.stopped == "stop_flag" and first.epochs == 1
    state = json.loads((run_dir / "checkpoints/state.json").read_text())
    assert state["epoch"] == 1 and not state["done"]
    assert (run_dir / "model.keras").is_file()  # the best model so far is never lost

    resumed = train(None, data=small_data, out_dir=run_dir, progress=False, resume=True)
    assert resumed.stopped is None and resumed.epochs == 3
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert json.loads((run_dir / "checkpoints/state.json").read_text())["done"]
    load_run(run_dir)

    # a flag set before training starts stops before anything is loaded or written
    flag2 = threading.Event()
    flag2.set()
    r = train(cfg, data=small_data, out_dir=tmp_path / "run2", progress=False, stop_flag=flag2)
    assert r.epochs == 0 and r.stopped == "stop_flag"
    with pytest.raises(ModelError, match="not a satseg run folder"):
        load_run(tmp_path / "run2")


@pytest.mark.slow
def test_one_vs_all_concatenates_per_class_models(small_data, tmp_path):
    names = list(small_data.class_names)[:2]
    cfg = _cfg(
        **{
            "training.mode": "one_vs_all",
            "training.epochs": 1,
            "data.classes": names,
            "training.optimizer": "nadam",
            "training.schedule": "step",
        }
    )
    result = train(cfg, data=small_data, out_dir=tmp_path / "ova", progress=False)
    assert {r["unit"] for r in result.history} == set(names)
    run = load_run(tmp_path / "ova")
    assert len(run.models) == 2 and run.mode == "one_vs_all"
    x = np.zeros((1, 32, 32, 3), np.float32)
    assert run.predict_patches(x).shape == (1, 24, 24, 2)


def test_bad_input_is_caught_before_training(small_data, tmp_path):
    with pytest.raises(ConfigError, match="input_size"):
        train(
            _cfg(**{"model.input_size": 2048, "model.depth": 2}),
            data=small_data,
            out_dir=tmp_path / "a",
            progress=False,
        )
    with pytest.raises(ConfigError, match="unknown class"):
        train(
            _cfg(**{"data.classes": ["Nope"]}),
            data=small_data,
            out_dir=tmp_path / "b",
            progress=False,
        )
    with pytest.raises(ConfigError, match="class_weights"):
        train(
            _cfg(**{"training.class_weights": [1.0]}),
            data=small_data,
            out_dir=tmp_path / "c",
            progress=False,
        )
    # every image but one for validation: a class missing from the one training image
    ids = small_data.labelled_ids()
    counts = {i: small_data.load_labels(i).pixel_counts() for i in ids}
    for keep in ids:
        missing = [c for c, n in counts[keep].items() if n == 0]
        if missing:
            with pytest.raises(DataError, match="no labelled pixels"):
                train(
                    _cfg(),
                    data=small_data,
                    out_dir=tmp_path / "d",
                    progress=False,
                    val_ids=[i for i in ids if i != keep],
                )
            break
    assert not any((tmp_path / n).exists() for n in "abcd")  # nothing written
    with pytest.raises(OutputError, match="cannot resume"):
        train(None, data=small_data, out_dir=tmp_path / "e", resume=True)
