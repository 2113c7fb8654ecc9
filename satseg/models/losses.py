"""Segmentation losses: for overlapping classes (one sigmoid per class) and for exclusive classes
(one softmax over the classes: ``cce``, ``cce_jaccard``).

# ---------------------------------------------------------------------------------------------
# IGNORE CONTRACT (agreed with satseg/data, the input pipeline)
#   y_true: float32 (N, H, W, classes) holding 0 or 1, already cropped to the model's output size.
#   Ignored pixels (unlabelled, nodata, padding) carry -1 in EVERY channel (satseg.models.
#   IGNORE_VALUE). Every element with y_true < 0 is left out of every loss and metric, element by
#   element (so -1 in one channel ignores that class only).
#   y_pred: the model's sigmoid probabilities, same shape.
# ---------------------------------------------------------------------------------------------

Every loss is computed per class over the whole batch (all images and pixels of the batch), then
combined with per-class weights w_c (default 1): ``sum_c w_c L_c / sum_c w_c``.

- ``bce``: binary cross-entropy, mean over non-ignored elements.
- ``soft_jaccard``: 1 - J, J = (sum y p + eps) / (sum y + sum p - sum y p + eps)
  (the soft Jaccard of the DSTL 3rd place, Iglovikov et al. 2017, arXiv:1706.06169).
- ``bce_jaccard``: BCE - log(J), with the class-weighted means of BCE_c and J_c
  (the same paper; DOMAIN.md section 3). With uniform weights it equals the original.
- ``dice``: 1 - D, D = (2 sum y p + eps) / (sum y + sum p + eps) (Milletari et al. 2016, V-Net).
- ``focal``: -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017, arXiv:1708.02002),
  alpha_t = alpha for positives and 1 - alpha for negatives; alpha=None disables it.
- ``cce``: categorical cross-entropy -sum_c y_c log p_c for softmax outputs (exclusive classes),
  mean over the pixels that are valid in every channel; with class weights
  K * sum_c w_c CCE_c / sum_c w_c (CCE_c: the class-c term), which is the plain CCE for w = 1.
- ``cce_jaccard``: CCE - log(J), J the class-weighted mean soft Jaccard of the softmax
  probabilities (the softmax form of ``bce_jaccard``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from satseg.errors import ConfigError

_CLIP = 1e-7


def _prepare(y_true: Any, y_pred: Any) -> tuple[Any, Any, Any]:
    """(y, p, valid): targets with ignored elements zeroed, float32 probabilities, 0/1 mask."""
    y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(y_true, "float32")
    valid = ops.cast(ops.greater_equal(y_true, 0.0), "float32")
    return y_true * valid, y_pred, valid


def _reduce_axes(x: Any) -> list[int]:
    return list(range(len(x.shape) - 1))


class SegmentationLoss(keras.losses.Loss):
    """Base: per-class terms over the batch, combined with class weights; ignore-aware."""

    name_default = "segmentation_loss"

    def __init__(
        self,
        class_weights: Sequence[float] | None = None,
        eps: float = 1.0,
        name: str | None = None,
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name or self.name_default, reduction=reduction, dtype=dtype, **kwargs)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        if self.class_weights is not None and (
            not self.class_weights or min(self.class_weights) < 0 or sum(self.class_weights) <= 0
        ):
            raise ConfigError(
                f"class_weights {class_weights!r}: need non-negative weights, at least one > 0"
            )
        self.eps = float(eps)

    def _wmean(self, per_class: Any) -> Any:
        if self.class_weights is None:
            return ops.mean(per_class)
        n = per_class.shape[-1]
        if n is not None and n != len(self.class_weights):
            raise ConfigError(
                f"class_weights has {len(self.class_weights)} values for {n} classes; "
                "give one weight per class"
            )
        w = ops.convert_to_tensor(self.class_weights, dtype="float32")
        return ops.sum(per_class * w) / ops.sum(w)

    def _bce_per_class(self, y: Any, p: Any, valid: Any) -> Any:
        pc = ops.clip(p, _CLIP, 1.0 - _CLIP)
        bce = -(y * ops.log(pc) + (1.0 - y) * ops.log(1.0 - pc)) * valid
        axes = _reduce_axes(y)
        return ops.sum(bce, axis=axes) / ops.maximum(ops.sum(valid, axis=axes), 1.0)

    def _jaccard_per_class(self, y: Any, p: Any, valid: Any) -> Any:
        axes = _reduce_axes(y)
        pv = p * valid
        inter = ops.sum(y * pv, axis=axes)
        union = ops.sum(y, axis=axes) + ops.sum(pv, axis=axes) - inter
        return (inter + self.eps) / (union + self.eps)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"class_weights": self.class_weights, "eps": self.eps})
        return config


@keras.saving.register_keras_serializable(package="satseg")
class BCELoss(SegmentationLoss):
    """Binary cross-entropy over non-ignored elements."""

    name_default = "bce"

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y, p, valid = _prepare(y_true, y_pred)
        return self._wmean(self._bce_per_class(y, p, valid))


@keras.saving.register_keras_serializable(package="satseg")
class SoftJaccardLoss(SegmentationLoss):
    """1 - soft Jaccard."""

    name_default = "soft_jaccard"

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y, p, valid = _prepare(y_true, y_pred)
        return 1.0 - self._wmean(self._jaccard_per_class(y, p, valid))


@keras.saving.register_keras_serializable(package="satseg")
class BCEJaccardLoss(SegmentationLoss):
    """Binary cross-entropy minus log soft Jaccard (DSTL 3rd place)."""

    name_default = "bce_jaccard"

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y, p, valid = _prepare(y_true, y_pred)
        bce = self._wmean(self._bce_per_class(y, p, valid))
        jac = self._wmean(self._jaccard_per_class(y, p, valid))
        return bce - ops.log(jac)


@keras.saving.register_keras_serializable(package="satseg")
class DiceLoss(SegmentationLoss):
    """1 - soft Dice."""

    name_default = "dice"

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y, p, valid = _prepare(y_true, y_pred)
        axes = _reduce_axes(y)
        pv = p * valid
        inter = ops.sum(y * pv, axis=axes)
        dice = (2.0 * inter + self.eps) / (
            ops.sum(y, axis=axes) + ops.sum(pv, axis=axes) + self.eps
        )
        return 1.0 - self._wmean(dice)


@keras.saving.register_keras_serializable(package="satseg")
class FocalLoss(SegmentationLoss):
    """Binary focal loss, mean over non-ignored elements per class."""

    name_default = "focal"

    def __init__(self, gamma: float = 2.0, alpha: float | None = 0.25, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if gamma < 0:
            raise ConfigError(f"focal loss gamma {gamma!r}: must be >= 0")
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"focal loss alpha {alpha!r}: must be in [0, 1] or None")
        self.gamma = float(gamma)
        self.alpha = None if alpha is None else float(alpha)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y, p, valid = _prepare(y_true, y_pred)
        pc = ops.clip(p, _CLIP, 1.0 - _CLIP)
        p_t = y * pc + (1.0 - y) * (1.0 - pc)
        term = -ops.power(1.0 - p_t, self.gamma) * ops.log(p_t)
        if self.alpha is not None:
            term = term * (y * self.alpha + (1.0 - y) * (1.0 - self.alpha))
        axes = _reduce_axes(y)
        per_class = ops.sum(term * valid, axis=axes) / ops.maximum(ops.sum(valid, axis=axes), 1.0)
        return self._wmean(per_class)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"gamma": self.gamma, "alpha": self.alpha})
        return config


def _prepare_exclusive(y_true: Any, y_pred: Any) -> tuple[Any, Any, Any]:
    """Like ``_prepare`` for one-hot targets: a pixel counts only where every channel is >= 0."""
    y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(y_true, "float32")
    pixel = ops.cast(ops.greater_equal(ops.min(y_true, axis=-1, keepdims=True), 0.0), "float32")
    valid = ops.broadcast_to(pixel, ops.shape(y_true))
    return y_true * valid, y_pred, valid


class _ExclusiveLoss(SegmentationLoss):
    def _cce_per_class(self, y: Any, p: Any, valid: Any) -> Any:
        axes = _reduce_axes(y)
        term = -y * ops.log(ops.clip(p, _CLIP, 1.0)) * valid
        n_pixels = ops.maximum(ops.sum(valid[..., 0]), 1.0)
        return ops.sum(term, axis=axes) / n_pixels

    def _cce(self, y: Any, p: Any, valid: Any) -> Any:
        per_class = self._cce_per_class(y, p, valid)
        return ops.cast(ops.shape(per_class)[-1], "float32") * self._wmean(per_class)


@keras.saving.register_keras_serializable(package="satseg")
class CCELoss(_ExclusiveLoss):
    """Categorical cross-entropy over pixels valid in every channel (softmax outputs)."""

    name_default = "cce"

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y, p, valid = _prepare_exclusive(y_true, y_pred)
        return self._cce(y, p, valid)


@keras.saving.register_keras_serializable(package="satseg")
class CCEJaccardLoss(_ExclusiveLoss):
    """Categorical cross-entropy minus log soft Jaccard (softmax outputs)."""

    name_default = "cce_jaccard"

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y, p, valid = _prepare_exclusive(y_true, y_pred)
        jac = self._wmean(self._jaccard_per_class(y, p, valid))
        return self._cce(y, p, valid) - ops.log(jac)


#: Losses for softmax outputs only (exclusive classes).
EXCLUSIVE_LOSSES = ("cce", "cce_jaccard")
#: The softmax counterpart of a sigmoid loss name (training.mode softmax maps these).
SOFTMAX_EQUIVALENT = {"bce": "cce", "bce_jaccard": "cce_jaccard"}

LOSSES: dict[str, type[SegmentationLoss]] = {
    "bce": BCELoss,
    "bce_jaccard": BCEJaccardLoss,
    "soft_jaccard": SoftJaccardLoss,
    "dice": DiceLoss,
    "focal": FocalLoss,
    "cce": CCELoss,
    "cce_jaccard": CCEJaccardLoss,
}


def list_losses() -> list[str]:
    """Names :func:`get_loss` accepts."""
    return sorted(LOSSES)


def get_loss(
    name: str, class_weights: Sequence[float] | None = None, **kwargs: Any
) -> SegmentationLoss:
    """A loss by name (see the module docstring), with optional per-class weights.

    ``kwargs`` go to the loss: ``eps`` (smoothing of Jaccard/Dice, default 1.0) for all, and
    ``gamma``/``alpha`` for focal. An unknown name raises ``ConfigError`` listing the valid ones.
    """
    cls = LOSSES.get(name)
    if cls is None:
        raise ConfigError(f"unknown loss {name!r}; choose one of {list_losses()}")
    try:
        return cls(class_weights=class_weights, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"loss {name!r}: bad parameters {sorted(kwargs)}: {exc}") from exc
