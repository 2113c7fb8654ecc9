"""``train``: the training loop of satseg (softmax, multiclass or one-vs-all), with resume and stop
flag.

The steps: check the config and data (``prepare_data``), resolve ``training.mode: auto`` from the
labels (softmax when every labelled pixel has exactly one class, else multiclass), write
``config.yaml`` (with the resolved mode) and ``meta.json``, then for each *unit* (the one
softmax/multiclass network, or one network per class) build the model, feed
it the patch stream (``satseg.data.PatchStream``) and validate every epoch with exact Jaccard on
the validation images (``RunCallback``). The best model by validation Jaccard is kept; the last
epoch is checkpointed for ``resume``. At the end the best model(s) are validated once more on the
whole validation images and ``jaccard.json`` is written.

A stop flag is checked between the preparation stages and for every image loaded, so a stop takes
effect within seconds also before the first training batch.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from satseg.errors import ConfigError, OutputError
from satseg.io.dataset import SegDataset
from satseg.training.config import TrainConfig
from satseg.training.prepare import Prepared, open_data, prepare_data
from satseg.training.run import (
    META,
    atomic_write_json,
    atomic_write_text,
    class_slug,
    load_keras_model,
    predict_fn,
)

log = logging.getLogger("satseg.training")


@dataclass
class TrainResult:
    """What :func:`train` returns. ``stopped`` says why training ended early (``stop_flag``,
    ``early_stopping``, ``time_limit``, ``callback``) or is None after the planned epochs."""

    val_jaccard: float
    per_class: dict[str, float]
    history: list[dict[str, Any]]
    run_dir: Path
    epochs: int
    stopped: str | None = None
    duration_s: float = 0.0
    #: seconds per stage: prepare_s (load_s, normalise_s when read here; cache_hit 1/0),
    #: build_s, first_batch_s (tracing + 1 batch), train_s (epochs' batches, first included),
    #: val_s (per-epoch validation), save_s (best model + checkpoint), final_val_s, total_s
    timings: dict[str, float] = field(default_factory=dict)


def _as_config(config: TrainConfig | dict | str | Path | None) -> TrainConfig:
    if config is None:
        return TrainConfig.default()
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, dict):
        return TrainConfig.from_dict(config)
    return TrainConfig.from_yaml(config)


def _split_callbacks(callbacks: Sequence[Any]) -> tuple[list[Any], list[Callable]]:
    import keras

    keras_cbs, plain = [], []
    for cb in callbacks:
        if isinstance(cb, keras.callbacks.Callback):
            keras_cbs.append(cb)
        elif callable(cb):
            plain.append(cb)
        else:
            raise ConfigError(
                f"callback {cb!r} is neither a keras Callback nor a callable(epoch, logs)"
            )
    return keras_cbs, plain


class _Stopped(Exception):
    """Raised between preparation stages when the stop flag is set."""


def check_stop(stop_flag: Any, stage: str) -> None:
    """Raise ``_Stopped`` when ``stop_flag`` (anything with ``is_set()``) is set."""
    if stop_flag is not None and bool(stop_flag.is_set()):
        raise _Stopped(stage)


def resolve_training_mode(cfg: TrainConfig, prep: Prepared) -> TrainConfig:
    """``cfg`` with ``training.mode`` resolved (``auto`` -> softmax/multiclass from the targets);
    ConfigError for a softmax run of fewer than two classes or a loss that does not fit the mode."""
    from satseg.data.exclusive import resolve_mode, targets_are_exclusive

    mode = cfg.training.mode
    if mode == "auto":
        exclusive = prep.exclusive
        if exclusive is None:
            exclusive = targets_are_exclusive(im.target for im in prep.train + prep.val)
        mode = resolve_mode(mode, exclusive)
        log.info("training.mode auto -> %s", mode)
    if mode == "softmax" and len(prep.classes) < 2:
        raise ConfigError(
            f"config field 'training.mode' = softmax needs at least 2 classes, the run has "
            f"{[c.name for c in prep.classes]}; use mode multiclass"
        )
    if mode != "softmax" and cfg.training.loss in ("cce", "cce_jaccard"):
        raise ConfigError(
            f"config field 'training.loss' = {cfg.training.loss} is for softmax outputs "
            f"(exclusive classes) but the run's mode is {mode}; use bce_jaccard, or mode softmax"
        )
    return cfg if mode == cfg.training.mode else cfg.updated({"training.mode": mode})


def _check_resumable(saved: TrainConfig, new: TrainConfig, run_dir: Path) -> None:
    """ConfigError unless ``new`` continues ``saved`` (same model, classes, indices)."""
    def plain(v: Any) -> Any:  # YAML gives lists where a config built in Python has tuples
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    same = (
        plain(saved.model) == plain(new.model)
        and saved.data.classes == new.data.classes
        and saved.data.indices == new.data.indices
        and new.training.mode in ("auto", saved.training.mode)
    )
    if not same:
        raise ConfigError(
            f"cannot resume {run_dir} with another model, classes, indices or mode than it was "
            "trained with; change only training settings (epochs, time limit, ...) or start a "
            "new run"
        )


def _meta(cfg: TrainConfig, prep: Prepared, mcfg: Any) -> dict[str, Any]:
    from satseg import __version__

    return {
        "satseg_version": __version__,
        "dataset": prep.dataset_name,
        "dataset_kind": prep.dataset_kind,
        "mode": cfg.training.mode,
        "bands": list(prep.band_names),
        "indices": list(cfg.data.indices),
        "channels": list(prep.channel_names),
        "mean": [float(v) for v in prep.mean],
        "std": [float(v) for v in prep.std],
        "classes": [{"name": c.name, "colour": c.colour, "code": c.code} for c in prep.classes],
        "input_size": mcfg.input_size,
        "output_size": mcfg.output_size,
        "margin": mcfg.crop_margin,
        "train_ids": list(prep.split.train),
        "val_ids": list(prep.split.val),
    }


def _write_history(run_dir: Path, history: list[dict[str, Any]]) -> None:
    atomic_write_json(run_dir / "history.json", history)
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(run_dir / "history.csv", buf.getvalue())


def train(
    config: TrainConfig | dict | str | Path | None = None,
    data: str | Path | SegDataset = "sample",
    out_dir: str | Path | None = None,
    *,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
    stop_flag: Any = None,
    resume: bool = False,
    val_ids: Sequence[str] | None = None,
    init_from: str | Path | None = None,
) -> TrainResult:
    """Train a U-Net (or one per class) and write a run folder; see docs/training.md.

    Args:
        config: TrainConfig, its dict, a YAML path, or None for the bundled default.
        data: ``"sample"``, a data set folder, or a SegDataset.
        out_dir: run folder (created; a temporary folder when None). It must not already hold a
            run unless ``resume``.
        progress: tqdm bars for loading and every epoch.
        callbacks: keras callbacks, or callables ``fn(epoch, logs)`` called after each validated
            epoch (``logs``: the history row); a callable returning True stops after that epoch.
        stop_flag: any object with ``is_set()`` (threading.Event, ...), checked every batch; the
            run stops cleanly, keeping its last full-epoch checkpoint.
        resume: continue the run in ``out_dir`` from its last checkpoint (weights, optimiser
            state, epoch counter, history), with its split. With ``config`` None the saved
            config is used (an interrupted run goes on); with a config (same model and data,
            e.g. more ``training.epochs`` or another time limit) training continues up to that
            config's epochs in total: a finished run gets more budget.
        val_ids: validation image ids (overrides ``data.val_ids`` and the automatic split).
        init_from: a run folder of the same model configuration whose weights a new run starts
            from (a warm start; ignored when resuming, which starts from the run's checkpoint).
    """
    from satseg._tensorflow import require_tensorflow

    require_tensorflow("training")
    t0 = time.monotonic()
    run_dir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="satseg-run-"))
    if resume:
        if not (run_dir / "config.yaml").is_file() or not (run_dir / META).is_file():
            raise OutputError(
                f"cannot resume: {run_dir} holds no run (config.yaml, meta.json); "
                "start a new run without --resume"
            )
        cfg = TrainConfig.from_yaml(run_dir / "config.yaml")
        if config is not None:
            new = _as_config(config)
            _check_resumable(cfg, new, run_dir)
            cfg = new.updated({"training.mode": cfg.training.mode})
        val_ids = json.loads((run_dir / META).read_text())["val_ids"]
    else:
        cfg = _as_config(config)
        if (run_dir / META).exists():
            raise OutputError(
                f"{run_dir} already holds a run; use --resume to continue it or another --out"
            )
    keras_cbs, plain_cbs = _split_callbacks(callbacks)
    try:
        check_stop(stop_flag, "start")
        ds = open_data(data)
        prep = prepare_data(cfg, ds, val_ids=val_ids, progress=progress, stop_flag=stop_flag)
        check_stop(stop_flag, "data prepared")
    except _Stopped as exc:
        log.info("stopped by stop flag (%s) before training", exc)
        return _stopped_result(run_dir, t0)
    cfg = resolve_training_mode(cfg, prep)
    n_classes = len(prep.classes)
    units: list[tuple[str | None, int | None]] = (
        [(c.name, k) for k, c in enumerate(prep.classes)]
        if cfg.training.mode == "one_vs_all"
        else [(None, None)]
    )
    mcfg = cfg.model_config(len(prep.channel_names), n_classes if units[0][1] is None else 1)
    cw = cfg.training.class_weights
    if cw is not None and len(cw) != n_classes:
        raise ConfigError(
            f"config field 'training.class_weights' has {len(cw)} values for {n_classes} classes "
            f"{[c.name for c in prep.classes]}"
        )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create run folder {run_dir}: {exc}") from exc
    atomic_write_text(run_dir / "config.yaml", cfg.to_yaml())
    if not resume:
        atomic_write_json(run_dir / META, _meta(cfg, prep, mcfg))

    from satseg.training.unit import train_unit

    deadline = (
        t0 + 60.0 * cfg.training.time_limit_minutes if cfg.training.time_limit_minutes else None
    )
    history: list[dict[str, Any]] = []
    stopped: str | None = None
    timings: dict[str, float] = dict(prep.timings)

    def write_partial(unit_rows: list[dict[str, Any]]) -> None:
        _write_history(run_dir, history + unit_rows)

    for k, (unit, class_index) in enumerate(units):
        unit_deadline = None
        if deadline is not None:
            unit_deadline = time.monotonic() + (deadline - time.monotonic()) / (len(units) - k)
        rows, stopped = train_unit(
            cfg,
            mcfg,
            prep,
            run_dir,
            unit=unit,
            class_index=class_index,
            resume=resume,
            extend=resume and config is not None,
            stop_flag=stop_flag,
            keras_callbacks=keras_cbs,
            user_callbacks=plain_cbs,
            progress=progress,
            deadline=unit_deadline,
            on_history=write_partial,
            timings=timings,
            init_from=Path(init_from) if init_from is not None else None,
        )
        history.extend(rows)
        _write_history(run_dir, history)
        if stopped in ("stop_flag", "callback"):
            break
    t_final = time.monotonic()
    report = _final_report(cfg, prep, run_dir, stopped, history)
    timings["final_val_s"] = time.monotonic() - t_final
    timings["train_s"] = sum(float(r.get("train_s", 0.0)) for r in history)
    timings["val_s"] = sum(float(r.get("val_s", 0.0)) for r in history)
    timings["total_s"] = time.monotonic() - t0
    timings = {k: round(v, 3) for k, v in timings.items()}
    epochs = max((int(r["epoch"]) for r in history), default=0)
    per_class = {k: (float("nan") if v is None else v) for k, v in report["per_class"].items()}
    mean = report["mean"] if report["mean"] is not None else float("nan")
    log.info("run %s: validation Jaccard %.4f after %d epoch(s)", run_dir, mean, epochs)
    return TrainResult(
        val_jaccard=float(mean),
        per_class=per_class,
        history=history,
        run_dir=run_dir,
        epochs=epochs,
        stopped=stopped,
        duration_s=time.monotonic() - t0,
        timings=timings,
    )


def _stopped_result(run_dir: Path, t0: float) -> TrainResult:
    """What a run stopped before its first batch returns (its earlier history on a resume)."""
    history: list[dict[str, Any]] = []
    if (run_dir / "history.json").is_file():
        history = json.loads((run_dir / "history.json").read_text())
    per_class: dict[str, float] = {}
    mean = float("nan")
    if (run_dir / "jaccard.json").is_file():
        rep = json.loads((run_dir / "jaccard.json").read_text())
        per_class = {k: float("nan") if v is None else v for k, v in rep["per_class"].items()}
        mean = float("nan") if rep.get("mean") is None else float(rep["mean"])
    return TrainResult(
        val_jaccard=mean,
        per_class=per_class,
        history=history,
        run_dir=run_dir,
        epochs=max((int(r["epoch"]) for r in history), default=0),
        stopped="stop_flag",
        duration_s=time.monotonic() - t0,
    )


def _final_report(
    cfg: TrainConfig,
    prep: Prepared,
    run_dir: Path,
    stopped: str | None,
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    """Validate the best model(s) on the whole validation images; write jaccard.json."""
    from satseg.evaluation import jaccard_from_counts
    from satseg.training.validate import val_items, validation_counts

    names = [c.name for c in prep.classes]
    if (
        cfg.data.final_val == "crops"
        and cfg.data.val_crop_size is not None
        and cfg.training.mode != "one_vs_all"
        and history
    ):
        return _crop_report(names, prep, run_dir, stopped, history, cfg.training.keep)
    if cfg.training.mode != "one_vs_all":
        paths = [run_dir / "model.keras"]
    else:
        paths = [run_dir / "models" / f"{class_slug(n)}.keras" for n in names]
    if not all(p.is_file() for p in paths):  # stopped before every unit had a validated epoch
        return {"mean": None, "per_class": dict.fromkeys(names), "complete": False}
    models = [load_keras_model(p) for p in paths]
    mcfg = cfg.model_config(len(prep.channel_names), 1)
    items = val_items(prep.val, None, 1, cfg.training.seed)

    fns = [predict_fn(m) for m in models]
    softmax = cfg.training.mode == "softmax"

    def predict(x: Any) -> Any:
        import numpy as np

        from satseg.data.exclusive import exclusive_scores

        p = np.concatenate([f(x) for f in fns], axis=-1)
        return exclusive_scores(p) if softmax else p

    counts = validation_counts(
        predict, items, mcfg.input_size, mcfg.output_size, threshold=cfg.training.threshold
    )
    report = jaccard_from_counts(counts, names).to_dict()
    report.update(
        {
            "complete": True,
            "stopped": stopped,
            "val_ids": list(prep.split.val),
            "best_epochs": _best_epochs(history),
        }
    )
    atomic_write_json(run_dir / "jaccard.json", report)
    if report["mean"] is None or math.isnan(report["mean"]):
        log.warning("validation Jaccard undefined: no class present or predicted")
    return report


def _crop_report(
    names: list[str],
    prep: Prepared,
    run_dir: Path,
    stopped: str | None,
    history: list[dict[str, Any]],
    keep: str = "best",
) -> dict[str, Any]:
    """``data.final_val: crops``: the kept epoch's scores on the validation crops (no new pass):
    the best one, or the last with ``training.keep: last``."""
    best = history[-1] if keep == "last" else max(history, key=lambda r: r["val_jaccard"])
    per_class = {n: best.get(f"val_jaccard_{n}") for n in names}
    report = {
        "mean": best["val_jaccard"],
        "per_class": per_class,
        "counts": {},
        "per_image": {},
        "complete": (run_dir / "model.keras").is_file(),
        "on": "validation crops",
        "stopped": stopped,
        "val_ids": list(prep.split.val),
        "best_epochs": _best_epochs(history),
    }
    atomic_write_json(run_dir / "jaccard.json", report)
    return report


def _best_epochs(history: list[dict[str, Any]]) -> dict[str, int]:
    best: dict[str, tuple[float, int]] = {}
    for row in history:
        key = row.get("unit") or "all"
        if key not in best or row["val_jaccard"] > best[key][0]:
            best[key] = (row["val_jaccard"], int(row["epoch"]))
    return {k: v[1] for k, v in best.items()}
