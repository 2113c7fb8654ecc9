"""From probabilities to masks: per-class thresholds, minimum object areas, morphology and
cross-class rules; tuned on validation data to maximise the competition's Jaccard.

Order of operations (after the 3rd-place DSTL solution, Iglovikov et al. 2017): threshold each
class, optional morphological opening then closing (disk of ``open_radius`` / ``close_radius``),
drop 8-connected objects smaller than the class's ``min_area`` (pixels), then the cross-class
rules in order. A rule ``(winner, losers)`` clears the losers wherever the winner is set.

The default rules for the DSTL class set are the competition's (DOMAIN.md section 3): waterway
clears every other class; standing water clears roads; buildings clear every other class; roads
clear standing water. Other class sets get no rules unless configured. Rules are keyed by class
name (matched case-insensitively, ignoring a parenthesised suffix such as "Waterway (fast water)").

:func:`tune_postprocess` searches each class independently: the threshold from an exact sweep
(histograms of the probabilities of positive and negative labelled pixels, so every threshold is
scored at once), then the minimum area for the best few thresholds (per-object TP/FP counts from
one labelling). TP, FP and FN are summed over images before the Jaccard (DOMAIN.md section 2).
Cross-class rules are applied after tuning, not searched.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from satseg.errors import ConfigError, DataError

log = logging.getLogger("satseg.inference.postprocess")

FILENAME = "postprocess.json"
ALL = "*"
# The competition's rules, keyed by canonical DSTL names, applied in this order.
DSTL_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("waterway", (ALL,)),
    ("standing water", ("road",)),
    ("buildings", (ALL,)),
    ("road", ("standing water",)),
)
THRESHOLDS = tuple(np.round(np.arange(0.05, 0.96, 0.05), 2).tolist())
MIN_AREAS = (0, 4, 10, 30, 100, 300, 1000)


def canonical(name: str) -> str:
    """Class name for rule matching: lower case, no parenthesised suffix, single spaces."""
    name = re.sub(r"\(.*?\)", "", name).lower().replace("_", " ")
    return re.sub(r"\s+", " ", name).strip()


def default_rules(class_names: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The competition's rules if the class set is DSTL's (has waterway, standing water, road and
    buildings), else none. Names in the result are the given class names."""
    by_canon = {canonical(n): n for n in class_names}
    if not all(k in by_canon for k in ("waterway", "standing water", "road", "buildings")):
        return []
    return [
        (by_canon[w], [ALL] if ALL in losers else [by_canon[c] for c in losers])
        for w, losers in DSTL_RULES
    ]


@dataclass(frozen=True, kw_only=True)
class PostProcess:
    """Post-processing settings for one class set (saved as ``postprocess.json``)."""

    class_names: tuple[str, ...]
    thresholds: dict[str, float] = field(default_factory=dict)
    min_area: dict[str, int] = field(default_factory=dict)
    rules: tuple[tuple[str, tuple[str, ...]], ...] | None = None  # None = default_rules
    open_radius: int = 0
    close_radius: int = 0
    tuned_jaccard: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = set(self.class_names)
        for key in (*self.thresholds, *self.min_area):
            if key not in names:
                raise ConfigError(
                    f"post-processing names class {key!r}, not one of {sorted(names)}"
                )
        for k, t in self.thresholds.items():
            if not 0.0 <= float(t) <= 1.0:
                raise ConfigError(f"threshold of {k!r} must be in [0, 1], got {t}")
        for w, losers in self.active_rules():
            for n in (w, *losers):
                if n != ALL and n not in names:
                    raise ConfigError(
                        f"cross-class rule names class {n!r}, not one of {sorted(names)}"
                    )
        if self.open_radius < 0 or self.close_radius < 0:
            raise ConfigError("open_radius and close_radius must be >= 0")

    def active_rules(self) -> list[tuple[str, list[str]]]:
        if self.rules is None:
            return default_rules(self.class_names)
        return [(w, list(losers)) for w, losers in self.rules]

    def threshold(self, name: str) -> float:
        return float(self.thresholds.get(name, 0.5))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        d["rules"] = None if self.rules is None else [[w, list(ls)] for w, ls in self.rules]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PostProcess:
        try:
            rules = d.get("rules")
            return cls(
                class_names=tuple(d["class_names"]),
                thresholds={k: float(v) for k, v in d.get("thresholds", {}).items()},
                min_area={k: int(v) for k, v in d.get("min_area", {}).items()},
                rules=None if rules is None else tuple((w, tuple(ls)) for w, ls in rules),
                open_radius=int(d.get("open_radius", 0)),
                close_radius=int(d.get("close_radius", 0)),
                tuned_jaccard=dict(d.get("tuned_jaccard", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid post-processing settings: {exc}") from None

    def save(self, run_dir: str | Path) -> Path:
        """Write ``postprocess.json`` into a run folder (atomically)."""
        from satseg.inference.export import atomic_write_text

        return atomic_write_text(Path(run_dir) / FILENAME, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, run_dir: str | Path, class_names: Sequence[str]) -> PostProcess:
        """The run's ``postprocess.json``, or defaults (0.5, no area filter, default rules)."""
        path = Path(run_dir) / FILENAME
        if not path.is_file():
            return cls(class_names=tuple(class_names))
        try:
            pp = cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path} is not valid JSON: {exc}; delete it to use defaults"
            ) from None
        if tuple(pp.class_names) != tuple(class_names):
            raise ConfigError(
                f"{path} is for classes {list(pp.class_names)}, the model has {list(class_names)}; "
                "tune it again (satseg predict --tune)"
            )
        return pp


def _disk(r: int) -> np.ndarray:
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r


def remove_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop 8-connected objects smaller than ``min_area`` pixels (bool in, bool out)."""
    if min_area <= 1 or not mask.any():
        return mask
    from scipy import ndimage

    lab, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    keep = sizes >= min_area
    keep[0] = False
    return keep[lab]


def apply_rules(masks: np.ndarray, class_names: Sequence[str], rules: Sequence[Any]) -> np.ndarray:
    """Apply cross-class rules in order to bool ``(K, H, W)`` masks (in place; returned)."""
    idx = {n: i for i, n in enumerate(class_names)}
    for winner, losers in rules:
        w = idx[winner]
        targets = (
            [i for i in range(len(class_names)) if i != w]
            if ALL in losers
            else [idx[n] for n in losers]
        )
        for t in targets:
            masks[t] &= ~masks[w]
    return masks


def exclusive_gate(probs: np.ndarray) -> np.ndarray:
    """Probabilities ``(K, H, W)`` kept only for each pixel's arg-max class (0 elsewhere; NaN,
    nodata, counts as 0): what a softmax run's per-class thresholds apply to, so that its masks
    stay mutually exclusive as in ``satseg predict``, and are tuned the same way."""
    p = np.nan_to_num(np.asarray(probs, np.float32), nan=0.0)
    return np.where(_arg_max(p), p, np.float32(0.0))


def _arg_max(probs: np.ndarray) -> np.ndarray:
    """bool ``(K, H, W)``: each pixel's arg-max class (``argmax_masks`` on the class axis)."""
    from satseg.data.exclusive import argmax_masks

    return np.moveaxis(argmax_masks(np.moveaxis(probs, 0, -1)), -1, 0)


