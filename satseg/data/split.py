"""Train/validation split by scene or image, never by patches of one image.

Images of one *group* always fall on the same side: for DSTL the group is the scene (``6120`` of
``6120_2_2``), with the known near-duplicate scenes 6110 and 6140 joined (DOMAIN.md section 1);
for generic data sets it is the folder part of the id (``tile_7`` of ``tile_7/image_part_001``)
or the id itself. A user-given list of validation ids overrides the automatic choice.

The automatic choice draws many random group orders from the seed, fills the validation side up to
``val_fraction`` of the labelled pixels, and keeps the candidate that (1) keeps the most classes
in training, (2) has the most classes present in validation, (3) comes closest to the fraction. A
random validation set can miss a class entirely, and its Jaccard then reads 0 (STACK-NOTES).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from satseg.errors import ConfigError

_LINKED_SCENES = {"6140": "6110"}  # DSTL near-duplicate tiles (6110_1_2 ~ 6140_1_2, ...)
_TRIES = 256


@dataclass(frozen=True)
class Split:
    """Image ids of the two sides."""

    train: tuple[str, ...]
    val: tuple[str, ...]


def group_of(image_id: str, kind: str = "generic") -> str:
    """The group an image belongs to (see the module docstring)."""
    if kind == "dstl":
        scene = image_id.split("_")[0]
        return _LINKED_SCENES.get(scene, scene)
    if "/" in image_id:
        return image_id.rsplit("/", 1)[0]
    return image_id


def split_ids(
    class_pixels: Mapping[str, np.ndarray],
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    kind: str = "generic",
    by: str = "group",
    val_ids: Sequence[str] | None = None,
) -> Split:
    """Split labelled images into train and validation.

    Args:
        class_pixels: image id -> positive pixel count per class (int array, K).
        val_fraction: share of labelled pixels for validation (0 < f < 1).
        seed: seeds the random search of candidate splits.
        kind: data set kind ("dstl" joins images of a scene).
        by: "group" (scene or folder) or "image".
        val_ids: explicit validation ids (must be known; the rest trains).
    """
    ids = sorted(class_pixels)
    if len(ids) < 2:
        raise ConfigError(
            f"need at least 2 labelled images to split train/validation, got {len(ids)}"
        )
    if val_ids:
        unknown = sorted(set(val_ids) - set(ids))
        if unknown:
            raise ConfigError(
                f"validation id(s) {unknown} are not labelled images of the data set; "
                f"known: {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}"
            )
        val = tuple(sorted(set(val_ids)))
        train = tuple(i for i in ids if i not in set(val))
        if not train:
            raise ConfigError("the validation ids cover every labelled image; leave some to train")
        return Split(train=train, val=val)
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction {val_fraction!r} must be in (0, 1)")
    if by not in ("group", "image"):
        raise ConfigError(f"split_by {by!r} must be 'group' or 'image'")
    groups: dict[str, list[str]] = {}
    for i in ids:
        groups.setdefault(group_of(i, kind) if by == "group" else i, []).append(i)
    names = sorted(groups)
    if len(names) < 2:
        raise ConfigError(
            f"all {len(ids)} labelled images form one group ({names[0]!r}); split by image "
            "(data.split_by: image) or give data.val_ids"
        )
    gpix = {g: sum(np.asarray(class_pixels[i], dtype=np.float64) for i in groups[g]) for g in names}
    total = sum(gpix.values())
    target = val_fraction * float(np.sum(total))
    rng = np.random.default_rng(seed)
    best: tuple[tuple[float, ...], list[str]] | None = None
    for _ in range(_TRIES):
        order = [names[k] for k in rng.permutation(len(names))]
        chosen: list[str] = []
        acc = 0.0
        for g in order[:-1]:  # keep at least one group for training
            chosen.append(g)
            acc += float(np.sum(gpix[g]))
            if acc >= target:
                break
        vsum = sum(gpix[g] for g in chosen)
        tsum = total - vsum
        score = (
            float(np.count_nonzero(tsum > 0)),
            float(np.count_nonzero(vsum > 0)),
            -abs(acc - target),
        )
        if best is None or score > best[0]:
            best = (score, chosen)
    assert best is not None
    val_set = {i for g in best[1] for i in groups[g]}
    return Split(
        train=tuple(i for i in ids if i not in val_set), val=tuple(i for i in ids if i in val_set)
    )
