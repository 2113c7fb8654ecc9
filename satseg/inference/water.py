"""A water baseline without a network: a spectral water index and a threshold tuned on data.

The index is NDWI after McFeeters (1996), ``(G - NIR) / (G + NIR)`` (DOMAIN.md section 4), computed
by :func:`satseg.bands.compute_index` from bands found by role. The 3rd-place DSTL solution also
detected water without a network, but with a CCCI threshold on bands of mixed scales; its
threshold is not reused here: the threshold is tuned on labelled images by maximising the
Jaccard of ``index >= threshold`` against the water class (TP/FP/FN summed over images).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from satseg.errors import ConfigError, DataError


@dataclass(frozen=True, kw_only=True)
class WaterIndexBaseline:
    """``mask = index(stack) >= threshold``; ``index`` names a satseg.bands index."""

    threshold: float = 0.0
    index: str = "ndwi"
    variant: str = "literature"
    jaccard: float = float("nan")

    def index_map(self, stack: Any) -> np.ndarray:
        """The index as float32 ``(H, W)`` (NaN where undefined)."""
        from satseg.bands import compute_index

        return np.asarray(compute_index(stack, self.index, variant=self.variant).values, np.float32)

    def predict(self, stack: Any) -> np.ndarray:
        """uint8 0/1 water mask ``(H, W)``."""
        return (self.index_map(stack) >= self.threshold).astype(np.uint8)

    @classmethod
    def fit(
        cls,
        stacks: Sequence[Any],
        water_masks: Sequence[np.ndarray],
        ignores: Sequence[np.ndarray | None],
        *,
        index: str = "ndwi",
        variant: str = "literature",
        thresholds: Sequence[float] | None = None,
    ) -> WaterIndexBaseline:
        """Tune the threshold on labelled images (exact sweep over ``thresholds``, default
        -0.5..0.8 in steps of 0.01)."""
        from satseg.inference.postprocess import tune_postprocess

        if not stacks or not (len(stacks) == len(water_masks) == len(ignores)):
            raise DataError(
                "WaterIndexBaseline.fit needs the same non-zero number of stacks, masks, ignores"
            )
        base = cls(index=index, variant=variant)
        ths = np.round(np.arange(-0.5, 0.801, 0.01), 3) if thresholds is None else thresholds
        # the index lies in [-1, 1]; shift it to [0, 1] to reuse the exact threshold sweep
        probs = [(base.index_map(s)[None] + 1.0) / 2.0 for s in stacks]
        truths = [np.asarray(m)[None] for m in water_masks]
        pp = tune_postprocess(
            probs, truths, list(ignores), ["water"],
            thresholds=[(float(t) + 1.0) / 2.0 for t in ths], min_areas=(0,), rules=[],
        )  # fmt: skip
        thr = pp.thresholds["water"] * 2.0 - 1.0
        return cls(
            threshold=round(thr, 6), index=index, variant=variant, jaccard=pp.tuned_jaccard["water"]
        )

    def save(self, path: str | Path) -> Path:
        from satseg.inference.export import atomic_write_text

        d = {"threshold": self.threshold, "index": self.index, "variant": self.variant,
             "jaccard": None if np.isnan(self.jaccard) else self.jaccard}  # fmt: skip
        return atomic_write_text(path, json.dumps(d, indent=2))

    @classmethod
    def load(cls, path: str | Path) -> WaterIndexBaseline:
        try:
            d = json.loads(Path(path).read_text())
            return cls(threshold=float(d["threshold"]), index=d["index"], variant=d["variant"],
                       jaccard=float("nan") if d.get("jaccard") is None else float(d["jaccard"]))  # fmt: skip
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"cannot read water baseline {path}: {exc}") from None
