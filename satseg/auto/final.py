"""The final model of a study: its best configuration trained again for a fixed time, then the
post-processing tuned on validation (``satseg study train-best``, and a stage of ``satseg auto``).

The trial's parameters in the store rebuild its configuration exactly as the search objective did
(:meth:`satseg.search.objective.SatsegObjective.config`: the study's classes and validation
images). The final fit changes only the training length: ``training.schedule: cosine_time``
(the learning rate follows a cosine from its initial value to its floor keyed to the wall clock,
reaching the floor at the deadline; Loshchilov & Hutter 2017 without restarts) and
``training.time_limit_minutes`` = the minutes given, with epochs enough to fill them. The
images it trains on are ``fit_on``'s: ``train`` (the study's training images) keeps the epoch
with the best validation Jaccard, and :func:`tune_run` then picks the per-class threshold and
minimum object area on the same validation images
(:func:`satseg.inference.postprocess.tune_postprocess`) and saves ``postprocess.json``, which
``satseg predict`` applies by default; ``all`` (``satseg auto``'s default) adds the validation
images to the training images and keeps the last epoch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from satseg.errors import ConfigError, StoreError

log = logging.getLogger("satseg.auto")
#: epochs far above what a time limit lets a run reach: the time limit ends the final fit
MANY_EPOCHS = 100000


@dataclass
class BestTrial:
    """A study's trial as a training job: its configuration and where its data lives."""

    study: str
    trial_id: int
    objective: float | None
    params: dict[str, Any]
    config: Any  # TrainConfig
    data: str
    val_ids: tuple[str, ...]
    exclude_ids: tuple[str, ...]
    artifacts: dict[str, str] = field(default_factory=dict)


def best_trial_config(store: Any, study: str, trial_id: int | None = None) -> BestTrial:
    """The configuration of trial ``trial_id`` (None: the best finished one) of ``study``,
    rebuilt from the parameters and the study settings in the store."""
    from satseg.search.objective import SatsegObjective
    from satseg.search.store import StudyStore

    if not isinstance(store, StudyStore):
        store = StudyStore(store)
    rec = store.study(study)
    settings = rec["settings"]
    if settings.get("objective"):
        raise StoreError(f"study {study!r} used its own objective {settings['objective']!r}, "
                         "not satseg's training: there is no satseg configuration to train")
    if trial_id is None:
        best = store.best_trial(study)
        if best is None:
            raise StoreError(f"study {study!r} in {store.path} has no finished trial yet; run "
                             f"`satseg search --study {study} --resume` first")
        trial_id = int(best["trial_id"])
    row = store.trial(study, trial_id)
    data = rec.get("data") or settings.get("data")
    if not data:
        raise StoreError(f"study {study!r} records no data set; it cannot be trained again")
    val_ids = tuple(settings.get("val_ids") or ())
    classes = tuple(settings["classes"]) if settings.get("classes") else None
    exclude = tuple(settings.get("exclude_ids") or ())
    obj = SatsegObjective(data=str(data), val_ids=val_ids, classes=classes, exclude_ids=exclude)
    return BestTrial(study, int(trial_id), row.get("objective"), dict(row["params"]),
                     obj.config(row["params"]), str(data), val_ids, exclude,
                     dict(row.get("artifacts") or {}))


#: what a final fit trains on: ``train``, the study's training images (the epoch with the best
#: validation Jaccard is kept, and the post-processing is tuned on the validation images), or
#: ``all``, the validation images too (the last epoch is kept; nothing is left to tune on)
FIT_ON = ("train", "all")


def check_fit_on(fit_on: str) -> None:
    """ConfigError unless ``fit_on`` is one of :data:`FIT_ON`."""
    if fit_on not in FIT_ON:
        raise ConfigError(f"--fit-on {fit_on!r}: use 'train' (validation images held out, best "
                          "epoch kept, post-processing tuned on them) or 'all' (every image, "
                          "last epoch kept)")


def final_config(cfg: Any, minutes: float, fit_on: str = "train") -> Any:
    """``cfg`` trained for ``minutes`` with the learning rate decayed to the deadline, on the
    images ``fit_on`` names (:data:`FIT_ON`)."""
    if not (isinstance(minutes, (int, float)) and math.isfinite(minutes) and minutes > 0):
        raise ConfigError(f"--minutes {minutes!r}: give a positive number of minutes for the "
                          "final training")
    check_fit_on(fit_on)
    changes: dict[str, Any] = {"training.schedule": "cosine_time",
                               "training.time_limit_minutes": float(minutes),
                               "training.epochs": MANY_EPOCHS,
                               "training.early_stopping_patience": 0,
                               # the final model is scored on whole validation images (trials
                               # may have used crops to be cheap)
                               "data.final_val": "whole"}
    if fit_on == "all":
        # Every image trains. Why: the search validates on whole scene/folder groups, and one
        # group can hold most of a class (on the Dubai tiles, tile 4 holds 83% of the building
        # pixels left for training); a final model without it scored 0.29 on held-out tiles,
        # with it 0.43 (docs/search.md). The schedule decays to the deadline, so the last epoch
        # is kept; validation scores then measure fit, and crops are enough for them.
        changes.update({"data.train_on_val": True, "training.keep": "last",
                        "data.final_val": "crops"})
        if cfg.data.val_crop_size is None:
            changes["data.val_crop_size"] = min(256, 2 * cfg.model_config(1, 1).input_size)
    return cfg.updated(changes)


