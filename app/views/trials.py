"""Trials tab: objective per trial with best so far, parallel coordinates, objective against each
parameter, learning curves and a filterable table; live while a study runs."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import param

from app.jobs import Job, readable_error
from app.studies import StudyState, param_columns

log = logging.getLogger("satseg.app.trials")

#: Above this many points the scatter plots are rasterised with datashader instead of drawn as glyphs.
DATASHADE_ABOVE = 1000
TABLE_FIRST = ["trial_id", "status", "objective", "duration", "error"]
#: Bookkeeping columns the table leaves out (they say little and make it wider than the page).
TABLE_HIDDEN = ("worker", "retries", "space_version", "study")
TIME_COLUMNS = ("started",)  # finished = started + duration: one column less to scroll


def local_time(values: pd.Series) -> pd.Series:
    """Epoch seconds as local date and time text (``2026-12-02 05:41:07``); '' where missing."""
    import datetime as dt

    num = pd.to_numeric(values, errors="coerce")
    tz = dt.datetime.now().astimezone().tzinfo
    stamps = pd.to_datetime(num, unit="s", utc=True).dt.tz_convert(tz)
    return stamps.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")


def hms(values: pd.Series) -> pd.Series:
    """Seconds as ``H:MM:SS`` text (sorts like the numbers); '' where missing."""
    num = pd.to_numeric(values, errors="coerce")

    def one(v: float) -> str:
        if not np.isfinite(v):
            return ""
        t = int(round(v))
        return f"{t // 3600}:{t // 60 % 60:02d}:{t % 60:02d}"

    return num.map(one)


class TrialsView(param.Parameterized):
    """State of the Trials tab; reads the selected study through :class:`StudyState`."""

    studies: StudyState = param.ClassSelector(class_=StudyState,  # type: ignore[assignment]
                                              doc="the selected store and study")
    statuses = param.ListSelector(default=[], objects=[], doc="trial statuses shown in the plots")
    selected = param.List(default=[], doc="trial ids picked in the table (learning curves)")
    curve_metric: Any = param.Selector(objects=[], doc="history column drawn as learning curve")
    importance_version = param.Integer(default=0, doc="bumped when a parameter importance arrives")
    higher_is_better = param.Boolean(default=True, doc="the objective is maximised (Jaccard)")
    version = param.Integer(default=0, doc="bumped when the table shown changes")
    error = param.String(default="", doc="last error, shown in the page")

    def __init__(self, studies: StudyState, **params):
        self._histories: dict = {}
        self._importance: dict = {}  # (study, digest) -> DataFrame or error text
        self._importance_job: tuple | None = None  # (key, Job)
        #: Labels of the categorical parameters' codes (set by :meth:`numeric_params`).
        self.categories: dict[str, list[str]] = {}
        super().__init__(studies=studies, **params)
        self._sync()

    # ---------------------------------------------------------------- sync with the store
    @param.depends("studies.version", watch=True)
    def _sync(self) -> None:
        df = self.studies.trials
        present = sorted({str(s) for s in df["status"]}) if "status" in df else []
        new_statuses = [s for s in present if s not in self.param.statuses.objects]
        keep = [s for s in self.statuses if s in present] + new_statuses
        keep = keep if self.statuses else present
        # Objects and value together (the status buttons show the statuses selected).
        with param.parameterized.batch_call_watchers(self):
            self.param.statuses.objects = present
            if keep != self.statuses:
                self.statuses = keep
        self._histories = {k: v for k, v in self._histories.items() if k[0] == self.studies.study}
        self.selected = [t for t in self.selected if "trial_id" in df and t in set(df["trial_id"])]
        self.version += 1
        self._sync_metrics()

    @param.depends("selected", watch=True)
    def _sync_metrics(self) -> None:
        """The learning-curve metrics of the curves shown; the select shows the one drawn (the
        validation Jaccard unless another was picked)."""
        chosen = list(self.selected[:12]) or self._best_ids(5)
        hists = [self.history(t) for t in chosen]
        # The validation Jaccard first: a select shows its first option until one is picked.
        metrics = sorted({c for h in hists for c in h.columns if c not in ("epoch",)},
                         key=lambda m: (m != "val_jaccard", not m.startswith("val_"), m))
        if metrics == list(self.param.curve_metric.objects) and self.curve_metric in metrics:
            return
        with param.parameterized.batch_call_watchers(self):
            self.param.curve_metric.objects = metrics
            if self.curve_metric not in metrics:
                self.curve_metric = next((m for m in metrics if "val" in m and "jacc" in m),
                                         metrics[0] if metrics else None)

    def poll(self) -> None:
        """Collect a parameter importance computed in the background (:class:`StudyState`
        polls the store)."""
        if self._importance_job is not None and self._importance_job[1].done:
            key, job = self._importance_job
            self._importance_job = None
            self._importance[key] = job.result if job.status == "done" else job.error
            self.importance_version += 1

    # ---------------------------------------------------------------- importance
    def importance(self):
        """Parameter importance of the finished trials (``satseg.search.importance``) as a
        DataFrame, or a text saying why there is none (yet); computed in a background thread
        once per set of finished trials (None while it runs)."""
        from satseg.search.importance import MIN_TRIALS

        fin = self.finished()
        fin = fin[fin["status"].astype(str) == "ok"] if "status" in fin else fin
        if len(fin) < MIN_TRIALS:
            return (f"parameter importance needs at least {MIN_TRIALS} finished trials "
                    f"({len(fin)} so far)")
        params = self.params()
        key = (self.studies.study, tuple(fin["trial_id"]) if "trial_id" in fin else len(fin),
               tuple(params))
        if key in self._importance:
            return self._importance[key]
        if self._importance_job is None:
            data = fin.copy()

            def work(_job: Job):
                from satseg.search.importance import param_importance

                return param_importance(data, params, n_estimators=100, n_repeats=5)

            self._importance_job = (key, Job("importance", work).start())
            self._importance = {k: v for k, v in self._importance.items() if k[0] == key[0]}
        return None

    def log_axis(self, col: str, values=None) -> bool:
        """Whether parameter ``col`` is drawn on a log axis: when its space draws it on a log
        scale (``loguniform``); without the space (an older store), when positive over more
        than a factor 20."""
        if getattr(self.studies, "searched", None):
            return col in getattr(self.studies, "log_params", set())
        if values is None:
            return False
        v = np.asarray(values, dtype=float)
        return bool(v.size and np.all(v > 0) and np.nanmax(v) / np.nanmin(v) > 20)

    # ---------------------------------------------------------------- data for the plots
    @property
    def trials(self) -> pd.DataFrame:
        return self.studies.trials

    def params(self) -> list[str]:
        """The searched hyper-parameters of the study: those of its spaces where the store has
        them, else the parameter columns whose value varies (fixed values say nothing)."""
        df = self.trials
        cols = param_columns(df)
        searched = getattr(self.studies, "searched", None)
        if searched:
            return [c for c in cols if c in set(searched)]
        if len(df) < 2:
            return cols
        return [c for c in cols if df[c].astype(str).nunique(dropna=False) > 1]

    def shown(self) -> pd.DataFrame:
        """Trials of the selected statuses, ordered by trial id."""
        df = self.trials
        if df.empty:
            return df
        if "status" in df and self.statuses:
            df = df[df["status"].astype(str).isin(self.statuses)]
        return df.sort_values("trial_id") if "trial_id" in df else df

    def finished(self) -> pd.DataFrame:
        """Shown trials with a finite objective."""
        df = self.shown()
        if df.empty or "objective" not in df:
            return df.iloc[0:0]
        obj = pd.to_numeric(df["objective"], errors="coerce")
        return df[np.isfinite(obj.to_numpy(dtype=float, na_value=np.nan))]

    def best_so_far(self) -> pd.DataFrame:
        """``trial_id``, ``objective`` and ``best`` (running max or min) of finished trials."""
        df = self.finished()
        out = pd.DataFrame({"trial_id": df.get("trial_id", pd.Series(dtype=int)),
                            "objective": pd.to_numeric(df.get("objective", pd.Series(dtype=float)))})
        out["best"] = out["objective"].cummax() if self.higher_is_better else out["objective"].cummin()
        return out.reset_index(drop=True)

    def best_trial(self):
        """Id of the best finished trial, or None."""
        df = self.best_so_far()
        if df.empty:
            return None
        idx = df["objective"].idxmax() if self.higher_is_better else df["objective"].idxmin()
        return df.loc[idx, "trial_id"]

    def numeric_params(self) -> pd.DataFrame:
        """Finished trials' parameters as numbers: numeric as is, categories as codes (0..k-1)."""
        df = self.finished()
        out = pd.DataFrame(index=df.index)
        cats: dict[str, list[str]] = {}
        for col in self.params():
            s = df[col]
            num = pd.to_numeric(s, errors="coerce")
            if num.notna().sum() == s.notna().sum() and s.notna().any() and s.dtype != bool:
                out[col] = num.astype(float)
            else:
                cat = pd.Categorical(s.astype(str))
                out[col] = cat.codes.astype(float)
                cats[col] = [str(c) for c in cat.categories]
        self.categories = cats
        return out

    def parallel(self) -> pd.DataFrame:
        """Long table for parallel coordinates: ``trial_id, axis, position, value, objective``;
        each parameter scaled to [0, 1] (log10 scale when positive over more than a factor 20)."""
        num = self.numeric_params()
        if num.empty or not len(num.columns):
            return pd.DataFrame(columns=["trial_id", "axis", "position", "value", "objective"])
        fin = self.finished()
        scaled = {}
        for col in num.columns:
            v = num[col].to_numpy(dtype=float)
            if col not in self.categories and self.log_axis(col, v) and np.all(v > 0):
                v = np.log10(v)
            lo, hi = np.nanmin(v), np.nanmax(v)
            scaled[col] = (v - lo) / (hi - lo) if hi > lo else np.full_like(v, 0.5)
        rows = []
        tid = fin["trial_id"].to_numpy() if "trial_id" in fin else np.arange(len(fin))
        obj = pd.to_numeric(fin["objective"]).to_numpy(dtype=float)
        for pos, col in enumerate(num.columns):
            rows.append(pd.DataFrame({"trial_id": tid, "axis": col, "position": float(pos),
                                      "value": scaled[col], "objective": obj}))
        return pd.concat(rows, ignore_index=True)

    def aggregate(self) -> bool:
        """True when the plots should be rasterised (many trials)."""
        return len(self.finished()) > DATASHADE_ABOVE

    def table(self) -> pd.DataFrame:
        """Trials of the selected statuses for the table: bookkeeping columns first (``rung``
        of a multi-fidelity search too), errors as text, times as local date and time, durations
        as ``H:MM:SS``; the searched parameters, not the fixed ones."""
        df = self.shown()
        if df.empty:
            return pd.DataFrame(columns=TABLE_FIRST)
        first = [c for c in [*TABLE_FIRST[:3], "rung", *TABLE_FIRST[3:]] if c in df]
        params = set(self.params())
        rest = [c for c in df.columns if c not in first and c not in TABLE_HIDDEN
                and c not in ("history", "per_class", "artifacts")
                and (c in TIME_COLUMNS or c in params)]
        if "rung" in first and not df["rung"].notna().any():
            first.remove("rung")  # not a multi-fidelity study
        out = df[first + rest].copy()
        if "error" in out:
            out["error"] = out["error"].fillna("").astype(str)
        if "duration" in out:
            out["duration"] = hms(out["duration"])
        for col in TIME_COLUMNS:
            if col in out:
                out[col] = local_time(out[col])
        if "objective" in out:
            out["objective"] = pd.to_numeric(out["objective"], errors="coerce").round(4)
        return out.reset_index(drop=True)

    def history(self, trial_id) -> pd.DataFrame:
        """Per-epoch history of one trial (from ``StudyStore.trial``), cached per trial and status."""
        df = self.trials
        status = None
        if "trial_id" in df and "status" in df:
            match = df.loc[df["trial_id"] == trial_id, "status"]
            status = str(match.iloc[0]) if len(match) else None
        key = (self.studies.study, trial_id, status)
        if key not in self._histories:
            try:
                info = self.studies.trial(trial_id)
            except Exception as exc:  # noqa: BLE001
                self.error = f"cannot read trial {trial_id}: {readable_error(exc)}"
                return pd.DataFrame()
            hist = info.get("history") or []
            self._histories[key] = pd.DataFrame(hist)
        return self._histories[key]

    def _best_ids(self, n: int) -> list:
        fin = self.finished()
        if fin.empty or "objective" not in fin:
            return []
        order = pd.to_numeric(fin["objective"], errors="coerce")
        fin = fin.assign(_o=order).dropna(subset=["_o"])
        fin = fin.sort_values("_o", ascending=not self.higher_is_better)
        return list(fin["trial_id"].head(n))

    def curves(self) -> dict:
        """``{trial_id: history DataFrame}`` of the selected trials (at most 12); with none
        selected, of the five best finished trials, so the plot is never empty."""
        chosen = list(self.selected[:12]) or self._best_ids(5)
        return {t: self.history(t) for t in chosen}
