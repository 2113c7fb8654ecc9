"""Results tab: per-class Jaccard of trials, and their predictions on an image (overlay, ground
truth, prediction, error map), computed with ``satseg.inference`` in a background thread."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import param

from app import render
from app.catalog import Catalog
from app.jobs import Job, readable_error
from app.studies import StudyState
from app.views.bands import _default_rgb

log = logging.getLogger("satseg.app.results")
RUN_KEYS = ("run_dir", "model_dir", "run", "model")
#: The shipped demo model (satseg.datasets.demo_model) in the trial selects, beside a study's trials.
BUNDLED = "demo model"
PALETTES = ["data set colours", "distinct colours"]
#: Okabe & Ito (2008) colour-blind-safe colours, then a few more: told apart by everyone.
DISTINCT = ["#E69F00", "#0072B2", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
            "#000000", "#999999", "#882255", "#44AA99", "#117733"]
TTA_LABELS = {"off (1 view)": 1, "2 views": 2, "4 views": 4, "8 views (all flips/rotations)": 8}


def bundled_info() -> dict:
    """The shipped demo model as a trial record ({} when it is not installed)."""
    from satseg.datasets.demo_model import demo_model_info

    try:
        return demo_model_info()
    except Exception:  # noqa: BLE001 - a damaged install: the page goes on without it
        log.exception("cannot read the shipped demo model")
        return {}


def run_dir_of(info: dict) -> Path | None:
    """The run folder of a trial from ``StudyStore.trial(...)['artifacts']``."""
    art = info.get("artifacts") or {}
    if isinstance(art, (str, Path)):
        return Path(art)
    for key in RUN_KEYS:
        if art.get(key):
            url = str(art[key])
            if "://" in url:  # a search's --runs-dir URL (object store): a cached local copy
                from satseg.search.artifacts import materialise

                return materialise(url.rsplit("/", 1)[0] if url.endswith(".keras") else url)
            p = Path(url)
            return p.parent if p.suffix == ".keras" else p
    return None


def predict_probs(run_dir: Path, stack, job: Job | None = None, tta: int = 1
                  ) -> tuple[np.ndarray, list[str]]:
    """Class probabilities ``(n_class, H, W)`` (uint8, 0-255) of a run on a stack, and class names
    (``satseg.inference.predict_image``: smooth-blended tiles, ``tta`` dihedral views)."""
    from satseg.inference import predict_image
    from satseg.training import load_run

    if job is not None:
        job.report(0.05, f"loading model {run_dir.name}")
    run = load_run(run_dir)
    if job is not None:
        job.report(0.15, "predicting (tiled, blended)")
    probs = predict_image(run, stack, tta=tta)
    names = [str(c) for c in probs.coords["class"].values] if "class" in probs.coords else [
        getattr(c, "name", str(c)) for c in run.classes]
    arr = np.asarray(probs.values if hasattr(probs, "values") else probs, dtype=np.float32)
    return np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8), names


class ResultsView(param.Parameterized):
    """State of the Results tab."""

    studies: StudyState = param.ClassSelector(class_=StudyState,  # type: ignore[assignment]
                                              doc="the selected store and study")
    dataset: Any = param.Selector(objects=[], doc="data set the predictions are made on")
    trial: Any = param.Selector(objects=[], doc="trial whose model is shown (default: the best)")
    other: Any = param.Selector(objects=[], doc="second trial shown side by side (optional)")
    compare = param.ListSelector(default=[], objects=[], doc="trials in the per-class Jaccard bars")
    image: Any = param.Selector(objects=[], doc="image to predict (validation images first)")
    error_class: Any = param.Selector(objects=[], doc="class of the error map")
    threshold = param.Number(default=0.5, bounds=(0.01, 0.99), doc="probability threshold of the masks")
    alpha = param.Number(default=0.5, bounds=(0.0, 1.0), doc="opacity of the class overlay")
    tta: Any = param.Selector(objects=TTA_LABELS, default=1,
                         doc="test-time augmentation: views averaged (8 = the full dihedral group, ~8x slower)")
    palette: Any = param.Selector(objects=PALETTES, default=PALETTES[0],
                             doc="class colours: the data set's own, or colours anyone tells apart")
    status_text = param.String(default="", doc="what the predictions of both trials are doing")
    version = param.Integer(default=0, doc="bumped when a prediction arrives")
    active = param.Boolean(default=True, doc="the tab is shown (images are drawn only then)")
    progress = param.Integer(default=-1, bounds=(-1, 100), doc="prediction progress (-1: idle)")
    message = param.String(default="", doc="what the background prediction is doing")
    error = param.String(default="", doc="last error, shown in the page")

    def __init__(self, studies: StudyState, catalog: Catalog, **params):
        self.catalog = catalog
        self.predictions: dict[tuple, tuple[np.ndarray, list[str]]] = {}
        self._memo: dict = {}
        self.jobs: dict[tuple, Job] = {}
        self._infos: dict = {}
        self._bundled = bundled_info()
        self.statuses: dict = {}  # trial -> its prediction's last status line
        super().__init__(studies=studies, **params)
        self.param.dataset.objects = catalog.names()
        if catalog.names():
            self.dataset = catalog.names()[0]
        self._sync_trials()

    # ---------------------------------------------------------------- selections
    @param.depends("dataset", watch=True, on_init=False)
    def _on_dataset(self) -> None:
        try:
            ds = self.catalog.dataset(self.dataset)
        except Exception as exc:  # noqa: BLE001
            self.error = readable_error(exc)
            return
        labelled = set(ds.labelled_ids())
        ids = sorted(ds.ids(), key=lambda i: (i not in labelled, i))
        self.param.image.objects = ids
        self.param.error_class.objects = [c.name for c in ds.classes]
        if self.error_class not in self.param.error_class.objects:
            self.error_class = self.param.error_class.objects[0] if ds.classes else None
        if self.image not in ids:
            self.image = ids[0] if ids else None
        self._sync_trials()

    def bundled_fits(self) -> bool:
        """The shipped demo model predicts the selected data set's classes (the Dubai sample or
        the full Dubai data set)."""
        return self._fits(self._bundled)

    def _fits(self, info: dict) -> bool:
        """The model (a trial record with ``classes``) predicts the selected data set's classes."""
        if not info or self.dataset is None:
            return False
        try:
            names = [c.name for c in self.catalog.dataset(self.dataset).classes]
        except Exception:  # noqa: BLE001
            return False
        return sorted(names) == sorted(info.get("classes", []))

    def _models(self) -> list[str]:
        """The offered models (``StudyState.models``: final models of `satseg auto` runs) that
        fit the selected data set."""
        return [k for k, info in self.studies.models.items() if self._fits(info)]

    @param.depends("studies.version", "studies.models_version", watch=True)
    def _sync_trials(self) -> None:
        df = self.studies.trials
        ok = df
        if not df.empty and "status" in df:
            ok = df[df["status"].astype(str).isin(["ok", "done", "complete", "completed", "finished"])]
        if not ok.empty and "objective" in ok:
            ok = ok.sort_values("objective", ascending=False)
        study_ids = list(ok["trial_id"]) if "trial_id" in ok else []
        # The shipped model first: a good map from the first second, the study's trials beside it.
        ids = ([BUNDLED] if self.bundled_fits() else []) + self._models() + study_ids
        self.param.trial.objects = ids
        self.param.other.objects = [None, *ids]
        self.param.compare.objects = ids
        if self.trial not in ids:
            self.trial = ids[0] if ids else None
        if self.other not in [None, *ids] or (self.other is None and self.trial == BUNDLED
                                              and study_ids):
            self.other = study_ids[0] if self.trial == BUNDLED and study_ids else None
        if not self.compare and ids:
            self.compare = ids[:2]
        else:
            self.compare = [t for t in self.compare if t in ids] or ids[:2]

    # ---------------------------------------------------------------- data
    def info(self, trial_id) -> dict:
        if trial_id == BUNDLED:
            return self._bundled
        if trial_id in self.studies.models:
            return self.studies.models[trial_id]
        key = (self.studies.store, self.studies.study, trial_id)
        if key not in self._infos:
            self._infos[key] = self.studies.trial(trial_id)
        return self._infos[key]

    def jaccard_table(self, trial_ids=None) -> pd.DataFrame:
        """Long table ``trial, class, jaccard`` of the per-class validation Jaccard."""
        rows = []
        for tid in (self.compare if trial_ids is None else trial_ids):
            try:
                per_class = self.info(tid).get("per_class") or {}
            except Exception as exc:  # noqa: BLE001
                self.error = f"cannot read trial {tid}: {readable_error(exc)}"
                continue
            for name, val in per_class.items():
                rows.append({"trial": self.label(tid), "class": str(name), "jaccard": float(val)})
        return pd.DataFrame(rows, columns=["trial", "class", "jaccard"])

    def jaccard_wide(self, trial_ids=None) -> pd.DataFrame:
        """One row per trial: its per-class validation Jaccard and their mean (3 decimals)."""
        long = self.jaccard_table(trial_ids)
        if long.empty:
            return pd.DataFrame(columns=["trial"])
        wide = long.pivot_table(index="trial", columns="class", values="jaccard", sort=False)
        wide.columns.name = None
        wide["mean"] = wide.mean(axis=1)
        return wide.round(3).reset_index()

    def key(self, trial_id) -> tuple:
        if trial_id == BUNDLED or trial_id in self.studies.models:  # whatever the study
            return (None, None, trial_id, self.dataset, self.image, self.tta)
        return (self.studies.store, self.studies.study, trial_id, self.dataset, self.image, self.tta)

    def label(self, trial_id) -> str:
        if trial_id == BUNDLED:
            return "the demo model"
        return str(trial_id) if trial_id in self.studies.models else f"trial {trial_id}"

    def prediction(self, trial_id):
        """``(probs uint8 (n, H, W), class names)`` if computed, else None."""
        return self.predictions.get(self.key(trial_id))

    def predict(self, trial_id=None) -> Job | None:
        """Start predicting ``trial_id`` (default: the selected trial) on the selected image."""
        trial_id = self.trial if trial_id is None else trial_id
        if trial_id is None or self.image is None:
            self.error = "pick a finished trial and an image first"
            return None
        key = self.key(trial_id)
        if key in self.predictions:
            return None
        if key in self.jobs and not self.jobs[key].done:
            return self.jobs[key]
        try:
            run_dir = run_dir_of(self.info(trial_id))
        except Exception as exc:  # noqa: BLE001
            self.error = f"cannot read trial {trial_id}: {readable_error(exc)}"
            return None
        if run_dir is None or not run_dir.exists():
            self.error = (f"trial {trial_id} has no saved model (artifacts: {run_dir}); "
                          "only finished trials that kept their run folder can predict")
            return None
        stack = self.catalog.stack(self.dataset, self.image)
        tta = self.tta
        job = Job(f"predict-{trial_id}", lambda j: predict_probs(run_dir, stack, j, tta)).start()
        self.jobs[key] = job
        self.error, self.progress = "", 0
        self._status(trial_id, f"{self.label(trial_id)} on {self.image}: starting")
        return job

    def _status(self, trial_id, text: str) -> None:
        """One status line per trial: both compared trials are reported, not only the last."""
        self.statuses[trial_id] = text
        shown = [t for t in (self.trial, self.other) if t is not None]
        lines = [self.statuses[t] for t in shown if t in self.statuses]
        self.message = lines[-1] if lines else text
        self.status_text = "  \n".join(lines)

    @param.depends("trial", "other", "image", "tta", watch=True)
    def _on_pair(self) -> None:
        """Status lines of the trials now compared: a prediction already made says so."""
        self.statuses = {t: v for t, v in self.statuses.items()
                         if t in (self.trial, self.other)}
        for t in (self.trial, self.other):
            if t is not None and self.prediction(t) is not None:
                self.statuses[t] = f"{self.label(t)} on {self.image}: predicted"
            elif t is not None and not any(k[2] == t for k in self.jobs):
                self.statuses[t] = f"{self.label(t)} on {self.image}: not predicted yet"
        lines = [self.statuses[t] for t in (self.trial, self.other) if t in self.statuses]
        self.status_text = "  \n".join(lines)

    def poll(self) -> None:
        """Copy finished background predictions into :attr:`predictions` (session thread)."""
        changed = False
        for key, job in list(self.jobs.items()):
            if not job.done:
                self.progress = int(job.progress * 100)
                self._status(key[2], f"{self.label(key[2])} on {key[4]}: {job.message}")
                continue
            del self.jobs[key]
            if job.status == "done":
                self.predictions[key] = job.result
                changed = True
                self._status(key[2], f"{self.label(key[2])} on {key[4]}: done in "
                                     f"{job.finished - job.started:.1f} s")
            else:
                self._status(key[2], f"{self.label(key[2])} on {key[4]}: failed")
                self.error = f"prediction of {self.label(key[2])} failed: {job.error}"
        if not self.jobs:
            self.progress = -1
        if changed:
            self.version += 1

    def _memoised(self, key: tuple, make):
        if key not in self._memo:
            self._memo[key] = make()
            while len(self._memo) > 6:
                self._memo.pop(next(iter(self._memo)))
        return self._memo[key]

    def rgb(self) -> np.ndarray:
        """The image as a stretched RGB composite ``(H, W, 3)``."""

        def make():
            bands = self.catalog.band_names(self.dataset, self.image)
            chans = [self.catalog.layer(self.dataset, self.image, b) for b in _default_rgb(bands)]
            return render.rgb_from_channels(chans, [render.percentile_limits(c) for c in chans])

        return self._memoised(("rgb", self.dataset, self.image), make)

    def masks(self, trial_id) -> tuple[np.ndarray, list[str]] | None:
        pred = self.prediction(trial_id)
        if pred is None:
            return None
        probs, names = pred
        return probs >= int(round(self.threshold * 255)), names

    def class_colours(self, names: list[str]) -> list[str]:
        """Colours of classes ``names`` in the chosen palette (the data set's, or distinct ones
        by the class's place in the data set: the same class keeps its colour everywhere)."""
        classes = self.catalog.dataset(self.dataset).classes
        if self.palette == PALETTES[1]:
            order = [c.name for c in classes]
            return [DISTINCT[(order.index(n) if n in order else len(order) + i) % len(DISTINCT)]
                    for i, n in enumerate(names)]
        colours = {c.name: c.colour for c in classes}
        return [colours.get(n, "#ff00ff") for n in names]

    def legend(self) -> list[tuple[str, str]]:
        """``(class, colour)`` of the selected data set in the chosen palette."""
        try:
            names = [c.name for c in self.catalog.dataset(self.dataset).classes]
        except Exception:  # noqa: BLE001 - the error shows in the page already
            return []
        return list(zip(names, self.class_colours(names), strict=True))

    def overlay(self, trial_id) -> np.ndarray | None:
        """RGBA of the predicted masks in class colours."""
        m = self.masks(trial_id)
        if m is None:
            return None
        masks, names = m
        return render.class_overlay(masks, self.class_colours(names), alpha=1.0)

    def truth_overlay(self) -> np.ndarray | None:
        labels = self.catalog.labels(self.dataset, self.image)
        if labels is None:
            return None
        return self._memoised(("truth", self.dataset, self.image, self.palette), lambda: render.class_overlay(
            labels.masks, self.class_colours([c.name for c in labels.classes]), alpha=1.0))

    def error_map(self, trial_id) -> np.ndarray | None:
        """RGBA error map (TP, FP, FN) of :attr:`error_class`, or None without prediction or labels."""
        m = self.masks(trial_id)
        labels = self.catalog.labels(self.dataset, self.image)
        if m is None or labels is None:
            return None
        masks, names = m
        truth_names = [c.name for c in labels.classes]
        if self.error_class not in names or self.error_class not in truth_names:
            return None
        codes = render.error_codes(masks[names.index(self.error_class)],
                                   labels.masks[truth_names.index(self.error_class)], labels.ignore)
        return render.error_overlay(codes, alpha=1.0)