def gate_for_run(run: Any, probs: np.ndarray) -> np.ndarray:
    """``probs`` as run ``run``'s masks threshold them: :func:`exclusive_gate` for a softmax
    run (one class per pixel), unchanged otherwise. Tuning uses it, so that the thresholds it
    picks are those ``satseg predict`` applies."""
    p = np.asarray(probs)
    return exclusive_gate(p) if getattr(run, "mode", None) == "softmax" else p


def apply_postprocess(probs: np.ndarray, pp: PostProcess, exclusive: bool = False) -> np.ndarray:
    """uint8 0/1 masks ``(K, H, W)`` from probabilities ``(K, H, W)`` (NaN counts as 0).
    ``exclusive`` (a softmax run): one class per pixel, its arg-max (:func:`exclusive_gate`)."""
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[0] != len(pp.class_names):
        raise DataError(
            f"probabilities shaped {probs.shape} do not match {len(pp.class_names)} classes "
            f"{list(pp.class_names)} (expected (classes, H, W))"
        )
    masks = np.empty(probs.shape, bool)
    for k, name in enumerate(pp.class_names):
        np.greater_equal(probs[k], pp.threshold(name), out=masks[k])  # NaN compares False
    if exclusive:  # as satseg predict: over its threshold and the arg-max class
        masks &= _arg_max(np.nan_to_num(probs, nan=0.0))
    return clean_masks(masks, pp).astype(np.uint8)


def threshold_rows(probs_hwk: np.ndarray, pp: PostProcess) -> np.ndarray:
    """bool ``(n, W, K)`` from probability rows ``(n, W, K)``: the per-pixel step, for streaming."""
    thr = np.array([pp.threshold(n) for n in pp.class_names], np.float32)
    return probs_hwk >= thr


def _at_edges_too(op: Any, mask: np.ndarray, radius: int) -> np.ndarray:
    """A scipy binary opening/closing with the mask continued beyond the image (edge padding).

    scipy treats pixels outside the array as 0, so a closing eroded a ``radius`` px frame off
    every mask and an opening cut corners that touch the border.
    """
    pad = 2 * radius  # each step of the opening/closing reaches ``radius`` px
    out = op(np.pad(mask, pad, mode="edge"), _disk(radius))
    return out[pad:-pad, pad:-pad]


def clean_masks(masks: np.ndarray, pp: PostProcess) -> np.ndarray:
    """Morphology, minimum areas and cross-class rules on thresholded bool ``(K, H, W)`` masks
    (modified in place and returned)."""
    from scipy import ndimage

    for k, name in enumerate(pp.class_names):
        m = masks[k]
        if pp.open_radius:
            m = _at_edges_too(ndimage.binary_opening, m, pp.open_radius)
        if pp.close_radius:
            m = _at_edges_too(ndimage.binary_closing, m, pp.close_radius)
        masks[k] = remove_small(m, int(pp.min_area.get(name, 0)))
    return apply_rules(masks, pp.class_names, pp.active_rules())


