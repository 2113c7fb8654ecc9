"""Everything checked and loaded before the first training step.

Loads every labelled image into memory (float32, see ``satseg.data.arrays`` for the memory
figures) or memory-maps them from the prepared-data cache (``data.cache_dir``), splits train/validation by group or the given ids, checks that every requested class
has labelled pixels in the training split and that the patch fits the images, computes the
per-channel statistics on the training split only and normalises both splits with them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from satseg.data.arrays import ImageArrays, channel_stats, load_image_arrays, normalise
from satseg.data.split import Split, split_ids
from satseg.errors import ConfigError, DataError
from satseg.io.dataset import ClassInfo, SegDataset
from satseg.training.config import TrainConfig

log = logging.getLogger("satseg.training.prepare")


@dataclass
class Prepared:
    """Normalised in-memory splits and the metadata a run folder records."""

    dataset_name: str
    dataset_kind: str
    classes: tuple[ClassInfo, ...]
    band_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    train: list[ImageArrays]
    val: list[ImageArrays]
    split: Split
    mean: np.ndarray
    std: np.ndarray
    exclusive: bool | None = None  # every labelled pixel one class (None: not computed yet)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per preparation stage

    @property
    def nbytes(self) -> int:
        return sum(im.nbytes for im in self.train + self.val)


def open_data(data: str | Path | SegDataset) -> SegDataset:
    """A SegDataset from ``"sample"``, a path, or the object itself (anything with the
    SegDataset methods is accepted as is)."""
    if isinstance(data, SegDataset) or not isinstance(data, (str, Path)):
        if not all(hasattr(data, a) for a in ("load_image", "load_labels", "labelled_ids")):
            raise DataError(f"data {data!r} is neither a path, 'sample', nor a SegDataset")
        return data  # type: ignore[return-value]
    from satseg.io import open_dataset

    return open_dataset(data)


def select_classes(ds: SegDataset, names: Sequence[str] | None) -> list[int]:
    """Indices of the requested class names (all when None); ConfigError for unknown names."""
    known = list(ds.class_names)
    if names is None:
        return list(range(len(known)))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"config field 'data.classes': unknown class(es) {unknown}; data set "
            f"'{ds.name}' has {known}"
        )
    return [known.index(n) for n in names]


def prepare_data(
    cfg: TrainConfig,
    ds: SegDataset,
    *,
    val_ids: Sequence[str] | None = None,
    progress: bool = False,
    stop_flag: Any = None,
) -> Prepared:
    """Load, split, check and normalise (see the module docstring).

    With ``cfg.data.cache_dir`` the prepared arrays come from (or go to) the memory-mapped
    cache of ``satseg.data.cache``, shared by every trial of a study on this machine.
    ``stop_flag`` (anything with ``is_set()``) is checked before each image is loaded and while
    waiting for another process's cache build; when set, ``satseg.training.loop._Stopped`` is
    raised (``train`` returns a stopped result).
    """
    from satseg.training.loop import _Stopped, check_stop

    class_idx = select_classes(ds, cfg.data.classes)
    ids = ds.labelled_ids()
    if len(ids) < 2:
        raise DataError(
            f"data set '{ds.name}' has {len(ids)} labelled image(s); training needs at least 2 "
            "(one for validation)"
        )
    want_val = list(val_ids) if val_ids else cfg.data.val_ids

    def build() -> Prepared:
        return _build(cfg, ds, ids, class_idx, want_val, progress, stop_flag)

    t_prep = time.monotonic()
    if not cfg.data.cache_dir:
        prep = build()
    else:
        from satseg.data.cache import cache_key, cached

        root = Path(cfg.data.cache_dir)
        settings = {
            "classes": [ds.class_names[i] for i in class_idx],
            "bands": [str(b) for b in ds.band_names],
            "indices": list(cfg.data.indices),
            "val_ids": list(want_val) if want_val else None,
            "split": None if want_val else [cfg.data.val_fraction, cfg.data.split_by,
                                            cfg.training.seed],
        }  # fmt: skip
        t0 = time.monotonic()
        try:
            meta, images, hit = cached(
                root,
                cache_key(ds, ids, settings, skip=root),
                lambda: _to_cache(build()),
                should_stop=lambda: stop_flag is not None and bool(stop_flag.is_set()),
            )
        except InterruptedError as exc:
            raise _Stopped(str(exc)) from None
        prep = _from_cache(meta, images)
        prep.timings["cache_hit"] = float(hit)
        if not hit:
            prep.timings.update({k: meta[k] for k in ("load_s", "normalise_s") if k in meta})
        log.info(
            "prepared data %s cache %s in %.1f s", "from" if hit else "built into", root,
            time.monotonic() - t0,
        )  # fmt: skip
    prep.timings["prepare_s"] = round(time.monotonic() - t_prep, 3)
    if cfg.data.train_on_val:
        # after the cache: it holds the plain split, which trials and the final fit share; the
        # normalisation statistics stay those of the training split
        prep.train = prep.train + prep.val
        prep.split = Split(train=prep.split.train + prep.split.val, val=prep.split.val)
    check_stop(stop_flag, "data prepared")
    size = cfg.model_config(bands=1, classes=1).input_size
    small = [f"{im.image_id} {im.shape}" for im in prep.train if min(im.shape) < size]
    if small:
        raise ConfigError(
            f"config field 'model.input_size' = {size} px is larger than training image(s) "
            f"{', '.join(small[:5])}; lower model.input_size"
        )
    log.info(
        "data '%s': %d train / %d val images, %d channels, %d classes, %.0f MB %s",
        prep.dataset_name,
        len(prep.train),
        len(prep.val),
        len(prep.channel_names),
        len(prep.classes),
        prep.nbytes / 2**20,
        "memory-mapped" if cfg.data.cache_dir else "in memory",
    )
    return prep


def _build(
    cfg: TrainConfig,
    ds: SegDataset,
    ids: Sequence[str],
    class_idx: Sequence[int],
    val_ids: Sequence[str] | None,
    progress: bool,
    stop_flag: Any,
) -> Prepared:
    """Read, split and normalise every labelled image (no cache)."""
    from satseg.training.loop import check_stop

    classes = tuple(ds.classes[i] for i in class_idx)
    it: Any = ids
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(ids, desc="loading images", unit="image")
    images = {}
    t0 = time.monotonic()
    for i in it:
        check_stop(stop_flag, "loading images")
        images[i] = load_image_arrays(ds, i, class_idx, cfg.data.indices)
    t_load = time.monotonic() - t0
    split = split_ids(
        {i: im.class_pixels() for i, im in images.items()},
        val_fraction=cfg.data.val_fraction,
        seed=cfg.training.seed,
        kind=ds.kind,
        by=cfg.data.split_by,
        val_ids=val_ids,
    )
    train = [images[i] for i in split.train]
    val = [images[i] for i in split.val]
    tpix = np.sum([im.class_pixels() for im in train], axis=0)
    empty = [c.name for c, n in zip(classes, tpix, strict=True) if n == 0]
    if empty:
        raise DataError(
            f"class(es) {empty} have no labelled pixels in the training images "
            f"{list(split.train)[:8]}; drop them with data.classes or choose other data.val_ids"
        )
    vpix = np.sum([im.class_pixels() for im in val], axis=0)
    missing = [c.name for c, n in zip(classes, vpix, strict=True) if n == 0]
    if missing:
        log.warning("validation images %s hold no pixels of %s", list(split.val), missing)
    t0 = time.monotonic()
    mean, std = channel_stats(train)
    for im in train + val:
        normalise(im.image, mean, std)
    t_norm = time.monotonic() - t0
    names = tuple(str(b) for b in ds.band_names)
    channels = train[0].channels or names
    odd = [im.image_id for im in train + val if im.channels and im.channels != channels]
    if odd:
        raise DataError(f"images {odd[:5]} have another band order than {list(channels)}")
    return Prepared(
        dataset_name=ds.name,
        dataset_kind=ds.kind,
        classes=classes,
        band_names=names,
        channel_names=channels,
        train=train,
        val=val,
        split=split,
        mean=mean,
        std=std,
        timings={"load_s": round(t_load, 3), "normalise_s": round(t_norm, 3)},
    )


def _to_cache(prep: Prepared) -> tuple[dict[str, Any], list[ImageArrays]]:
    from satseg.data.exclusive import targets_are_exclusive

    meta = {
        "dataset_name": prep.dataset_name,
        "dataset_kind": prep.dataset_kind,
        "classes": [{"name": c.name, "colour": c.colour, "code": c.code} for c in prep.classes],
        "band_names": list(prep.band_names),
        "channel_names": list(prep.channel_names),
        "train": list(prep.split.train),
        "val": list(prep.split.val),
        "mean": [float(v) for v in prep.mean],
        "std": [float(v) for v in prep.std],
        "exclusive": targets_are_exclusive(im.target for im in prep.train + prep.val),
        **prep.timings,
    }
    return meta, prep.train + prep.val


def _from_cache(meta: dict[str, Any], images: list[ImageArrays]) -> Prepared:
    n = len(meta["train"])
    return Prepared(
        dataset_name=meta["dataset_name"],
        dataset_kind=meta["dataset_kind"],
        classes=tuple(ClassInfo(**c) for c in meta["classes"]),
        band_names=tuple(meta["band_names"]),
        channel_names=tuple(meta["channel_names"]),
        train=images[:n],
        val=images[n:],
        split=Split(train=tuple(meta["train"]), val=tuple(meta["val"])),
        mean=np.asarray(meta["mean"], np.float32),
        std=np.asarray(meta["std"], np.float32),
        exclusive=meta.get("exclusive"),
    )
