"""JaccardMetric: the competition score as a Keras metric.

It accumulates TP, FP, FN per class in int64 variables over every batch of an epoch (threshold
``p >= 0.5``, ignored elements left out, see the IGNORE CONTRACT in satseg.models), and reduces
them with :func:`satseg.evaluation.jaccard_terms`, the same code as ``satseg evaluate``:
J_c = TP_c / (TP_c + FP_c + FN_c), mean over classes with a non-empty denominator (NaN if none).

``result()`` is a scalar (the mean, or one class with ``class_id``) so Keras logs stay flat;
:func:`jaccard_metrics` returns the mean plus one metric per class (logged as ``jaccard``,
``jaccard_<class>``), and :meth:`JaccardMetric.report` gives a full JaccardReport.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from satseg.errors import ConfigError
from satseg.evaluation import JaccardReport, count_terms, jaccard_from_counts, jaccard_terms


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower() or "class"


@keras.saving.register_keras_serializable(package="satseg")
class JaccardMetric(keras.metrics.Metric):
    """Exact Jaccard from confusion counts accumulated over batches.

    Args:
        num_classes: channels of ``y_true``/``y_pred`` (last axis).
        class_names: optional names, for :meth:`report` and :meth:`per_class`.
        class_id: if set, ``result()`` is that class's J instead of the mean.
        threshold: probabilities ``>= threshold`` count as positive.
    """

    def __init__(
        self,
        num_classes: int,
        class_names: Sequence[str] | None = None,
        class_id: int | None = None,
        threshold: float = 0.5,
        name: str = "jaccard",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        if int(num_classes) < 1:
            raise ConfigError(f"JaccardMetric num_classes {num_classes!r}: must be >= 1")
        self.num_classes = int(num_classes)
        self.class_names = list(class_names) if class_names is not None else None
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ConfigError(
                f"JaccardMetric: {len(self.class_names)} class_names for {num_classes} classes"
            )
        if class_id is not None and not 0 <= int(class_id) < self.num_classes:
            raise ConfigError(
                f"JaccardMetric class_id {class_id!r}: must be in [0, {self.num_classes - 1}]"
            )
        self.class_id = None if class_id is None else int(class_id)
        self.threshold = float(threshold)
        shape = (self.num_classes,)
        self.tp = self.add_variable(shape=shape, initializer="zeros", dtype="int64", name="tp")
        self.fp = self.add_variable(shape=shape, initializer="zeros", dtype="int64", name="fp")
        self.fn = self.add_variable(shape=shape, initializer="zeros", dtype="int64", name="fn")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add the batch's TP/FP/FN (``sample_weight`` is not supported and must be None)."""
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        valid = ops.cast(ops.greater_equal(y_true, 0), "int32")
        true = ops.cast(ops.greater(y_true, 0), "int32")
        pred = ops.cast(ops.greater_equal(y_pred, self.threshold), "int32")
        axes = list(range(len(y_true.shape) - 1))
        tp, fp, fn = count_terms(pred, true, valid, axis=axes, xp=ops)
        self.tp.assign_add(ops.cast(tp, "int64"))
        self.fp.assign_add(ops.cast(fp, "int64"))
        self.fn.assign_add(ops.cast(fn, "int64"))

    def _terms(self) -> tuple[Any, Any]:
        return jaccard_terms(
            ops.cast(self.tp, "float64"),
            ops.cast(self.fp, "float64"),
            ops.cast(self.fn, "float64"),
            xp=ops,
        )

    def result(self) -> Any:
        per_class, mean = self._terms()
        value = mean if self.class_id is None else per_class[self.class_id]
        return ops.cast(value, "float32")

    def reset_state(self) -> None:
        for var in (self.tp, self.fp, self.fn):
            var.assign(ops.zeros((self.num_classes,), dtype="int64"))

    def counts(self) -> np.ndarray:
        """Accumulated int64 ``(num_classes, 3)`` TP, FP, FN."""
        return np.stack(
            [np.asarray(v.numpy()) for v in (self.tp, self.fp, self.fn)], axis=-1
        ).astype(np.int64)

    def report(self) -> JaccardReport:
        """JaccardReport of the accumulated counts (numpy, outside the graph)."""
        return jaccard_from_counts(self.counts(), self.class_names)

    def per_class(self) -> dict[str, float]:
        """Class name -> J of the accumulated counts (NaN for empty classes)."""
        return self.report().per_class

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "class_names": self.class_names,
                "class_id": self.class_id,
                "threshold": self.threshold,
            }
        )
        return config


def jaccard_metrics(
    class_names: Sequence[str], threshold: float = 0.5, per_class: bool = True
) -> list[JaccardMetric]:
    """The mean Jaccard metric (``jaccard``) plus one per class (``jaccard_<slug of name>``)."""
    names = list(class_names)
    metrics = [JaccardMetric(len(names), names, threshold=threshold, name="jaccard")]
    if per_class and len(names) > 1:
        metrics += [
            JaccardMetric(
                len(names), names, class_id=i, threshold=threshold, name=f"jaccard_{_slug(n)}"
            )
            for i, n in enumerate(names)
        ]
    return metrics