def _edges(thresholds: Sequence[float]) -> np.ndarray:
    return np.concatenate([[-np.inf], np.asarray(sorted(thresholds), np.float64), [np.inf]])


def tune_postprocess(
    probs: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    ignores: Sequence[np.ndarray | None],
    class_names: Sequence[str],
    *,
    thresholds: Sequence[float] = THRESHOLDS,
    min_areas: Sequence[int] = MIN_AREAS,
    top: int = 3,
    rules: Sequence[Any] | None = None,
    open_radius: int = 0,
    close_radius: int = 0,
) -> PostProcess:
    """Per-class threshold and minimum area maximising Jaccard summed over the given images.

    Args:
        probs: per image ``(K, H, W)`` probabilities. truths: per image ``(K, H, W)`` 0/1.
        ignores: per image bool ``(H, W)`` (True = not scored) or None.
        thresholds, min_areas: the candidates; ``top`` thresholds per class get the area search.
    """
    from scipy import ndimage

    from satseg.evaluation import jaccard_from_counts

    if not (len(probs) == len(truths) == len(ignores)) or not probs:
        raise DataError("tune_postprocess needs the same non-zero number of probs, truths, ignores")
    K = len(class_names)
    ths = sorted(float(t) for t in thresholds)
    edges = _edges(ths)
    best_t: dict[str, float] = {}
    best_a: dict[str, int] = {}
    best_j: dict[str, float] = {}
    for k, name in enumerate(class_names):
        # exact sweep: predicted positive at t  <=>  p >= t
        pos_hist = np.zeros(len(edges) - 1, np.int64)
        neg_hist = np.zeros(len(edges) - 1, np.int64)
        for p, t, ign in zip(probs, truths, ignores, strict=True):
            if p.shape[0] != K or t.shape != p.shape:
                raise DataError(f"probs {p.shape} and truth {t.shape} must both be ({K}, H, W)")
            valid = np.isfinite(p[k]) if ign is None else (~ign & np.isfinite(p[k]))
            pk, tk = p[k][valid], t[k][valid] > 0
            pos_hist += np.histogram(pk[tk], edges)[0]
            neg_hist += np.histogram(pk[~tk], edges)[0]
        # pixels with p >= ths[i] are the bins from i+1 on
        tp = np.cumsum(pos_hist[::-1])[::-1][1:]
        fp = np.cumsum(neg_hist[::-1])[::-1][1:]
        fn = pos_hist.sum() - tp
        counts = np.stack([tp, fp, fn], axis=1)
        j = np.array([jaccard_from_counts(c[None], [name]).mean for c in counts])
        j = np.nan_to_num(j, nan=0.0)
        cands = np.argsort(-j, kind="stable")[:top]
        best = (float(j[cands[0]]), ths[int(cands[0])], 0)
        areas = sorted(int(a) for a in min_areas if a > 1)
        for ci in cands:
            thr = ths[int(ci)]
            base = counts[ci].astype(np.int64)
            small = np.zeros((len(areas), 3), np.int64)  # TP, FP removed per area candidate
            for p, t, ign in zip(probs, truths, ignores, strict=True):
                m = p[k] >= thr
                lab, n = ndimage.label(m, structure=np.ones((3, 3), bool))
                if n == 0:
                    continue
                valid = np.ones(m.shape, bool) if ign is None else ~ign
                size = np.bincount(lab.ravel(), minlength=n + 1)
                tpo = np.bincount(
                    lab.ravel(), weights=((t[k] > 0) & valid).ravel(), minlength=n + 1
                )
                vo = np.bincount(lab.ravel(), weights=valid.ravel(), minlength=n + 1)
                size[0] = 0
                for ai, a in enumerate(areas):
                    sel = (size < a) & (size > 0)
                    small[ai, 0] += int(tpo[sel].sum())
                    small[ai, 1] += int((vo[sel] - tpo[sel]).sum())
            for ai, a in enumerate(areas):
                c = np.array(
                    [base[0] - small[ai, 0], base[1] - small[ai, 1], base[2] + small[ai, 0]]
                )
                ja = jaccard_from_counts(c[None], [name]).mean
                if np.isfinite(ja) and ja > best[0] + 1e-12:
                    best = (float(ja), thr, a)
        best_j[name], best_t[name], best_a[name] = best
        log.info(
            "tuned %s: threshold %.2f, min area %d px, Jaccard %.4f",
            name,
            best[1],
            best[2],
            best[0],
        )
    return PostProcess(
        class_names=tuple(class_names),
        thresholds=best_t,
        min_area=best_a,
        rules=None if rules is None else tuple((w, tuple(ls)) for w, ls in rules),
        open_radius=open_radius,
        close_radius=close_radius,
        tuned_jaccard=best_j,
    )
