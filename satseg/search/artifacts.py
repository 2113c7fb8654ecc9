"""Trial artifacts: packed on the worker, shipped through dask, written by the driver.

A worker shares nothing with the driver but the data. Each trial trains into a private
temporary folder on its worker (:class:`satseg.search.worker.TrialContext` ``run_dir``); when the
trial ends the files that make a run loadable are packed into a :class:`Bundle` (plain bytes,
part of the task's result) and the worker's folder is deleted. The driver writes the bundle
under its study's run root (:class:`RunSink`):

    <runs root>/<study slug>-<study uid>/trial-NNNN/
    runs root = --runs-dir (a local folder or an fsspec URL: file://, memory://, s3://, ...)
                or, by default, <store folder>/<store stem>.runs

The study uid is a random id kept in the store (``StudyStore.study_uid``): two stores in one
folder, or two study names that sanitise alike, never share a folder. Writes go to a hidden
temporary folder that is renamed into place, then the store records every artifact's path or URL
(``artifacts`` table: run_dir, model, preview, ...): the store record is the commit point, so
a folder without a record is debris of a killed driver, never a trial's model.

Anything that loads a trial's model goes through :func:`trial_run_dir`, which returns a local
folder: the recorded one, or a copy of a remote one in a cache folder (``SATSEG_CACHE``, default
``~/.cache/satseg/runs``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from satseg.errors import StoreError

log = logging.getLogger("satseg.search.artifacts")

#: Files of a run folder that travel back to the driver (the run contract of ARCHITECTURE.md).
RUN_FILES = ("model.keras", "config.yaml", "meta.json", "history.json", "history.csv",
             "jaccard.json", "preview.png", "postprocess.json")
#: Folders that travel: one-vs-all models; ``checkpoints`` only when asked (resumable trials).
RUN_DIRS = ("models",)
CHECKPOINTS = "checkpoints"
MANIFEST = "artifacts.json"
#: Store ``artifacts`` kinds recorded for a written run (besides ``run_dir``).
KINDS = {"model.keras": "model", "models": "model", "preview.png": "preview",
         "config.yaml": "config", "meta.json": "meta", "history.json": "history",
         "jaccard.json": "jaccard", MANIFEST: "manifest"}


@dataclass
class Bundle:
    """A trial's run folder as bytes: ``files`` maps a relative POSIX path to its content."""

    files: dict[str, bytes] = field(default_factory=dict)
    pack_s: float = 0.0

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.files.values())


def pack_run(run_dir: str | Path, *, checkpoints: bool = False) -> Bundle:
    """The artifacts of ``run_dir`` (see :data:`RUN_FILES`, :data:`RUN_DIRS`) as a Bundle."""
    t0 = time.perf_counter()
    root = Path(run_dir)
    files: dict[str, bytes] = {}
    for name in RUN_FILES:
        if (root / name).is_file():
            files[name] = (root / name).read_bytes()
    for sub in (*RUN_DIRS, *((CHECKPOINTS,) if checkpoints else ())):
        for p in sorted((root / sub).rglob("*")) if (root / sub).is_dir() else ():
            if p.is_file() and not p.name.startswith("."):  # no half-written temporaries
                files[p.relative_to(root).as_posix()] = p.read_bytes()
    return Bundle(files, time.perf_counter() - t0)


def _safe(rel: str) -> str:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise StoreError(f"artifact path {rel!r} leaves its run folder; the bundle is refused")
    return p.as_posix()


def is_local(url: str) -> bool:
    """True for a plain path or a ``file://`` URL."""
    return "://" not in url or url.startswith("file://")


def local_path(url: str) -> Path:
    return Path(url[len("file://"):] if url.startswith("file://") else url)


