"""Creating or reopening a study before the search loop: store, space version, objective."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from satseg.errors import StoreError
from satseg.search.settings import SearchSettings
from satseg.search.space import load_space
from satseg.search.store import StudyStore

log = logging.getLogger("satseg.search.setup")


def slug(name: str) -> str:
    """A file-name-safe form of a study name (``roads/Road`` -> ``roads_Road``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "study"


def runs_dir(s: SearchSettings) -> Path:
    root = Path(s.runs_dir) if s.runs_dir else Path(s.store).resolve().parent / "satseg-runs"
    return root / slug(s.study)


def prepare_study(s: SearchSettings) -> tuple[StudyStore, Any, int, Any, SearchSettings]:
    """``(store, space, space_version, objective, settings)`` of a new or resumed study.

    A new study records its space (version 1), settings and, for the satseg objective, its
    validation images. Resuming keeps the stored seed, direction and validation images; a
    different ``space`` becomes a new space version (the refined space), and the trials of
    earlier versions stay in the study."""
    store = StudyStore(s.store)
    check = s.check_fields if s.check_fields is not None else s.uses_satseg
    if store.has_study(s.study):
        rec = store.study(s.study)
        rows = store.trial_rows(s.study)
        if rows and not s.resume:
            raise StoreError(
                f"study {s.study!r} already has {len(rows)} trial(s) in {store.path}; add "
                "--resume to continue it, or choose another --study name")
        if rec["direction"] != s.direction:
            raise StoreError(f"study {s.study!r} was created to {rec['direction']}, not "
                             f"{s.direction}")
        old = rec["settings"]
        s = s.replace(seed=old.get("seed", s.seed),
                      val_ids=s.val_ids or tuple(old.get("val_ids") or ()) or None,
                      classes=s.classes or (tuple(old["classes"]) if old.get("classes") else None))
        if s.space is not None:
            new = load_space(s.space, check_fields=check)
            if new != store.space(s.study):
                v = store.add_space(s.study, new)
                log.info("study %s continues in a new space (version %d)", s.study, v)
    else:
        if s.resume:
            log.warning("study %r is not in %s yet: starting it", s.study, store.path)
        space = load_space(s.space, check_fields=check)
        store.create_study(s.study, space, direction=s.direction,
                           data=s.data if s.uses_satseg else None)
    objective = s.objective
    if s.uses_satseg:
        from satseg.search.objective import SatsegObjective, choose_val_ids

        if not s.val_ids:
            s = s.replace(val_ids=tuple(choose_val_ids(
                s.data, classes=s.classes, seed=s.seed, exclude_ids=s.exclude_ids)))
            log.info("study %s validates on %s", s.study, list(s.val_ids))
        objective = SatsegObjective(data=str(s.data), runs_dir=str(runs_dir(s)),
                                    val_ids=tuple(s.val_ids), classes=s.classes,
                                    exclude_ids=tuple(s.exclude_ids))
    store.update_study(s.study, settings=s.to_record())
    return store, store.space(s.study), store.space_version(s.study), objective, s
