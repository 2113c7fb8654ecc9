"""Trials tab: objective per trial with best so far, parallel coordinates, objective against each
parameter, learning curves and a filterable table; live while a study runs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import param

from app.jobs import readable_error
from app.studies import StudyState, param_columns

log = logging.getLogger("satseg.app.trials")

#: Above this many points the scatter plots are rasterised with datashader instead of drawn as glyphs.
DATASHADE_ABOVE = 1000
TABLE_FIRST = ["trial_id", "status", "objective", "duration", "error"]


class TrialsView(param.Parameterized):
    """State of the Trials tab; reads the selected study through :class:`StudyState`."""

    studies = param.ClassSelector(class_=StudyState, doc="the selected store and study")
    statuses = param.ListSelector(default=[], objects=[], doc="trial statuses shown in the plots")
    selected = param.List(default=[], doc="trial ids picked in the table (learning curves)")
    curve_metric = param.Selector(objects=[], doc="history column drawn as learning curve")
    higher_is_better = param.Boolean(default=True, doc="the objective is maximised (Jaccard)")
    version = param.Integer(default=0, doc="bumped when the table shown changes")
    error = param.String(default="", doc="last error, shown in the page")

    def __init__(self, studies: StudyState, **params):
        self._histories: dict = {}
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

    def poll(self) -> None:
        """Nothing of its own: :class:`StudyState` polls the store."""

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
            if np.all(v > 0) and np.nanmax(v) / np.nanmin(v) > 20:
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
        """All trials for the table: bookkeeping columns first, errors as text."""
        df = self.trials
        if df.empty:
            return pd.DataFrame(columns=TABLE_FIRST)
        first = [c for c in TABLE_FIRST if c in df]
        rest = [c for c in df.columns if c not in first and c not in ("history", "per_class", "artifacts")]
        out = df[first + rest].copy()
        if "error" in out:
            out["error"] = out["error"].fillna("").astype(str)
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
        out = {t: self.history(t) for t in chosen}
        # The validation Jaccard first: a select shows its first option until one is picked.
        metrics = sorted({c for h in out.values() for c in h.columns if c not in ("epoch",)},
                         key=lambda m: (m != "val_jaccard", not m.startswith("val_"), m))
        self.param.curve_metric.objects = metrics
        if metrics and self.curve_metric not in metrics:
            with param.parameterized.discard_events(self):
                self.curve_metric = next((m for m in metrics if "val" in m and "jacc" in m), metrics[0])
        return out
