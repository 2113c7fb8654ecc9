"""The U-Net family: config, builder, blocks, losses and Keras metrics.

Public names::

    from satseg.models import ModelConfig, build_model, list_block_types, get_loss, LOSSES
    from satseg.models import JaccardMetric, jaccard_metrics, custom_objects

``ModelConfig`` is pure Python (no TensorFlow); the other names load Keras on first use, so
``import satseg.models`` stays light.

IGNORE CONTRACT (Keras side; the input pipeline produces it, losses and metrics consume it)
------------------------------------------------------------------------------------------
``y_true`` is float32 ``(N, H, W, classes)`` holding 0 or 1. A pixel to ignore (unlabelled,
nodata, outside the image) carries **-1 in every channel**. Losses and metrics exclude every
element whose ``y_true`` is negative, element by element, so a per-class ignore (-1 in one
channel only) also works. ``y_true`` must already be cropped to the model's output size
(``cfg.output_size``: the centre of the input patch when ``crop_margin > 0``).
``y_pred`` is the model's sigmoid output of the same shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from satseg.models.config import (
    ACTIVATIONS,
    BLOCK_TYPES,
    BOTTLENECKS,
    INITIALIZERS,
    UPSAMPLINGS,
    ModelConfig,
)

if TYPE_CHECKING:  # pragma: no cover
    from satseg.models.builder import build_model, custom_objects
    from satseg.models.losses import LOSSES, get_loss, list_losses
    from satseg.models.metrics import JaccardMetric, jaccard_metrics

IGNORE_VALUE = -1.0  # see IGNORE CONTRACT above

_LAZY = {
    "build_model": "satseg.models.builder",
    "custom_objects": "satseg.models.builder",
    "get_loss": "satseg.models.losses",
    "list_losses": "satseg.models.losses",
    "LOSSES": "satseg.models.losses",
    "JaccardMetric": "satseg.models.metrics",
    "jaccard_metrics": "satseg.models.metrics",
}


def list_block_types() -> list[str]:
    """Block types the builder knows: plain, residual, inception, dense."""
    return list(BLOCK_TYPES)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'satseg.models' has no attribute {name!r}")
    import importlib

    from satseg._tensorflow import require_tensorflow

    require_tensorflow(f"satseg.models.{name}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "ACTIVATIONS",
    "BLOCK_TYPES",
    "BOTTLENECKS",
    "IGNORE_VALUE",
    "INITIALIZERS",
    "LOSSES",
    "UPSAMPLINGS",
    "JaccardMetric",
    "ModelConfig",
    "build_model",
    "custom_objects",
    "get_loss",
    "jaccard_metrics",
    "list_block_types",
    "list_losses",
]