def train_best(store: Any, study: str, out: str | Path, minutes: float, *,
               trial_id: int | None = None, data: Any = None, tune: bool = True,
               progress: bool = True, stop_flag: Any = None, resume: bool = False,
               warm_start: bool = True, fit_on: str = "train") -> dict[str, Any]:
    """Train the best trial's configuration again into the run folder ``out`` for ``minutes``
    (see the module doc); ``resume`` continues an interrupted final fit there. ``warm_start``
    starts from the trial's trained weights when its run folder still holds its model (the
    search's training is not thrown away; the learning rate starts again from its initial
    value, a warm restart in the sense of Loshchilov & Hutter 2017). ``fit_on="all"`` trains
    on the validation images too (:func:`final_config`); ``tune`` is then skipped (no image is
    left to tune on). Returns ``{run_dir, trial_id, val_jaccard, per_class, epochs, stopped,
    postprocess, fit_on}``."""
    from satseg.search.objective import open_search_data
    from satseg.training import train

    best = best_trial_config(store, study, trial_id)
    cfg = final_config(best.config, minutes, fit_on)
    ds = open_search_data(data if data is not None else best.data, best.exclude_ids)
    log.info("final fit of study %s trial %d (objective %s) for %.1f min into %s", study,
             best.trial_id, best.objective, minutes, out)
    init_from = _trial_run(best) if warm_start and not resume else None
    res = train(cfg, data=ds, out_dir=out, progress=progress, stop_flag=stop_flag,
                resume=resume, val_ids=list(best.val_ids) or None, init_from=init_from)
    out_d: dict[str, Any] = {"run_dir": str(res.run_dir), "trial_id": best.trial_id,
                             "warm_start": None if init_from is None else str(init_from),
                             "trial_objective": best.objective, "val_jaccard": res.val_jaccard,
                             "per_class": dict(res.per_class), "epochs": res.epochs,
                             "stopped": res.stopped, "postprocess": None, "fit_on": fit_on}
    if tune and fit_on == "train" and res.val_jaccard == res.val_jaccard:  # a model exists
        out_d["postprocess"] = tune_run(res.run_dir, ds, best.val_ids)
    return out_d


def _trial_run(best: BestTrial) -> Path | None:
    """The run folder of ``best`` when it still holds the trial's model, else None."""
    run = best.artifacts.get("run_dir")
    if not run:
        return None
    p = Path(run)
    if (p / "model.keras").is_file() or (p / "models").is_dir():
        return p
    return None


def tune_run(run_dir: str | Path, data: Any, val_ids: Sequence[str]) -> dict[str, Any]:
    """Tune the post-processing of run ``run_dir`` on ``val_ids`` of ``data``; saves
    ``postprocess.json`` in the run and returns its thresholds, min areas and tuned Jaccard."""

    from satseg.inference.postprocess import gate_for_run, tune_postprocess
    from satseg.inference.predict import predict_image
    from satseg.training import load_run
    from satseg.training.prepare import open_data

    ds = open_data(data) if isinstance(data, (str, Path)) else data
    run = load_run(run_dir)
    names = list(run.class_names)
    ids = list(val_ids) or list(getattr(run, "val_ids", ()) or ())
    if not ids:
        raise ConfigError(f"run {run_dir} has no validation images to tune its post-processing")
    probs, truths, ignores = [], [], []
    for image_id in ids:
        labels = ds.load_labels(image_id)
        have = [c.name for c in labels.classes]
        idx = [have.index(n) for n in names]
        # one view (no test-time augmentation): a tenth of the time, thresholds as good
        probs.append(gate_for_run(run, predict_image(run, ds.load_image(image_id), tta=1).values))
        truths.append(labels.masks[idx])
        ignores.append(labels.ignore)
    pp = tune_postprocess(probs, truths, ignores, names)
    pp.save(run_dir)
    return {"thresholds": dict(pp.thresholds), "min_area": dict(pp.min_area),
            "tuned_jaccard": dict(pp.tuned_jaccard), "val_ids": ids}
