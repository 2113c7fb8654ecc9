"""Exclusive classes: is every labelled pixel exactly one class? And the scores of a softmax run.

Colour and code masks (generic manifest data sets such as the Dubai tiles) give each labelled pixel
one class, so one softmax over the classes fits them; DSTL and GeoJSON labels overlap (a building
on land, a track through crops), so they need one sigmoid per class. ``training.mode: auto`` asks
:func:`targets_are_exclusive` (the training targets, exact) or :func:`labels_are_exclusive`
(a cheap check of a few label planes of a data set).

A softmax run hands per-class *scores* to everything downstream (thresholds, masks, metrics,
export), so that per-class code keeps working: :func:`exclusive_scores` turns the softmax
probabilities ``p`` into ``q_c = p_c / (p_c + max_{c' != c} p_c')``, a class's probability against
its strongest rival. ``q_c >= 0.5`` exactly where ``c`` is the arg-max, so the default threshold
gives the arg-max masks, which are mutually exclusive; a threshold above 0.5 leaves uncertain
pixels unassigned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def _plane_is_exclusive(masks: np.ndarray, ignore: np.ndarray | None) -> bool:
    """``masks`` (K, H, W) 0/1: True when every non-ignored pixel has exactly one class."""
    count = masks.astype(np.uint8, copy=False).sum(axis=0, dtype=np.uint8)
    ok = count == 1
    if ignore is not None:
        ok |= ignore
    return bool(ok.all())


def labels_are_exclusive(
    ds: Any,
    ids: Sequence[str] | None = None,
    class_idx: Sequence[int] | None = None,
    sample: int = 4,
) -> bool:
    """True when every labelled (non-ignored) pixel of ``ds`` holds exactly one of the classes.

    Checks at most ``sample`` label planes, spread evenly over ``ids`` (default: the labelled
    ids), for speed: a data set whose labels overlap does so nearly everywhere (DSTL, GeoJSON),
    and colour or code masks give one class per pixel by construction. ``class_idx`` restricts
    the check to those classes (a pixel of a dropped class then has none: not exclusive).
    A data set with fewer than two classes is not exclusive (a softmax needs two).
    """
    ids = list(ids) if ids is not None else list(ds.labelled_ids())
    if not ids:
        return False
    n = max(1, min(int(sample), len(ids)))
    picks = [ids[int(round(k * (len(ids) - 1) / max(n - 1, 1)))] for k in range(n)]
    for image_id in dict.fromkeys(picks):
        labels = ds.load_labels(image_id)
        masks = labels.masks if class_idx is None else labels.masks[list(class_idx)]
        if masks.shape[0] < 2 or not _plane_is_exclusive(masks, labels.ignore):
            return False
    return True


def targets_are_exclusive(targets: Iterable[np.ndarray]) -> bool:
    """The same test on training targets: int8 ``(H, W, K)``, -1 where ignored (every channel).

    Exact over every pixel; about 0.1 s per 10 Mpx with 5 classes.
    """
    seen = False
    for t in targets:
        if t.shape[-1] < 2:
            return False
        seen = True
        valid = t[..., 0] >= 0
        count = (t == 1).sum(axis=-1, dtype=np.int16)
        if not bool((count[valid] == 1).all()):
            return False
    return seen


def resolve_mode(mode: str, exclusive: bool) -> str:
    """The mode a run trains in: ``auto`` -> ``softmax`` or ``multiclass``; others unchanged."""
    if mode != "auto":
        return mode
    return "softmax" if exclusive else "multiclass"


def exclusive_scores(probs: np.ndarray) -> np.ndarray:
    """``q_c = p_c / (p_c + max other p)`` along the last axis (see the module docstring)."""
    p = np.asarray(probs, np.float32)
    if p.shape[-1] < 2:
        return p.copy()
    top2 = np.partition(p, p.shape[-1] - 2, axis=-1)[..., -2:]
    second, first = top2[..., :1], top2[..., 1:]
    rival = np.where(p >= first, second, first)
    return p / np.maximum(p + rival, 1e-12)


def argmax_masks(scores: np.ndarray, thresholds: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """bool masks (same shape) holding the arg-max class of each pixel along the last axis,
    kept only where its score reaches its threshold: mutually exclusive whatever the thresholds."""
    s = np.asarray(scores)
    best = s.argmax(axis=-1)
    out = np.zeros(s.shape, bool)
    np.put_along_axis(out, best[..., None], True, axis=-1)
    if thresholds is not None:
        out &= s >= np.asarray(thresholds, s.dtype)
    return out
