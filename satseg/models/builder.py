"""build_model: a ModelConfig -> a Keras 3 U-Net (Ronneberger et al. 2015) of the satseg family.

Encoder: for level i in 0..depth-1, a block with ``cfg.filters_at(i)`` filters, dropout, 2x2
max-pool. Bottleneck (level ``depth``): a block, optionally followed by pyramid pooling.
Decoder: for level i from depth-1 to 0, upsample (2x2 stride-2 transposed conv, or bilinear
resize + 3x3 conv), concatenate the encoder's level-i output, block, dropout. Output: centre crop
by ``crop_margin`` (the border was context only; 112 -> 80 px in the DSTL 3rd place), a 1x1 conv
with one sigmoid per class (overlapping classes) or one softmax over the classes (exclusive
classes, ``output_activation="softmax"``), in float32.
"""

from __future__ import annotations

import logging
from typing import Any

import keras
from keras import layers

from satseg.errors import ConfigError
from satseg.models.blocks import (
    BLOCKS,
    DenseBlock,
    InceptionBlock,
    PlainBlock,
    PyramidPooling,
    ResidualBlock,
)
from satseg.models.config import ModelConfig

log = logging.getLogger("satseg.models.builder")


def custom_objects() -> dict[str, Any]:
    """Every custom class a saved satseg model may hold (also registered under 'satseg>')."""
    from satseg.models import losses, metrics

    objs: dict[str, Any] = {
        cls.__name__: cls
        for cls in (PlainBlock, ResidualBlock, InceptionBlock, DenseBlock, PyramidPooling)
    }
    objs.update({cls.__name__: cls for cls in losses.LOSSES.values()})
    objs["JaccardMetric"] = metrics.JaccardMetric
    return objs


def _block(cfg: ModelConfig, filters: int, name: str) -> layers.Layer:
    common: dict[str, Any] = {
        "kernel_size": cfg.kernel_size,
        "convs": cfg.convs_per_block,
        "activation": cfg.activation,
        "batch_norm": cfg.batch_norm,
        "initializer": cfg.initializer,
        "l2": cfg.l2,
        "name": name,
    }
    if cfg.block == "dense":
        common["growth_rate"] = cfg.effective_growth_rate
    return BLOCKS[cfg.block](filters, **common)


def _regulariser(cfg: ModelConfig) -> Any:
    return keras.regularizers.L2(cfg.l2) if cfg.l2 > 0 else None


def _upsample(cfg: ModelConfig, x: Any, filters: int, level: int) -> Any:
    if cfg.upsampling == "transpose":
        return layers.Conv2DTranspose(
            filters,
            2,
            strides=2,
            padding="same",
            kernel_initializer=cfg.initializer,
            kernel_regularizer=_regulariser(cfg),
            name=f"up{level}_transpose",
        )(x)
    x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level}_resize")(x)
    return layers.Conv2D(
        filters,
        3,
        padding="same",
        kernel_initializer=cfg.initializer,
        kernel_regularizer=_regulariser(cfg),
        name=f"up{level}_conv",
    )(x)


def _dropout(rate: float, x: Any, name: str) -> Any:
    return layers.Dropout(rate, name=name)(x) if rate > 0 else x


OUTPUT_ACTIVATIONS = ("sigmoid", "softmax")


def build_model(
    cfg: ModelConfig | dict[str, Any],
    name: str = "satseg_unet",
    output_activation: str = "sigmoid",
) -> keras.Model:
    """Keras U-Net for ``cfg``: ``(None, S, S, bands) -> (None, S-2m, S-2m, classes)``.

    ``output_activation``: ``sigmoid`` (one per class, classes may overlap) or ``softmax`` (one
    over the classes: every pixel has exactly one class).

    ``cfg`` may be a ModelConfig or a flat dict (validated through ``ModelConfig.from_dict``).
    The model is not compiled; the model's ``satseg_config`` attribute is not saved, the layer
    configs are (reload with ``keras.saving.load_model``; custom layers are registered).
    """
    if isinstance(cfg, dict):
        cfg = ModelConfig.from_dict(cfg)
    if not isinstance(cfg, ModelConfig):
        raise ConfigError(f"build_model needs a ModelConfig or a dict, got {type(cfg).__name__}")
    if output_activation not in OUTPUT_ACTIVATIONS:
        raise ConfigError(
            f"output_activation {output_activation!r}: choose one of {list(OUTPUT_ACTIVATIONS)}"
        )
    rates = cfg.dropout_rates
    inputs = keras.Input((cfg.input_size, cfg.input_size, cfg.bands), name="image")
    x = inputs
    skips = []
    for level in range(cfg.depth):
        x = _block(cfg, cfg.filters_at(level), f"enc{level}")(x)
        x = _dropout(rates[level], x, f"enc{level}_dropout")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = _block(cfg, cfg.filters_at(cfg.depth), "bottleneck")(x)
    if cfg.bottleneck == "pyramid":
        x = PyramidPooling(
            cfg.filters_at(cfg.depth),
            bins=cfg.effective_pyramid_bins,
            activation=cfg.activation,
            batch_norm=cfg.batch_norm,
            initializer=cfg.initializer,
            l2=cfg.l2,
            name="pyramid_pooling",
        )(x)
    x = _dropout(rates[cfg.depth], x, "bottleneck_dropout")
    for level in reversed(range(cfg.depth)):
        filters = cfg.filters_at(level)
        x = _upsample(cfg, x, filters, level)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = _block(cfg, filters, f"dec{level}")(x)
        x = _dropout(rates[level], x, f"dec{level}_dropout")
    if cfg.crop_margin:
        x = layers.Cropping2D(cfg.crop_margin, name="crop")(x)
    outputs = layers.Conv2D(
        cfg.classes,
        1,
        activation=output_activation,
        dtype="float32",
        kernel_initializer="glorot_uniform",
        name="probs",
    )(x)
    model = keras.Model(inputs, outputs, name=name)
    log.debug("built %s: %s, %d parameters", name, cfg, model.count_params())
    return model
