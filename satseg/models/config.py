"""ModelConfig: the flat, validated description of one U-Net of the satseg family.

Pure Python on purpose: building, validating and serialising a config imports no TensorFlow, so
a search can reject a bad combination in milliseconds. :func:`satseg.models.build_model` turns
a config into a Keras model.

Fields (ranges are inclusive; docs/model-config.md holds the same table):

==================  ==============  =============================================================
field               default         meaning and range
==================  ==============  =============================================================
bands               3               input channels, 1..512
classes             1               output channels, one sigmoid each (classes overlap), 1..64
input_size          128             square patch side in px, 16..2048, divisible by 2**depth
crop_margin         0               px cut from every side of the output (context only);
                                    input_size - 2*crop_margin >= 8
depth               4               pooling levels, 2..6; bottleneck side = input_size / 2**depth
base_filters        16              filters at level 0, 2..512 (inception: >= 4)
filter_growth       2.0             filters at level i = round(base_filters * filter_growth**i),
                                    1.0..4.0; the bottleneck (level depth) must stay <= 4096
kernel_size         3               odd, 1..7 (plain, residual, dense blocks)
convs_per_block     2               convolutions per block (plain, residual), stacked modules
                                    (inception) or layers per dense block (dense), 1..6
block               "plain"         plain | residual | inception | dense
growth_rate         None            dense only: channels each dense layer adds, 2..256
                                    (None = max(4, base_filters // 2)); an error for other blocks
bottleneck          "plain"         plain | pyramid (PSPNet pyramid pooling)
pyramid_bins        None            pyramid only: bin counts, each dividing the bottleneck side
                                    (None = those of 1, 2, 3, 6 that divide it); error for plain
activation          "relu"          relu | elu | selu | gelu | swish | leaky_relu | tanh
batch_norm          True            batch normalisation after each convolution
dropout             0.0             rate in [0, 0.9): one float for every level, or a list of
                                    depth + 1 rates (levels 0..depth-1, then the bottleneck)
initializer         "he_uniform"    he_uniform | he_normal | glorot_uniform | glorot_normal |
                                    lecun_uniform | lecun_normal
upsampling          "transpose"     transpose (2x2 stride-2 conv) | bilinear (resize + conv)
l2                  0.0             L2 weight decay on every kernel, 0..0.1
==================  ==============  =============================================================
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from satseg.errors import ConfigError

BLOCK_TYPES = ("plain", "residual", "inception", "dense")
BOTTLENECKS = ("plain", "pyramid")
ACTIVATIONS = ("relu", "elu", "selu", "gelu", "swish", "leaky_relu", "tanh")
INITIALIZERS = (
    "he_uniform",
    "he_normal",
    "glorot_uniform",
    "glorot_normal",
    "lecun_uniform",
    "lecun_normal",
)
UPSAMPLINGS = ("transpose", "bilinear")
PSP_BINS = (1, 2, 3, 6)  # Zhao et al. 2017, "Pyramid Scene Parsing Network"
MAX_FILTERS = 4096

# field -> (low, high) for numeric ranges, inclusive.
_INT_RANGES = {
    "bands": (1, 512),
    "classes": (1, 64),
    "input_size": (16, 2048),
    "crop_margin": (0, 1020),
    "depth": (2, 6),
    "base_filters": (2, 512),
    "kernel_size": (1, 7),
    "convs_per_block": (1, 6),
    "growth_rate": (2, 256),
}
_FLOAT_RANGES = {"filter_growth": (1.0, 4.0), "l2": (0.0, 0.1)}
_CHOICES = {
    "block": BLOCK_TYPES,
    "bottleneck": BOTTLENECKS,
    "activation": ACTIVATIONS,
    "initializer": INITIALIZERS,
    "upsampling": UPSAMPLINGS,
}


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """One U-Net of the family; see the module docstring for every field and its range.

    Construction validates everything (``ConfigError`` naming the field, the rule and the fix);
    :meth:`from_dict` also rejects unknown keys. The object is immutable and hashable; use
    :func:`dataclasses.replace` or ``from_dict({**cfg.to_dict(), ...})`` for variants.
    """

    bands: int = 3
    classes: int = 1
    input_size: int = 128
    crop_margin: int = 0
    depth: int = 4
    base_filters: int = 16
    filter_growth: float = 2.0
    kernel_size: int = 3
    convs_per_block: int = 2
    block: str = "plain"
    growth_rate: int | None = None
    bottleneck: str = "plain"
    pyramid_bins: tuple[int, ...] | None = None
    activation: str = "relu"
    batch_norm: bool = True
    dropout: float | tuple[float, ...] = 0.0
    initializer: str = "he_uniform"
    upsampling: str = "transpose"
    l2: float = 0.0

    def __post_init__(self) -> None:
        _validate(self)

    # ----------------------------------------------------------------- derived values
    @property
    def output_size(self) -> int:
        """Side of the output patch: ``input_size - 2 * crop_margin``."""
        return self.input_size - 2 * self.crop_margin

    @property
    def bottleneck_size(self) -> int:
        """Side of the feature map at the bottleneck: ``input_size / 2**depth``."""
        return self.input_size // 2**self.depth

    def filters_at(self, level: int) -> int:
        """Filters of encoder/decoder level ``level`` (0..depth; depth is the bottleneck)."""
        return max(1, int(round(self.base_filters * self.filter_growth**level)))

    @property
    def dropout_rates(self) -> tuple[float, ...]:
        """Dropout rate per level 0..depth (the last is the bottleneck)."""
        if isinstance(self.dropout, tuple):
            return self.dropout
        return (float(self.dropout),) * (self.depth + 1)

    @property
    def effective_growth_rate(self) -> int | None:
        """Channels each dense layer adds (dense blocks only), defaults applied."""
        if self.block != "dense":
            return None
        return self.growth_rate if self.growth_rate is not None else max(4, self.base_filters // 2)

    @property
    def effective_pyramid_bins(self) -> tuple[int, ...]:
        """Pyramid pooling bins (pyramid bottleneck only), defaults applied; () otherwise."""
        if self.bottleneck != "pyramid":
            return ()
        if self.pyramid_bins is not None:
            return self.pyramid_bins
        return tuple(b for b in PSP_BINS if self.bottleneck_size % b == 0)

    # ----------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Flat JSON/YAML-able dict (tuples become lists); ``from_dict`` reverses it."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Validated config from a flat mapping; unknown keys raise ``ConfigError``."""
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"model config must be a mapping of field -> value, got {type(data).__name__}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown model config field(s) {unknown}; valid fields are {sorted(known)}"
            )
        kwargs = dict(data)
        for key in ("pyramid_bins", "dropout"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of every field, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))