def _fs(url: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs
    except ImportError as exc:  # pragma: no cover - fsspec comes with dask
        raise StoreError(f"{url} needs fsspec (pip install fsspec)") from exc
    try:
        return url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise StoreError(f"cannot open runs location {url}: {exc}; install the fsspec "
                         "package for its protocol (e.g. s3fs for s3://) or use a local "
                         "--runs-dir") from exc


def _join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/"), *parts])


def default_runs_root(store_path: str | Path) -> str:
    """``<store folder>/<store stem>.runs``: the default runs root of a store."""
    p = Path(store_path).resolve()
    return str(p.with_name(f"{p.stem}.runs"))


class RunSink:
    """Writes trial bundles of one study under ``root/<study_dir>/trial-NNNN`` (see module)."""

    def __init__(self, root: str, study_dir: str):
        self.local = is_local(root)
        self.root = str(local_path(root).resolve()) if self.local else root.rstrip("/")
        self.base = _join(self.root, study_dir) if not self.local else str(
            Path(self.root) / study_dir)

    @classmethod
    def for_study(cls, store: Any, study: str, runs_dir: str | None) -> RunSink:
        """The sink of ``study`` in ``store`` (``runs_dir`` None: beside the store)."""
        from satseg.search.setup import slug

        root = runs_dir or default_runs_root(store.path)
        return cls(root, f"{slug(study)}-{store.study_uid(study)}")

    def owns(self, url: str | None) -> bool:
        """True when ``url`` is a trial folder this sink wrote (under its study folder)."""
        if not url:
            return False
        if self.local:
            return is_local(url) and local_path(url).resolve().parent == Path(self.base)
        return url.rstrip("/").rsplit("/", 1)[0] == self.base

    def write(self, trial_id: int, bundle: Bundle, extra: dict[str, Any] | None = None
              ) -> tuple[dict[str, str], float]:
        """Write ``bundle`` as the run folder of ``trial_id``; ``({kind: path or URL}, seconds)``.

        Never replaces an existing folder: if ``trial-NNNN`` exists (debris of an earlier driver
        that died after the rename), the run goes to ``trial-NNNN-<random>``."""
        t0 = time.perf_counter()
        name = f"trial-{int(trial_id):04d}"
        files = {_safe(k): v for k, v in bundle.files.items()}
        manifest = {"trial_id": int(trial_id), "files": {k: len(v) for k, v in files.items()},
                    "bytes": bundle.size, "pack_s": round(bundle.pack_s, 4), **(extra or {})}

        def with_manifest(put: Any) -> None:
            for rel, data in files.items():
                put(rel, data)
            manifest["write_s"] = round(time.perf_counter() - t0, 4)  # the files, not this one
            put(MANIFEST, json.dumps(manifest, indent=2).encode())

        tmp_name = f".{name}.tmp-{uuid.uuid4().hex[:8]}"
        if self.local:
            base = Path(self.base)
            tmp = base / tmp_name

            def put_local(rel: str, data: bytes) -> None:
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_bytes(data)

            with_manifest(put_local)
            dest = base / name
            if dest.exists():
                dest = base / f"{name}-{uuid.uuid4().hex[:6]}"
            os.rename(tmp, dest)  # atomic on one file system; never over an existing folder
            url = str(dest)
        else:
            # Object stores have no atomic rename: the store record written after this is
            # the commit point (a folder nobody records is debris, never a trial's model).
            fs, bpath = _fs(self.base)
            tmp_path = _join(bpath, tmp_name)
            with_manifest(lambda rel, data: fs.pipe_file(_join(tmp_path, rel), data))
            if fs.exists(_join(bpath, name)):
                name = f"{name}-{uuid.uuid4().hex[:6]}"
            fs.mv(tmp_path, _join(bpath, name), recursive=True)
            url = _join(self.base, name)
        arts = {"run_dir": url}
        for rel in (*files, MANIFEST):
            kind = KINDS.get(rel.split("/", 1)[0])
            if kind and kind not in arts:
                top = rel.split("/", 1)[0]
                arts[kind] = str(Path(url) / top) if self.local else _join(url, top)
        return arts, time.perf_counter() - t0

    def remove(self, url: str) -> bool:
        """Delete a trial folder this sink wrote (False, untouched, for any other folder)."""
        if not self.owns(url):
            return False
        if self.local:
            shutil.rmtree(local_path(url), ignore_errors=True)
        else:
            fs, path = _fs(url)
            if fs.exists(path):
                fs.rm(path, recursive=True)
        return True


# --------------------------------------------------------------------------- reading
def cache_root() -> Path:
    """Where remote run folders are copied to be loaded: ``SATSEG_CACHE`` or
    ``~/.cache/satseg/runs`` (``XDG_CACHE_HOME`` honoured)."""
    env = os.environ.get("SATSEG_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "satseg" / "runs"


def materialise(url: str, cache: str | Path | None = None) -> Path:
    """A local folder holding the run at ``url``: the folder itself when local, else a copy in
    the cache (downloaded once: run folders are never rewritten after their record)."""
    if is_local(url):
        path = local_path(url)
        if not path.is_dir():
            raise StoreError(f"run folder {path} does not exist (removed by --keep-runs best, "
                             "or moved?); pick another trial or re-run the search")
        return path
    fs, remote = _fs(url)
    if not fs.isdir(remote):
        raise StoreError(f"run folder {url} does not exist (removed by --keep-runs best?); "
                         "pick another trial or re-run the search")
    root = Path(cache) if cache is not None else cache_root()
    dest = root / hashlib.sha1(url.encode()).hexdigest()[:16] / url.rstrip("/").rsplit("/", 1)[1]
    if dest.is_dir():
        return dest
    tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        for src in fs.find(remote):
            rel = _safe(src[len(remote.rstrip("/")) + 1:])
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(fs.cat_file(src))
        try:
            os.rename(tmp, dest)
        except OSError:  # another process cached it meanwhile
            if not dest.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("copied run %s to %s", url, dest)
    return dest


def trial_run_dir(store: Any, study: str, trial_id: int | None = None,
                  cache: str | Path | None = None) -> Path:
    """The local run folder of trial ``trial_id`` of ``study`` (None: the best trial), through
    the store's record; remote folders are copied to the cache first. StoreError when the trial
    kept no run folder."""
    from satseg.search.store import StudyStore

    if not isinstance(store, StudyStore):
        store = StudyStore(store, read_only=True)
    if trial_id is None:
        best = store.best_trial(study)
        if best is None:
            raise StoreError(f"study {study!r} in {store.path} has no finished trial yet")
        trial_id = int(best["trial_id"])
    url = store.trial(study, trial_id)["artifacts"].get("run_dir")
    if not url:
        raise StoreError(f"trial {trial_id} of study {study!r} kept no run folder (failed, or "
                         "removed by --keep-runs best); pick another trial")
    return materialise(url, cache)


def resolve_run(model: str | None = None, *, study: str | None = None,
                trial: int | None = None, store: str | None = None,
                cache: str | Path | None = None) -> Path:
    """The local run folder a command should load: ``model`` (a run folder, or the fsspec URL of
    one), or trial ``trial`` (None: the best) of ``study`` in ``store`` through the store's
    record (:func:`trial_run_dir`). ConfigError naming the options when both or neither given."""
    from satseg.errors import ConfigError

    if model and study:
        raise ConfigError("give --model RUN_DIR or --study NAME (with --trial, --store), not both")
    if study:
        from satseg.search.store import DEFAULT_STORE

        return trial_run_dir(store or DEFAULT_STORE, study, trial, cache)
    if trial is not None:
        raise ConfigError("--trial N goes with --study NAME (the trial's study in --store)")
    if not model:
        raise ConfigError("give --model RUN_DIR (a run folder or its URL) or --study NAME "
                          "[--trial N] [--store FILE] (a trial of a search; default the best)")
    return Path(model) if "://" not in model else materialise(model, cache)


def ship_report(store: Any, study: str) -> list[dict[str, float]]:
    """What shipping cost for each written run folder of ``study`` (from its artifacts.json):
    ``trial_id, bytes, pack_s`` (worker), ``transfer_s`` (trial end to the driver's record,
    less packing: dask's transfer plus the driver's poll of up to 0.25 s; same-clock machines
    only), ``write_s`` (driver), ``ship_s`` (their sum), ``duration`` (the trial) and
    ``ratio`` = ship_s / duration."""
    from satseg.search.store import StudyStore

    if not isinstance(store, StudyStore):
        store = StudyStore(store, read_only=True)
    out = []
    for tid in store.trials(study)["trial_id"]:
        url = store.trial(study, int(tid))["artifacts"].get("manifest")
        if not url:
            continue
        if is_local(url):
            m = json.loads(local_path(url).read_text())
        else:
            fs, path = _fs(url)
            m = json.loads(fs.cat_file(path))
        if m.get("received") is None or m.get("finished") is None or not m.get("duration"):
            continue
        transfer = max(0.0, m["received"] - m["finished"] - m["pack_s"])
        ship = m["pack_s"] + transfer + m.get("write_s", 0.0)
        out.append({"trial_id": int(tid), "bytes": m["bytes"], "pack_s": m["pack_s"],
                    "transfer_s": transfer, "write_s": m.get("write_s", 0.0), "ship_s": ship,
                    "duration": m["duration"], "ratio": ship / m["duration"]})
    return out
