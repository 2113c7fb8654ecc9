"""A prepared-data cache: decoded, normalised training arrays on disk, memory-mapped by every trial.

A search runs many trials on the same data; decoding 63 JPEGs and colour PNGs, adding indices and
normalising costs each trial tens of seconds. With ``data.cache_dir`` set, the first trial on a
machine builds the prepared arrays once and every later trial (and the final fit) opens them with
``numpy.load(mmap_mode="r")``: no decoding, and the pages are shared through the OS page cache.

Layout: ``cache_dir/prep-<key>/`` holds ``meta.json`` (classes, bands, channels, split, mean,
std, image ids) and ``NNNN.image.npy`` (float32 ``(H, W, C)``, normalised) +
``NNNN.target.npy`` (int8 ``(H, W, K)``, -1 ignored) per image. The key is a SHA-1 of the data
set (root, the path, size and modification time of every file the used images come from, the
class definitions), the image ids, bands, indices, selected classes and the split settings, so
any change builds a new entry.

Concurrent builders (trials starting together): an exclusive ``fcntl`` lock on
``prep-<key>.lock`` lets one build while the others wait (checking their stop flag), and the
entry is written into a temporary folder and renamed into place, so a reader never sees a half
written entry. Old entries are not removed automatically; delete the folder to reclaim space.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from satseg.data.arrays import ImageArrays
from satseg.errors import OutputError

log = logging.getLogger("satseg.data.cache")

CACHE_VERSION = 1
_DATA_EXT = {
    ".tif", ".tiff", ".jpg", ".jpeg", ".png", ".jp2", ".csv", ".geojson", ".json", ".yaml",
    ".yml", ".wkt", ".txt",
}  # fmt: skip


def default_cache_dir() -> Path:
    """``$SATSEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/satseg/prepared`` (``~/.cache/...``)."""
    env = os.environ.get("SATSEG_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "satseg" / "prepared"


def _files_of(ds: Any, ids: Sequence[str], skip: Path | None) -> list[Path]:
    """The files the images ``ids`` of ``ds`` come from (every data file under the root when the
    data set does not say), plus the root's own top-level files (manifest, label CSVs)."""
    files: set[Path] = set()
    known = False
    for i in ids:
        if hasattr(ds, "image_files"):
            files.update(Path(p) for p in ds.image_files(i))
            known = True
        elif hasattr(ds, "group_paths"):
            files.update(Path(p) for p in ds.group_paths(i).values())
            known = True
        if hasattr(ds, "label_path"):
            lp = ds.label_path(i)
            if lp is not None:
                files.add(Path(lp))
    root = getattr(ds, "root", None)
    if root is not None and Path(root).is_dir():
        root = Path(root)
        candidates: Iterable[Path] = root.iterdir() if known else root.rglob("*")
        for p in candidates:
            if p.suffix.lower() not in _DATA_EXT or not p.is_file():
                continue
            if skip is not None and skip in p.parents:
                continue
            files.add(p)
    return sorted(files)


def cache_key(ds: Any, ids: Sequence[str], settings: dict[str, Any], skip: Path | None) -> str:
    """SHA-1 over the data set's files (path, size, mtime), classes, ``ids`` and ``settings``."""
    stamp = []
    for p in _files_of(ds, ids, skip):
        try:
            st = p.stat()
            stamp.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
        except OSError:
            stamp.append([str(p), None, None])
    doc = {
        "version": CACHE_VERSION,
        "root": str(Path(getattr(ds, "root", "")).resolve()) if hasattr(ds, "root") else None,
        "name": getattr(ds, "name", None),
        "classes": [[c.name, c.colour, c.code] for c in getattr(ds, "classes", ())],
        "ids": list(ids),
        "files": stamp,
        "settings": settings,
    }
    return hashlib.sha1(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _write(entry: Path, meta: dict[str, Any], images: Sequence[ImageArrays]) -> None:
    tmp = entry.with_name(f".{entry.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        for k, im in enumerate(images):
            np.save(tmp / f"{k:04d}.image.npy", np.ascontiguousarray(im.image, np.float32))
            np.save(tmp / f"{k:04d}.target.npy", np.ascontiguousarray(im.target, np.int8))
        meta = {
            **meta,
            "images": [{"id": im.image_id, "channels": list(im.channels)} for im in images],
        }
        (tmp / "meta.json").write_text(json.dumps(meta, default=_plain))
        os.replace(tmp, entry)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(
            f"cannot write the prepared-data cache {entry}: {exc}; free disk space, or set "
            "data.cache_dir to a writable folder (null for no cache)"
        ) from exc


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(type(obj).__name__)


def _read(entry: Path) -> tuple[dict[str, Any], list[ImageArrays]]:
    meta = json.loads((entry / "meta.json").read_text())
    images = [
        ImageArrays(
            image_id=rec["id"],
            image=np.load(entry / f"{k:04d}.image.npy", mmap_mode="r"),
            target=np.load(entry / f"{k:04d}.target.npy", mmap_mode="r"),
            channels=tuple(rec["channels"]),
        )
        for k, rec in enumerate(meta["images"])
    ]
    return meta, images


def cached(
    cache_dir: str | Path,
    key: str,
    build: Callable[[], tuple[dict[str, Any], list[ImageArrays]]],
    *,
    should_stop: Callable[[], bool] | None = None,
    poll_s: float = 0.25,
) -> tuple[dict[str, Any], list[ImageArrays], bool]:
    """``(meta, images, hit)``: the entry ``key`` memory-mapped, built first with ``build()`` (which
    returns the JSON-able ``meta`` and the in-memory images) when absent. ``hit`` says whether
    the entry existed. ``should_stop`` is polled while another process holds the build lock;
    when it returns True, ``InterruptedError`` is raised.
    """
    import fcntl

    root = Path(cache_dir)
    entry = root / f"prep-{key}"
    if (entry / "meta.json").is_file():
        meta, images = _read(entry)
        return meta, images, True
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / f"prep-{key}.lock", "a+")  # noqa: SIM115 - held across the build
    except OSError as exc:
        raise OutputError(
            f"cannot use the prepared-data cache folder {root}: {exc}; set data.cache_dir to a "
            "writable folder (null for no cache)"
        ) from exc
    with lock:
        waited = False
        while True:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    log.info("waiting for another process to build %s", entry)
                    waited = True
                if should_stop is not None and should_stop():
                    raise InterruptedError("stopped while waiting for the data cache") from None
                time.sleep(poll_s)
        try:
            if (entry / "meta.json").is_file():  # built by the process we waited for
                meta, images = _read(entry)
                return meta, images, True
            meta, images = build()
            _write(entry, meta, images)
            log.info("prepared-data cache written: %s", entry)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    meta, images = _read(entry)
    return meta, images, False
