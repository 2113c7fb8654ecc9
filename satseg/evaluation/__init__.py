"""Confusion counts and Jaccard: the one implementation used by the Keras metric,
``satseg evaluate``, the search objective and the dashboard (DOMAIN.md section 2).

::

    from satseg.evaluation import confusion_counts, jaccard_from_counts, JaccardReport
    counts = confusion_counts(pred_masks, true_masks, ignore)   # int64 (n_classes, 3)
    report = jaccard_from_counts(summed_counts, class_names)    # JaccardReport

numpy only; dask arrays are counted chunk by chunk (counts are additive).
"""

from satseg.evaluation.counts import FN, FP, TP, confusion_counts, count_terms, jaccard_terms
from satseg.evaluation.report import JaccardReport, jaccard_from_counts

__all__ = [
    "FN",
    "FP",
    "TP",
    "JaccardReport",
    "confusion_counts",
    "count_terms",
    "jaccard_from_counts",
    "jaccard_terms",
]