def _fail(field: str, value: Any, rule: str) -> ConfigError:
    return ConfigError(f"model config field '{field}' = {value!r}: {rule}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _coerce_numbers(cfg: ModelConfig) -> None:
    """Accept integral floats (hyperopt's quniform gives 16.0) and ints for float fields, and
    numbers spelt as text ("1e-4" from JSON or a quoted YAML value)."""
    from satseg.io.yamlfile import as_number

    for name in _INT_RANGES:
        value = as_number(getattr(cfg, name))
        if value is None and name == "growth_rate":
            continue
        if isinstance(value, float) and value.is_integer():
            object.__setattr__(cfg, name, int(value))
        elif not _is_int(value):
            raise _fail(name, value, "must be an integer")
    for name in _FLOAT_RANGES:
        value = as_number(getattr(cfg, name))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(name, value, "must be a number")
        object.__setattr__(cfg, name, float(value))


def _validate(cfg: ModelConfig) -> None:  # noqa: C901 - one flat list of rules reads best
    _coerce_numbers(cfg)
    for name, (lo, hi) in {**_INT_RANGES, **_FLOAT_RANGES}.items():
        value = getattr(cfg, name)
        if value is not None and not lo <= value <= hi:
            raise _fail(name, value, f"must be in [{lo}, {hi}]")
    for name, options in _CHOICES.items():
        value = getattr(cfg, name)
        if value not in options:
            raise _fail(name, value, f"must be one of {list(options)}")
    if not isinstance(cfg.batch_norm, bool):
        raise _fail("batch_norm", cfg.batch_norm, "must be true or false")
    if cfg.kernel_size % 2 == 0:
        raise _fail("kernel_size", cfg.kernel_size, "must be odd (1, 3, 5 or 7)")

    step = 2**cfg.depth
    if cfg.input_size % step:
        lower = cfg.input_size // step * step
        raise _fail(
            "input_size",
            cfg.input_size,
            f"must be divisible by 2**depth = {step} (depth={cfg.depth}); "
            f"use {lower or step} or {lower + step}, or a smaller depth",
        )
    if cfg.output_size < 8:
        raise _fail(
            "crop_margin",
            cfg.crop_margin,
            f"too large for input_size {cfg.input_size}: the output "
            f"({cfg.input_size} - 2*{cfg.crop_margin} = {cfg.output_size} px) must be >= 8 px; "
            f"use crop_margin <= {(cfg.input_size - 8) // 2}",
        )
    top = cfg.filters_at(cfg.depth)
    if top > MAX_FILTERS:
        raise _fail(
            "filter_growth",
            cfg.filter_growth,
            f"gives {top} filters at the bottleneck (base_filters={cfg.base_filters}, "
            f"depth={cfg.depth}); the limit is {MAX_FILTERS}: lower base_filters, "
            "filter_growth or depth",
        )

    if cfg.block == "inception" and cfg.filters_at(0) < 4:
        raise _fail(
            "base_filters",
            cfg.base_filters,
            "block 'inception' splits the filters over 4 branches: base_filters must be >= 4",
        )
    if cfg.growth_rate is not None and cfg.block != "dense":
        raise _fail(
            "growth_rate",
            cfg.growth_rate,
            f"only applies to block 'dense' (block is '{cfg.block}'); remove it or set "
            "block: dense",
        )

    if cfg.pyramid_bins is not None:
        if cfg.bottleneck != "pyramid":
            raise _fail(
                "pyramid_bins",
                cfg.pyramid_bins,
                f"only applies to bottleneck 'pyramid' (bottleneck is '{cfg.bottleneck}'); "
                "remove it or set bottleneck: pyramid",
            )
        bins = cfg.pyramid_bins
        if (
            not isinstance(bins, Sequence)
            or not bins
            or not all(_is_int(b) and b >= 1 for b in bins)
        ):
            raise _fail("pyramid_bins", bins, "must be a non-empty list of positive integers")
        if len(set(bins)) != len(bins):
            raise _fail("pyramid_bins", bins, "must not repeat a bin size")
        object.__setattr__(cfg, "pyramid_bins", tuple(bins))
    if cfg.bottleneck == "pyramid":
        size = cfg.bottleneck_size
        bad = [b for b in cfg.effective_pyramid_bins if size % b]
        if bad or not cfg.effective_pyramid_bins:
            divisors = [d for d in range(1, size + 1) if size % d == 0]
            raise _fail(
                "pyramid_bins",
                cfg.pyramid_bins,
                f"every bin must divide the bottleneck side {size} px "
                f"(input_size {cfg.input_size} / 2**{cfg.depth}); bins {bad} do not; "
                f"choose among {divisors}",
            )

    _validate_dropout(cfg)


def _validate_dropout(cfg: ModelConfig) -> None:
    rates = cfg.dropout
    if isinstance(rates, (list, tuple)):
        if len(rates) != cfg.depth + 1:
            raise _fail(
                "dropout",
                rates,
                f"a list needs depth + 1 = {cfg.depth + 1} rates (levels 0..{cfg.depth - 1}, "
                "then the bottleneck), or give one number for every level",
            )
        values = list(rates)
    else:
        values = [rates]
    from satseg.io.yamlfile import as_number

    values = [as_number(v) for v in values]
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise _fail("dropout", rates, "rates must be numbers")
        if not 0.0 <= value < 0.9:
            raise _fail("dropout", rates, "every rate must be in [0, 0.9)")
    if isinstance(rates, (list, tuple)):
        object.__setattr__(cfg, "dropout", tuple(float(v) for v in values))
    else:
        object.__setattr__(cfg, "dropout", float(values[0]))
