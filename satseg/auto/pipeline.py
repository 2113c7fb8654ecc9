"""``run_auto``: search -> final fit -> post-processing -> report, in one budget.

The one implementation behind ``satseg auto`` and the dashboard. Its contract
(docs/ARCHITECTURE.md): ``run_auto(data, budget, out, ...)`` makes ``out`` a normal run folder
(``config.yaml``, ``model.keras``, ``meta.json``, ``postprocess.json``, ...: what ``satseg
predict``/``evaluate`` and the dashboard load) and adds:

    out/auto.json        the plan and the state of every stage (written after each stage)
    out/search/          the study store (search.db) and its trials' run folders
    out/report.md, report.json   chosen configuration, per-class validation Jaccard, time per stage

The final fit trains on every image the search could use (``fit_on="all"``, the default: the
validation images join the training images and the last epoch is kept, as the schedule decays
to the deadline; the tuning stage is then skipped), or on the search's training images only
(``fit_on="train"``: the best epoch on validation is kept and the post-processing tuned there).

The budget is split once, when the run starts: the search gets ``search_share`` of it, the final
fit what is left after the search less a reserve for tuning and the report (the final fit's
share grows by whatever the search left unused). Stages already done are skipped on ``resume``;
an interrupted search continues its study, an interrupted final fit continues from its
checkpoint. Ctrl-C (KeyboardInterrupt) leaves every finished stage and trial in place.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from satseg.errors import ConfigError, OutputError

log = logging.getLogger("satseg.auto")

STAGES = ("search", "final", "tune", "report")
STATE = "auto.json"
#: shortest search (seconds) that can finish one rung-0 trial on 2 CPU cores (TensorFlow start,
#: data, a first epoch), and shortest final fit; below them the budget is refused up front
MIN_SEARCH_S = 45.0
MIN_FINAL_S = 30.0
#: share of the budget the search gets by default. On the Dubai tiles at 30 minutes on 2 cores,
#: 0.35 scored 0.453 on held-out tiles against 0.413 for 0.55 in one run (0.444 and 0.447 in two
#: earlier runs): the search keeps choosing the plain first trial there, and its final fit
#: profits from the extra minutes (docs/search.md, Benchmark)
SEARCH_SHARE = 0.35


@dataclass
class AutoPlan:
    """How ``run_auto`` spends its budget (seconds)."""

    budget_s: float
    search_s: float
    reserve_s: float  # tuning + report
    started: float = field(default_factory=time.time)

    @classmethod
    def split(cls, budget_s: float, search_share: float = SEARCH_SHARE) -> AutoPlan:
        from satseg.search.budget import format_duration

        if not 0.1 <= search_share <= 0.9:
            raise ConfigError(f"--search-share {search_share!r}: the share of --budget that the "
                              "search gets must lie in [0.1, 0.9] (the rest trains the final "
                              "model); e.g. --search-share 0.35")
        reserve = min(120.0, max(10.0, 0.05 * budget_s))
        search = search_share * budget_s
        final = budget_s - search - reserve
        if search < MIN_SEARCH_S or final < MIN_FINAL_S:
            need = math.ceil(max(MIN_SEARCH_S / search_share,
                                 (MIN_FINAL_S + 10.0) / (1.0 - search_share)))
            raise ConfigError(
                f"--budget {format_duration(budget_s)} is too small for even one search trial "
                f"and a final fit (search {search:.0f} s of at least {MIN_SEARCH_S:.0f} s, final "
                f"fit {final:.0f} s of at least {MIN_FINAL_S:.0f} s); give at least "
                f"--budget {format_duration(need)}")
        return cls(budget_s, search, reserve)


def read_state(out: Path) -> dict[str, Any]:
    """``out/auto.json``: the plan and the stages of a run, {} when there is none."""
    p = out / STATE
    return json.loads(p.read_text()) if p.is_file() else {}


def spent_seconds(stages: dict[str, Any]) -> float:
    """Seconds of the budget the recorded ``stages`` of ``auto.json`` have spent."""
    return sum(float(v.get("seconds", 0.0)) for v in stages.values())


def _write_state(out: Path, state: dict[str, Any]) -> None:
    from satseg.training.run import atomic_write_json

    atomic_write_json(out / STATE, state)


def _check_out(out: Path, resume: bool) -> dict[str, Any]:
    if resume:
        state = read_state(out)
        if not state:
            raise OutputError(f"cannot resume: {out} holds no `satseg auto` run ({STATE}); "
                              "start without --resume")
        return state
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"{out} already exists; use --resume to continue that `satseg auto` "
                          "run, or give another --out")
    return {}


def run_auto(data: str | Path, budget: str | float, out: str | Path, *,
             exclude_ids: Sequence[str] = (), resume: bool = False, progress: bool = True,
             space: Any = None, parallelism: int = 1, seed: int = 0, fidelity: str = "asha",
             search_share: float = SEARCH_SHARE, on_stage: Callable[[str, dict[str, Any]], None] | None
             = None, fit_on: str = "all") -> dict[str, Any]:
    """Search, train the best configuration, tune, report (see the module doc); returns the
    report dict (also written as ``out/report.json``/``report.md``). ``fit_on``: what the final
    fit trains on (:data:`satseg.auto.final.FIT_ON`; ``all`` adds the validation images and
    leaves nothing to tune on, so the tuning stage is skipped)."""
    from satseg.auto.final import check_fit_on
    from satseg.search.budget import parse_duration

    check_fit_on(fit_on)
    out = Path(out).resolve()
    state = _check_out(out, resume)
    budget_s = parse_duration(budget)
    if state:
        plan = AutoPlan(**state["plan"])
        data, exclude_ids = state["data"], tuple(state["exclude_ids"])
    else:
        plan = AutoPlan.split(budget_s, search_share)
        data = _check_data(data, exclude_ids)
        state = {"data": str(data), "exclude_ids": list(exclude_ids),
                 "val_ids": _val_ids(data, exclude_ids, seed),
                 "plan": plan.__dict__, "stages": {}, "study": "auto", "fit_on": fit_on,
                 "store": str(out / "search" / "search.db")}
    out.mkdir(parents=True, exist_ok=True)
    _write_state(out, state)
    stages: dict[str, Any] = state["stages"]

    def done(name: str, **info: Any) -> None:
        stages[name] = {**stages.get(name, {}), **info, "done": True}
        _write_state(out, state)
        if on_stage is not None:
            on_stage(name, stages[name])

    bar = _Bar(plan.budget_s, spent_seconds(stages)) if progress else None

    def timed(name: str) -> float:
        t = time.monotonic()
        stages.setdefault(name, {}).setdefault("seconds", 0.0)
        _write_state(out, state)
        if bar is not None:
            bar.stage = name
        return t

    try:
        return _stages(out, state, plan, stages, timed, done, space, parallelism, seed,
                       fidelity)
    finally:
        if bar is not None:
            bar.close()


def _stages(out: Path, state: dict[str, Any], plan: AutoPlan, stages: dict[str, Any],
            timed: Callable[[str], float], done: Callable[..., None], space: Any,
            parallelism: int, seed: int, fidelity: str) -> dict[str, Any]:
    """The four stages in order, each skipped when ``auto.json`` says it is done."""
    progress = False  # the pipeline's bar (above) stands for the stages' own
    exclude_ids = tuple(state["exclude_ids"])
    if not stages.get("search", {}).get("done"):
        t = timed("search")
        try:
            res = _search(state, plan, out, space, parallelism, seed, fidelity, progress,
                          stages["search"].get("seconds", 0.0))
        finally:
            stages["search"]["seconds"] += time.monotonic() - t
            _write_state(out, state)
        done("search", **res)
    if not stages.get("final", {}).get("done"):
        from satseg.auto.final import train_best

        spent = spent_seconds(stages)
        final_s = plan.budget_s - spent - plan.reserve_s
        # the time limit covers training only: keep room for loading the data, building the
        # model and validating the kept epoch on whole images (about a minute on 2 cores)
        final_s -= min(60.0, max(20.0, 0.1 * final_s))
        minutes = max(MIN_FINAL_S, final_s) / 60.0
        t = timed("final")
        already = (out / "meta.json").is_file()
        trial_id = _final_trial(state)
        try:
            res = train_best(state["store"], state["study"], out, minutes, trial_id=trial_id,
                             tune=False, progress=progress, resume=already,
                             fit_on=state.get("fit_on", "train"))
        finally:
            stages["final"]["seconds"] += time.monotonic() - t
            _write_state(out, state)
        done("final", minutes=round(minutes, 2), **res)
    if not stages.get("tune", {}).get("done") and state.get("fit_on", "train") == "all":
        timed("tune")
        done("tune", skipped="the final fit trained on the validation images: nothing is left "
                             "to tune the post-processing on (satseg predict's defaults apply)")
    if not stages.get("tune", {}).get("done"):
        from satseg.auto.final import best_trial_config, tune_run
        from satseg.search.objective import open_search_data

        t = timed("tune")
        best = best_trial_config(state["store"], state["study"], _final_trial(state))
        pp = tune_run(out, open_search_data(state["data"], exclude_ids), best.val_ids)
        stages["tune"]["seconds"] += time.monotonic() - t
        done("tune", **pp)
    from satseg.auto.report import write_report

    t = timed("report")
    report = write_report(out, state)
    stages["report"]["seconds"] += time.monotonic() - t
    done("report")
    return report


class _Bar:
    """One terminal bar for the whole run: seconds of the budget spent, the current stage."""

    def __init__(self, total: float, spent: float):
        import threading

        from tqdm.auto import tqdm

        self.stage = "start"
        self.bar = tqdm(total=int(total), initial=int(min(spent, total)), unit="s",
                        desc="satseg auto", bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                        "{n_fmt}/{total_fmt} s of the budget [{elapsed}] {postfix}")
        self.t0, self.spent = time.monotonic(), spent
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            n = int(min(self.spent + time.monotonic() - self.t0, self.bar.total))
            self.bar.n = n
            self.bar.set_postfix_str(self.stage, refresh=True)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2.0)
        self.bar.close()


def _final_trial(state: dict[str, Any]) -> int | None:
    """The trial the final fit trains: None (the best finished one) when the search finished
    any; else the first trial that ran (stopped by the budget before its first epoch ended), so
    a budget that allowed no finished trial still yields a model, with a note in the report."""
    from satseg.search.store import StudyStore

    store = StudyStore(state["store"])
    if store.best_trial(state["study"]) is not None:
        return None
    rows = [r for r in store.trial_rows(state["study"]) if r["status"] != "fail"]
    if not rows:
        raise ConfigError("the search finished no trial and started none that could be trained "
                          "again; give a larger --budget")
    note = (f"no trial finished within the search budget; the final fit trains trial "
            f"{rows[0]['trial_id']}'s configuration untested (give a larger --budget)")
    if state.get("note") != note:
        log.warning(note)
        state["note"] = note
    return int(rows[0]["trial_id"])


def _val_ids(data: str, exclude_ids: Sequence[str], seed: int) -> list[str]:
    """The study's validation images: split by scene/folder group as `satseg search` does; a
    data set whose images all form one group (a single scene, one folder) splits by image."""
    from satseg.search.objective import choose_val_ids

    try:
        return choose_val_ids(data, seed=seed, exclude_ids=exclude_ids)
    except ConfigError as exc:
        if "one group" not in str(exc):
            raise
        log.info("all images form one group: validation images chosen by image")
        return choose_val_ids(data, seed=seed, exclude_ids=exclude_ids, by="image")


def _check_data(data: str | Path, exclude_ids: Sequence[str]) -> str:
    """Open the data set (any that ``satseg data info`` reads) and check the held-out ids."""
    from satseg.errors import DataError
    from satseg.training.prepare import open_data

    ds = open_data(data)
    known = set(ds.ids())
    bad = [i for i in exclude_ids if i not in known]
    if bad:
        raise DataError(f"--exclude-ids {bad} are not images of {data}; its ids are "
                        f"{sorted(known)[:10]}{' ...' if len(known) > 10 else ''}")
    left = [i for i in ds.labelled_ids() if i not in set(exclude_ids)]
    if len(left) < 2:
        raise DataError(f"{data} has {len(left)} labelled image(s) left after --exclude-ids; "
                        "the search needs at least 2 (training and validation)")
    p = Path(str(data))
    return str(p.resolve()) if p.exists() else str(data)


def _search(state: dict[str, Any], plan: AutoPlan, out: Path, space: Any, parallelism: int,
            seed: int, fidelity: str, progress: bool, spent: float) -> dict[str, Any]:
    from satseg.search import SearchSettings, run_search

    (out / "search").mkdir(exist_ok=True)
    left = plan.search_s - spent
    if left < 5.0:
        return {"note": "search budget spent"}
    space = _trial_space(space, out)
    s = SearchSettings(study=state["study"], store=state["store"], space=space,
                       data=state["data"], exclude_ids=tuple(state["exclude_ids"]),
                       val_ids=tuple(state.get("val_ids") or ()) or None, n_trials=100000, parallelism=parallelism, seed=seed, fidelity=fidelity,
                       # a margin: stopped trials still validate their best epoch
                       budget=left - min(30.0, 0.1 * left), resume=bool(spent),
                       runs_dir=str(out / "search" / "runs"))
    res = run_search(s, progress=progress)
    return {"state": res.state, "n_ok": res.n_ok, "n_failed": res.n_failed,
            "best_trial": None if res.best is None else res.best["trial_id"],
            "best_objective": res.best_objective}


#: fixed settings that make a trial cheap (``training`` helper's measurements, docs/search.md):
#: validation on a fixed class-covering sample of crops, the prepared data cached once per study
CHEAP_TRIALS = {"data.val_crop_size": 256, "data.val_crops_per_image": 2}


def _trial_space(space: Any, out: Path) -> Any:
    """The search space of the run (None: the device's bundled one) with :data:`CHEAP_TRIALS`
    and the prepared-data cache in ``out/search/cache`` fixed, unless the space sets them."""
    from satseg.io.yamlfile import load_yaml
    from satseg.search.space import BUNDLED_SPACES

    if space is None:
        space = _device_space()
    if isinstance(space, str):
        path = BUNDLED_SPACES.get(space, Path(space))
        doc = load_yaml(Path(path).read_text()) if Path(path).is_file() else load_yaml(space)
    elif isinstance(space, dict):
        doc = space
    else:
        return space  # a SearchSpace object: as given
    if not isinstance(doc, dict) or not isinstance(doc.get("params"), dict):
        return space  # let the space reader report what is wrong
    params = dict(doc["params"])
    for k, v in {**CHEAP_TRIALS, "data.cache_dir": str(out / "search" / "cache")}.items():
        params.setdefault(k, v)
    return {**doc, "params": params}


def _device_space() -> Any:
    """The bundled space for this machine's device (the training side's choice when it offers
    one), else the default space."""
    try:
        from satseg.search.space import default_space_for_device
    except ImportError:
        return "default"
    return default_space_for_device()
