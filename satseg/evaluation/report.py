"""JaccardReport: per-class and mean Jaccard from summed confusion counts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from satseg.errors import DataError
from satseg.evaluation.counts import FN, FP, TP, jaccard_terms


@dataclass(frozen=True, kw_only=True)
class JaccardReport:
    """Jaccard per class and their mean (the competition score, DOMAIN.md section 2).

    ``per_class`` maps class name -> J (NaN where the class has no TP+FP+FN); ``mean`` averages
    the non-NaN values (NaN if none). ``counts`` holds the int64 ``(n_classes, 3)`` TP/FP/FN it was
    computed from, ``per_image`` optional per-image reports keyed by image id.
    """

    per_class: dict[str, float]
    mean: float
    counts: np.ndarray
    per_image: dict[str, JaccardReport] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        """Class names in count order."""
        return list(self.per_class)

    def to_frame(self) -> Any:
        """pandas DataFrame indexed by class: jaccard, tp, fp, fn, plus a final "mean" row."""
        import pandas as pd

        rows = [
            {"class": name, "jaccard": j, "tp": int(c[TP]), "fp": int(c[FP]), "fn": int(c[FN])}
            for (name, j), c in zip(self.per_class.items(), self.counts, strict=True)
        ]
        total = self.counts.sum(axis=0)
        rows.append(
            {
                "class": "mean",
                "jaccard": self.mean,
                "tp": int(total[TP]),
                "fp": int(total[FP]),
                "fn": int(total[FN]),
            }
        )
        return pd.DataFrame(rows).set_index("class")

    def per_image_frame(self) -> Any:
        """pandas DataFrame: one row per image id, one column per class plus "mean"."""
        import pandas as pd

        rows = {k: {**r.per_class, "mean": r.mean} for k, r in self.per_image.items()}
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=[*self.per_class, "mean"])
        frame.index.name = "image"
        return frame

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: mean, per_class, counts (NaN written as None), per_image."""

        def clean(v: float) -> float | None:
            return None if math.isnan(v) else float(v)

        return {
            "mean": clean(self.mean),
            "per_class": {k: clean(v) for k, v in self.per_class.items()},
            "counts": {
                name: {"tp": int(c[TP]), "fp": int(c[FP]), "fn": int(c[FN])}
                for name, c in zip(self.per_class, self.counts, strict=True)
            },
            "per_image": {k: r.to_dict() for k, r in self.per_image.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JaccardReport:
        """Inverse of :meth:`to_dict`."""
        names = list(data["counts"])
        counts = np.array(
            [[data["counts"][n][k] for k in ("tp", "fp", "fn")] for n in names], dtype=np.int64
        ).reshape(len(names), 3)
        report = jaccard_from_counts(counts, names)
        per_image = {k: cls.from_dict(v) for k, v in data.get("per_image", {}).items()}
        return cls(per_class=report.per_class, mean=report.mean, counts=counts, per_image=per_image)

    def table(self, digits: int = 4) -> str:
        """Plain-text table: class, J, TP, FP, FN, then the mean."""
        width = max([len("class"), len("mean")] + [len(n) for n in self.per_class])
        head = f"{'class':<{width}}  {'jaccard':>8}  {'tp':>12}  {'fp':>12}  {'fn':>12}"
        lines = [head, "-" * len(head)]

        def fmt(j: float) -> str:
            return f"{'n/a':>8}" if math.isnan(j) else f"{j:>8.{digits}f}"

        for (name, j), c in zip(self.per_class.items(), self.counts, strict=True):
            lines.append(
                f"{name:<{width}}  {fmt(j)}  {int(c[TP]):>12}  {int(c[FP]):>12}  {int(c[FN]):>12}"
            )
        lines.append("-" * len(head))
        lines.append(f"{'mean':<{width}}  {fmt(self.mean)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def jaccard_from_counts(
    counts: Any,
    class_names: Sequence[str] | None = None,
    *,
    per_image: dict[str, Any] | None = None,
) -> JaccardReport:
    """JaccardReport from summed TP/FP/FN counts ``(n_classes, 3)``.

    Args:
        counts: int array ``(n_classes, 3)`` (TP, FP, FN), e.g. the sum of
            :func:`confusion_counts` over images; an ``(N, n_classes, 3)`` stack is summed.
        class_names: names in count order (default "class_0", ...).
        per_image: optional ``{image_id: counts (n_classes, 3)}`` for per-image values, e.g.
            ``dict(zip(ids, confusion_counts(p, t, per_image=True, channel_axis=1)))``.
    """
    arr = np.asarray(counts)
    if arr.ndim == 3:
        arr = arr.sum(axis=0)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise DataError(
            f"jaccard_from_counts: counts must be shaped (n_classes, 3) as TP, FP, FN; "
            f"got {arr.shape}"
        )
    if (arr < 0).any():
        raise DataError("jaccard_from_counts: counts must be non-negative")
    arr = arr.astype(np.int64)
    names = (
        list(class_names) if class_names is not None else [f"class_{i}" for i in range(len(arr))]
    )
    if len(names) != len(arr):
        raise DataError(
            f"jaccard_from_counts: {len(names)} class names for {len(arr)} classes of counts"
        )
    f = arr.astype(np.float64)
    per_class, mean = jaccard_terms(f[:, TP], f[:, FP], f[:, FN], xp=np)
    images = {str(k): jaccard_from_counts(v, names) for k, v in (per_image or {}).items()}
    return JaccardReport(
        per_class={n: float(j) for n, j in zip(names, per_class, strict=True)},
        mean=float(mean),
        counts=arr,
        per_image=images,
    )
