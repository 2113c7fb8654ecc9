"""Everything checked and loaded before the first training step.

Loads every labelled image into memory (float32, see ``satseg.data.arrays`` for the memory
figures), splits train/validation by group or the given ids, checks that every requested class
has labelled pixels in the training split and that the patch fits the images, computes the
per-channel statistics on the training split only and normalises both splits with them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
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

    ``stop_flag`` (anything with ``is_set()``) is checked before each image is loaded; when set,
    ``satseg.training.loop._Stopped`` is raised (``train`` returns a stopped result).
    """
    from satseg.training.loop import check_stop

    class_idx = select_classes(ds, cfg.data.classes)
    classes = tuple(ds.classes[i] for i in class_idx)
    ids = ds.labelled_ids()
    if len(ids) < 2:
        raise DataError(
            f"data set '{ds.name}' has {len(ids)} labelled image(s); training needs at least 2 "
            "(one for validation)"
        )
    it: Any = ids
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(ids, desc="loading images", unit="image")
    images = {}
    for i in it:
        check_stop(stop_flag, "loading images")
        images[i] = load_image_arrays(ds, i, class_idx, cfg.data.indices)
    split = split_ids(
        {i: im.class_pixels() for i, im in images.items()},
        val_fraction=cfg.data.val_fraction,
        seed=cfg.training.seed,
        kind=ds.kind,
        by=cfg.data.split_by,
        val_ids=val_ids if val_ids else cfg.data.val_ids,
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
    size = cfg.model_config(bands=1, classes=1).input_size
    small = [f"{im.image_id} {im.shape}" for im in train if min(im.shape) < size]
    if small:
        raise ConfigError(
            f"config field 'model.input_size' = {size} px is larger than training image(s) "
            f"{', '.join(small[:5])}; lower model.input_size"
        )
    vpix = np.sum([im.class_pixels() for im in val], axis=0)
    missing = [c.name for c, n in zip(classes, vpix, strict=True) if n == 0]
    if missing:
        log.warning("validation images %s hold no pixels of %s", list(split.val), missing)
    mean, std = channel_stats(train)
    for im in train + val:
        normalise(im.image, mean, std)
    names = tuple(str(b) for b in ds.band_names)
    channels = train[0].channels or names
    odd = [im.image_id for im in train + val if im.channels and im.channels != channels]
    if odd:
        raise DataError(f"images {odd[:5]} have another band order than {list(channels)}")
    prep = Prepared(
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
    )
    log.info(
        "data '%s': %d train / %d val images, %d channels, %d classes, %.0f MB in memory",
        ds.name,
        len(train),
        len(val),
        len(channels),
        len(classes),
        prep.nbytes / 2**20,
    )
    return prep
