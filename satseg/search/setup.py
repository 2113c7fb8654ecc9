"""Creating or reopening a study before the search loop: store, space version, objective."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from satseg.errors import ConfigError, StoreError
from satseg.search.settings import SearchSettings
from satseg.search.space import load_space
from satseg.search.store import StudyStore

log = logging.getLogger("satseg.search.setup")


def slug(name: str) -> str:
    """A file-name-safe form of a study name (``roads/Road`` -> ``roads_Road``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "study"


def _few(items: Any, n: int = 5) -> str:
    items = list(items)
    shown = ", ".join(repr(i) for i in items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def check_data_settings(s: SearchSettings) -> None:
    """Check ``classes``, ``val_ids`` and ``exclude_ids`` against the data set before a study is
    created or touched: ConfigError naming the option, the bad values and some valid ones."""
    if not s.uses_satseg:
        return
    from satseg.search.objective import open_search_data

    ds = open_search_data(s.data)
    name = getattr(ds, "name", s.data)
    known = list(ds.class_names)
    if s.classes is not None:
        bad = [c for c in s.classes if c not in known]
        if bad or not s.classes:
            raise ConfigError(f"search setting classes (--classes): unknown class(es) "
                              f"{_few(bad) or 'none given'}; data set {name!r} has {_few(known, 20)}")
    ids = list(ds.ids())
    every, labelled = set(ids), list(ds.labelled_ids())
    bad = [i for i in s.exclude_ids if i not in every]
    if bad:
        raise ConfigError(f"search setting exclude_ids (--exclude-ids): no image {_few(bad)} in "
                          f"data set {name!r}; its image ids include {_few(ids)}")
    if not s.val_ids:
        return
    bad = [i for i in s.val_ids if i not in every]
    if bad:
        raise ConfigError(f"search setting val_ids (--val-ids): no image {_few(bad)} in data set "
                          f"{name!r}; its labelled image ids include {_few(labelled)}")
    bad = [i for i in s.val_ids if i not in set(labelled)]
    if bad:
        raise ConfigError(f"search setting val_ids (--val-ids): image(s) {_few(bad)} of data set "
                          f"{name!r} have no labels; validate on labelled images such as "
                          f"{_few(labelled)}")
    bad = [i for i in s.val_ids if i in set(s.exclude_ids)]
    if bad:
        raise ConfigError(f"search settings val_ids and exclude_ids (--val-ids, --exclude-ids) "
                          f"both name {_few(bad)}: a held-out image cannot validate; drop it "
                          "from one of them")
    if not set(labelled) - set(s.val_ids) - set(s.exclude_ids):
        raise ConfigError(f"search setting val_ids (--val-ids): {_few(s.val_ids)} leave no "
                          f"labelled image of data set {name!r} to train on; name fewer")


def clear_debris(store: StudyStore, s: SearchSettings) -> list[str]:
    """Remove what a killed driver left in the study's run folder (local runs roots only): a
    hidden temporary folder of a run being written, or a trial folder no trial record names
    (the store record is a run's commit point, :mod:`satseg.search.artifacts`). Called by the
    study's driver, so no other search writes there meanwhile; returns the removed paths."""
    import shutil

    from satseg.search.artifacts import RunSink

    sink = RunSink.for_study(store, s.study, s.runs_dir)
    base = Path(sink.base)
    if not sink.local or not base.is_dir():
        return []
    removed = []
    for path in sorted(base.iterdir()):
        temporary = path.name.startswith(".trial-") and ".tmp-" in path.name
        orphan = path.name.startswith("trial-") and not store.artifact_users(str(path))
        if path.is_dir() and (temporary or orphan):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    if removed:
        log.info("study %s: removed %d unfinished run folder(s) of a killed search: %s",
                 s.study, len(removed), ", ".join(removed))
    return removed


def prepare_study(s: SearchSettings) -> tuple[StudyStore, Any, int, Any, SearchSettings]:
    """``(store, space, space_version, objective, settings)`` of a new or resumed study.

    A new study records its space (version 1), settings and, for the satseg objective, its
    validation images. Resuming keeps the stored seed, direction and validation images; a
    different ``space`` becomes a new space version (the refined space), and the trials of
    earlier versions stay in the study. Settings (classes, validation and excluded images,
    the space) are checked before anything is written: a bad one leaves no study behind. The
    caller becomes the study's driver (``StudyStore.claim_driver``) and must renew and release
    that lease (:class:`satseg.search.lease.Heartbeat`, ``StudyStore.release_driver``)."""
    checked = not Path(s.store).exists()
    if checked:  # nothing to resume: check before the store file is made
        check_data_settings(s)
        load_space(s.space, check_fields=s.check_fields if s.check_fields is not None
                   else s.uses_satseg)  # a bad space file must not leave a store behind
    store = StudyStore(s.store)
    try:
        return _prepare(store, s, checked)
    except BaseException:
        store.release_driver(s.study)
        raise


def _prepare(store: StudyStore, s: SearchSettings, checked: bool
             ) -> tuple[StudyStore, Any, int, Any, SearchSettings]:
    check = s.check_fields if s.check_fields is not None else s.uses_satseg
    created = False
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
        new_space = load_space(s.space, check_fields=check) if s.space is not None else None
        check_data_settings(s)
        store.claim_driver(s.study)  # StoreError while another live search drives it
        clear_debris(store, s)
        if new_space is not None:
            if new_space != store.space(s.study):
                v = store.add_space(s.study, new_space)
                log.info("study %s continues in a new space (version %d)", s.study, v)
    else:
        if s.resume:
            log.warning("study %r is not in %s yet: starting it", s.study, store.path)
        space = load_space(s.space, check_fields=check)
        if not checked:
            check_data_settings(s)
        store.create_study(s.study, space, direction=s.direction,
                           data=s.data if s.uses_satseg else None)
        created = True
        store.claim_driver(s.study)
    try:
        return _finish(store, s)
    except BaseException:
        if created and not store.trial_rows(s.study):  # never leave an empty study behind
            store.delete_study(s.study)
        raise


def _finish(store: StudyStore, s: SearchSettings) -> tuple[StudyStore, Any, int, Any, SearchSettings]:
    objective = s.objective
    if s.uses_satseg:
        from satseg.search.objective import SatsegObjective, choose_val_ids

        if not s.val_ids:
            s = s.replace(val_ids=tuple(choose_val_ids(
                s.data, classes=s.classes, seed=s.seed, exclude_ids=s.exclude_ids)))
            log.info("study %s validates on %s", s.study, list(s.val_ids or ()))
        objective = SatsegObjective(data=str(s.data),
                                    val_ids=tuple(s.val_ids or ()), classes=s.classes,
                                    exclude_ids=tuple(s.exclude_ids))
    store.update_study(s.study, settings=s.to_record())
    return store, store.space(s.study), store.space_version(s.study), objective, s
