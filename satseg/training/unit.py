"""Training of one network (the multiclass model, or one class of a one-vs-all run)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from satseg.training.config import TrainConfig
from satseg.training.prepare import Prepared
from satseg.training.run import class_slug, load_keras_model

log = logging.getLogger("satseg.training")


def _fresh_state(cfg: TrainConfig) -> dict[str, Any]:
    return {
        "epoch": 0,
        "best": -1.0,
        "best_epoch": None,
        "bad_epochs": 0,
        "plateau_lr": cfg.training.learning_rate,
        "done": False,
        "stopped": None,
        "history": [],
    }


def loss_name(cfg: TrainConfig) -> str:
    """The loss a unit trains with: in softmax mode a sigmoid loss name maps to its softmax form
    (bce -> cce, bce_jaccard -> cce_jaccard); Jaccard, Dice and focal apply as they are."""
    from satseg.models.losses import SOFTMAX_EQUIVALENT

    name = cfg.training.loss
    return SOFTMAX_EQUIVALENT.get(name, name) if cfg.training.mode == "softmax" else name


def build_compiled(cfg: TrainConfig, mcfg: Any, class_index: int | None) -> Any:
    """A fresh compiled model for one unit."""
    from satseg.models import build_model, get_loss
    from satseg.training.schedules import make_optimizer

    cw = cfg.training.class_weights
    if cw is not None and class_index is not None:
        cw = None  # one class per network: weights do not apply
    act = "softmax" if cfg.training.mode == "softmax" else "sigmoid"
    model = build_model(mcfg, output_activation=act)
    model.compile(optimizer=make_optimizer(cfg.training), loss=get_loss(loss_name(cfg), cw))
    return model


def train_unit(
    cfg: TrainConfig,
    mcfg: Any,
    prep: Prepared,
    run_dir: Path,
    *,
    unit: str | None,
    class_index: int | None,
    resume: bool,
    stop_flag: Any,
    extend: bool = False,
    keras_callbacks: Sequence[Any],
    user_callbacks: Sequence[Callable],
    progress: bool,
    deadline: float | None,
    on_history: Callable[[list[dict[str, Any]]], None],
    timings: dict[str, float] | None = None,
    init_from: Path | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Train one unit; returns its history rows and why it stopped early (or None).

    ``init_from`` (a run folder of the same model configuration) gives a fresh unit its
    starting weights (a warm start: the final fit of a search goes on from its best trial).
    ``timings`` (when given) gets ``build_s``, ``first_batch_s`` and ``save_s`` added.
    ``extend`` (a resume with a new config): a unit that finished (planned epochs, early stop,
    time limit) goes on from its checkpoint up to ``cfg.training.epochs``.
    """
    from satseg.data.pipeline import PatchStream
    from satseg.data.sampling import PatchSampler
    from satseg.training.callbacks import RunCallback
    from satseg.training.validate import val_items

    p = cfg.training
    if unit is None:
        model_path, ckpt_dir = run_dir / "model.keras", run_dir / "checkpoints"
        names = [c.name for c in prep.classes]
    else:
        (run_dir / "models").mkdir(exist_ok=True)
        model_path = run_dir / "models" / f"{class_slug(unit)}.keras"
        ckpt_dir = run_dir / "checkpoints" / class_slug(unit)
        names = [unit]
    state_path = ckpt_dir / "state.json"
    state = _fresh_state(cfg)
    model = None
    if resume and state_path.is_file():
        state = json.loads(state_path.read_text())
        if state.get("done") and (not extend or state["epoch"] >= p.epochs):
            log.info("%s: already trained (%d epochs)", unit or "model", state["epoch"])
            return state["history"], state.get("stopped")
        state["done"], state["stopped"] = False, None  # more budget: go on from the checkpoint
        if (ckpt_dir / "last.keras").is_file():
            model = load_keras_model(ckpt_dir / "last.keras", compile=True)
            log.info("%s: resuming after epoch %d", unit or "model", state["epoch"])
        else:
            state = _fresh_state(cfg)
    if stop_flag is not None and stop_flag.is_set():
        return state["history"], "stop_flag"
    if model is None:
        import keras

        keras.utils.set_random_seed(p.seed + (class_index or 0))
        t_build = time.monotonic()
        model = build_compiled(cfg, mcfg, class_index)
        if init_from is not None:
            _load_initial_weights(model, init_from, unit)
        if timings is not None:
            timings["build_s"] = timings.get("build_s", 0.0) + time.monotonic() - t_build
    if state["epoch"] >= p.epochs:
        state["done"] = True
        return state["history"], state.get("stopped")

    sampler = PatchSampler(prep.train, mcfg.input_size, cfg.data.class_balance)
    stream = PatchStream(
        sampler,
        cfg.augment,
        batch_size=p.batch_size,
        margin=mcfg.crop_margin,
        seed=p.seed + 1000 * (class_index or 0),
        class_index=class_index,
    )
    dataset = stream.dataset(start=state["epoch"] * p.steps_per_epoch, parallel=p.workers)
    crop = cfg.data.val_crop_size
    if crop is not None:  # whole output tiles: a crop is predicted in one piece, not 4 (256/224)
        crop = max(1, crop // mcfg.output_size) * mcfg.output_size
    val = val_items(prep.val, crop, cfg.data.val_crops_per_image, p.seed, class_index)
    if stop_flag is not None and stop_flag.is_set():
        return state["history"], "stop_flag"
    cb = RunCallback(
        params=p,
        class_names=names,
        val=val,
        input_size=mcfg.input_size,
        output_size=mcfg.output_size,
        model_path=model_path,
        ckpt_dir=ckpt_dir,
        unit=unit,
        state=state,
        stop_flag=stop_flag,
        exclusive=cfg.training.mode == "softmax",
        user_callbacks=user_callbacks,
        progress=progress,
        deadline=deadline,
        on_history=lambda: on_history(state["history"]),
    )
    model.fit(
        dataset,
        epochs=p.epochs,
        steps_per_epoch=p.steps_per_epoch,
        initial_epoch=state["epoch"],
        verbose=0,
        callbacks=[cb, *keras_callbacks],
        shuffle=False,
    )
    if timings is not None:
        for k, v in cb.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    state["stopped"] = cb.stop_reason
    if cb.stop_reason != "stop_flag":  # finished, early-stopped, out of time or pruned
        state["done"] = True
    if state_path.parent.is_dir():
        from satseg.training.run import atomic_write_json

        atomic_write_json(state_path, state)
    return state["history"], cb.stop_reason


def _load_initial_weights(model: Any, run: Path, unit: str | None) -> None:
    """Copy the weights of the model of run folder ``run`` (the same unit) into ``model``."""
    from satseg.errors import ConfigError

    src = run / "model.keras" if unit is None else run / "models" / f"{class_slug(unit)}.keras"
    if not src.is_file():
        raise ConfigError(f"no model {src} to start from: init_from must name a finished run "
                          "folder of the same configuration")
    try:
        model.set_weights(load_keras_model(src, compile=False).get_weights())
    except ValueError as exc:
        raise ConfigError(f"the weights of {src} do not fit this model ({exc}); init_from "
                          "must name a run of the same model configuration") from exc
    log.info("%s: starting from the weights of %s", unit or "model", src)
