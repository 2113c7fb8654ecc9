"""Per-class search (one study per class, ``NAME/<class>``) and combining the best per-class
models into one one-vs-all run folder (the format of ``satseg.training``: ``models/<class>.keras``,
``meta.json`` with mode ``one_vs_all``), loadable with ``satseg.training.load_run``.

Every per-class study validates on the same images (chosen once for all classes), so the
per-class scores are comparable and the models share their normalisation. A one-vs-all run
feeds one patch geometry to every model: the per-class best values of ``model.input_size``,
``model.crop_margin`` and ``data.indices`` are replaced by those of the best-scoring class when
they differ (``retrain=True``), or the combination is refused (``retrain=False``).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from satseg.errors import ConfigError, StoreError
from satseg.search.settings import SearchSettings

log = logging.getLogger("satseg.search.onevsall")
SHARED = ("model.input_size", "model.crop_margin", "data.indices")


def class_study(name: str, cls: str) -> str:
    return f"{name}/{cls}"


def run_per_class(settings: SearchSettings, classes: list[str] | None = None, *,
                  progress: Any = False) -> dict[str, Any]:
    """Run one study per class (``settings.study`` + ``/<class>``); returns {class: result}.
    Stops after a study that was stopped (the dashboard or ``satseg study`` stop)."""
    from satseg.search.objective import choose_val_ids, open_search_data
    from satseg.search.runner import run_search

    if not settings.uses_satseg:
        raise ConfigError("per-class search trains satseg models: leave the objective unset")
    ds = open_search_data(settings.data, settings.exclude_ids)
    classes = list(classes or settings.classes or ds.class_names)
    unknown = [c for c in classes if c not in ds.class_names]
    if unknown:
        raise ConfigError(f"unknown class(es) {unknown}; the data set has {list(ds.class_names)}")
    val_ids = settings.val_ids or tuple(choose_val_ids(
        settings.data, seed=settings.seed, exclude_ids=settings.exclude_ids))
    out: dict[str, Any] = {}
    for cls in classes:
        res = run_search(settings.replace(study=class_study(settings.study, cls), classes=(cls,),
                                          val_ids=tuple(val_ids)), progress=progress)
        out[cls] = res
        if res.state == "stopped":
            break
    return out


def best_per_class(store: Any, name: str) -> dict[str, dict[str, Any]]:
    """{class: best trial} of the studies ``name/<class>`` in ``store``."""
    prefix = f"{name}/"
    out = {}
    for study in store.study_names():
        if study.startswith(prefix):
            best = store.best_trial(study)
            if best is not None:
                out[study[len(prefix):]] = {**best, "study": study}
    if not out:
        raise StoreError(f"no finished per-class study {prefix}<class> in {store.path}; run "
                         "`satseg search --per-class` first")
    return out


def combine_per_class(store: Any, name: str, out_dir: str | Path, *, retrain: bool = False,
                      epochs: int | None = None, data: str | None = None,
                      progress: bool = False) -> Path:
    """Build a one-vs-all run folder from the best trial of every ``name/<class>`` study.

    ``retrain=False`` copies the best trials' models (their run folders must exist and share
    one patch geometry); ``retrain=True`` trains each class's best configuration again (with
    ``epochs`` if given) under the best class's geometry. Writes ``combined.json`` listing the
    source study and trial of every class."""
    from satseg.search.fields import nested
    from satseg.training import TrainConfig, load_run, train
    from satseg.training.run import class_slug

    out_dir = Path(out_dir)
    if (out_dir / "meta.json").exists():
        raise ConfigError(f"{out_dir} already holds a run; choose another output folder")
    best = best_per_class(store, name)
    order = sorted(best, key=lambda c: -(best[c]["objective"] or 0.0))
    lead = best[order[0]]["params"]
    units: dict[str, Path] = {}
    for cls in order:
        trial = best[cls]
        params = dict(trial["params"])
        if retrain:
            params.update({k: lead[k] for k in SHARED if k in lead})
            if epochs:
                params["training.epochs"] = int(epochs)
            rec = store.study(trial["study"])
            cfgd = nested(params)
            cfgd.setdefault("data", {}).update(classes=[cls], val_ids=rec["settings"].get("val_ids"))
            cfgd.setdefault("training", {})["mode"] = "multiclass"
            unit_dir = out_dir / "units" / class_slug(cls)
            train(TrainConfig.from_dict(cfgd), data=data or rec["data"] or "sample",
                  out_dir=unit_dir, progress=progress)
            units[cls] = unit_dir
        else:
            from satseg.search.artifacts import trial_run_dir

            try:  # through the store's record: a remote --runs-dir is copied to the cache
                run_dir = trial_run_dir(store, trial["study"], trial["trial_id"])
            except StoreError as exc:
                raise StoreError(f"{exc}; or combine with retrain=True") from exc
            if not (run_dir / "model.keras").is_file():
                raise StoreError(f"best trial {trial['trial_id']} of {trial['study']} kept no "
                                 "model (keep_runs?); combine with retrain=True")
            units[cls] = run_dir
    metas = {c: json.loads((units[c] / "meta.json").read_text()) for c in units}
    first = metas[order[0]]
    for c, m in metas.items():
        for key in ("input_size", "output_size", "margin", "channels"):
            if m[key] != first[key]:
                raise ConfigError(
                    f"class {c!r} was searched with {key} {m[key]} but {order[0]!r} with "
                    f"{first[key]}: one run needs one patch geometry; combine with retrain=True")
    (out_dir / "models").mkdir(parents=True, exist_ok=True)
    for c in order:
        shutil.copy2(units[c] / "model.keras", out_dir / "models" / f"{class_slug(c)}.keras")
    classes = [metas[c]["classes"][0] for c in order]
    meta = {**first, "mode": "one_vs_all", "classes": classes}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    cfg = TrainConfig.from_dict(nested({k: v for k, v in lead.items()}))
    d = cfg.to_dict()
    d["training"]["mode"] = "one_vs_all"
    d["data"]["classes"] = [c["name"] for c in classes]
    import yaml

    (out_dir / "config.yaml").write_text(yaml.safe_dump(d, sort_keys=False))
    per_class = {}
    for c in order:
        jf = units[c] / "jaccard.json"
        j = json.loads(jf.read_text())["per_class"].get(c) if jf.is_file() else None
        per_class[c] = j
    vals = [v for v in per_class.values() if v is not None]
    (out_dir / "jaccard.json").write_text(json.dumps(
        {"per_class": per_class, "mean": sum(vals) / len(vals) if vals else None,
         "val_ids": first.get("val_ids"), "complete": True}, indent=2))
    (out_dir / "combined.json").write_text(json.dumps(
        {c: {"study": best[c]["study"], "trial_id": best[c]["trial_id"],
             "unit": str(units[c]), "retrained": retrain} for c in order}, indent=2))
    load_run(out_dir)  # fails loudly if the folder is not a loadable run
    log.info("combined %d per-class models into %s", len(order), out_dir)
    return out_dir
