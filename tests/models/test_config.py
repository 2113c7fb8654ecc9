"""ModelConfig validation: pure Python, no TensorFlow."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from satseg.errors import ConfigError
from satseg.models import ModelConfig, list_block_types
from satseg.models.config import PSP_BINS


def test_defaults_are_cpu_friendly() -> None:
    cfg = ModelConfig()
    assert (cfg.depth, cfg.base_filters, cfg.block, cfg.activation) == (4, 16, "plain", "relu")
    assert cfg.batch_norm and cfg.initializer == "he_uniform" and cfg.input_size == 128
    assert cfg.output_size == 128 and cfg.bottleneck_size == 8
    assert [cfg.filters_at(i) for i in range(5)] == [16, 32, 64, 128, 256]


def test_derived_sizes() -> None:
    cfg = ModelConfig(input_size=112, crop_margin=16, depth=4)
    assert (cfg.input_size, cfg.output_size, cfg.bottleneck_size) == (112, 80, 7)
    assert cfg.dropout_rates == (0.0,) * 5
    assert cfg.effective_growth_rate is None and cfg.effective_pyramid_bins == ()
    pyr = ModelConfig(input_size=96, depth=4, bottleneck="pyramid")  # bottleneck side 6
    assert pyr.effective_pyramid_bins == tuple(b for b in PSP_BINS if 6 % b == 0) == (1, 2, 3, 6)
    dense = ModelConfig(block="dense", base_filters=16)
    assert dense.effective_growth_rate == 8


def test_round_trip_json_and_yaml() -> None:
    cfg = ModelConfig(
        bands=20,
        classes=10,
        block="dense",
        growth_rate=12,
        bottleneck="pyramid",
        pyramid_bins=(1, 2, 4),
        dropout=(0.0, 0.1, 0.1, 0.2, 0.3),
        activation="elu",
        l2=1e-4,
    )
    d = cfg.to_dict()
    assert set(d) == set(ModelConfig.field_names())
    assert ModelConfig.from_dict(json.loads(json.dumps(d))) == cfg
    assert ModelConfig.from_dict(yaml.safe_load(yaml.safe_dump(d))) == cfg
    assert hash(cfg) == hash(ModelConfig.from_dict(d))


def test_integral_floats_from_hyperopt_are_accepted() -> None:
    cfg = ModelConfig.from_dict({"base_filters": 24.0, "depth": 3.0, "filter_growth": 2})
    assert cfg.base_filters == 24 and isinstance(cfg.base_filters, int)
    assert cfg.filter_growth == 2.0 and isinstance(cfg.filter_growth, float)


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().depth = 3  # type: ignore[misc]


def test_block_types_listed() -> None:
    assert list_block_types() == ["plain", "residual", "inception", "dense"]


BAD = [
    ({"colour": "red"}, "colour"),
    ({"depth": 7}, "depth"),
    ({"depth": 1}, "depth"),
    ({"depth": 2.5}, "depth"),
    ({"input_size": 100, "depth": 4}, "input_size"),
    ({"crop_margin": 61, "input_size": 128}, "crop_margin"),
    ({"block": "transformer"}, "block"),
    ({"growth_rate": 12, "block": "residual"}, "growth_rate"),
    (
        {"bottleneck": "pyramid", "pyramid_bins": [1, 3], "input_size": 128, "depth": 4},
        "pyramid_bins",
    ),
    ({"pyramid_bins": [1, 2]}, "pyramid_bins"),
    ({"bottleneck": "pyramid", "pyramid_bins": [2, 2]}, "pyramid_bins"),
    ({"activation": "softmax"}, "activation"),
    ({"initializer": "zeros"}, "initializer"),
    ({"upsampling": "nearest"}, "upsampling"),
    ({"kernel_size": 4}, "kernel_size"),
    ({"dropout": 0.95}, "dropout"),
    ({"dropout": [0.1, 0.2]}, "dropout"),
    ({"batch_norm": "yes"}, "batch_norm"),
    ({"l2": -1.0}, "l2"),
    ({"base_filters": 512, "filter_growth": 4.0, "depth": 6, "input_size": 128}, "filter_growth"),
    ({"classes": 0}, "classes"),
    ({"block": "inception", "base_filters": 3}, "base_filters"),
]


@pytest.mark.parametrize(("data", "field"), BAD, ids=[f for _, f in BAD])
def test_invalid_config_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"'{field}'|{field}"):
        ModelConfig.from_dict(data)


def test_messages_say_how_to_fix() -> None:
    with pytest.raises(ConfigError, match=r"divisible by 2\*\*depth = 16.*use 96 or 112"):
        ModelConfig(input_size=100, depth=4)
    with pytest.raises(ConfigError, match=r"choose among \[1, 2, 4, 8\]"):
        ModelConfig(bottleneck="pyramid", pyramid_bins=(1, 3))
    with pytest.raises(ConfigError, match="valid fields"):
        ModelConfig.from_dict({"filters": 3})
    with pytest.raises(ValueError):  # ConfigError is a ValueError for foreign callers
        ModelConfig(depth=9)


def test_validation_does_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from satseg.errors import ConfigError\n"
        "from satseg.models import ModelConfig\n"
        "try:\n"
        "    ModelConfig.from_dict({'depth': 4, 'input_size': 100})\n"
        "except ConfigError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('no ConfigError')\n"
        "ModelConfig.from_dict(ModelConfig(block='dense').to_dict())\n"
        "import satseg.evaluation\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'dask.distributed') if m in sys.modules]\n"
        "raise SystemExit(f'imported {heavy}' if heavy else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["plain", "pyramid", "dense", "relu", "bilinear", "he_normal", "x"]),
    st.lists(st.integers(-2, 9), max_size=7),
    st.lists(st.floats(0, 1), max_size=7),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(ModelConfig.field_names()), _ANY, max_size=6))
def test_from_dict_accepts_or_raises_config_error(data: dict) -> None:
    """Any input either validates (and round-trips) or raises ConfigError: no other error."""
    try:
        cfg = ModelConfig.from_dict(data)
    except ConfigError:
        return
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.input_size % 2**cfg.depth == 0 and cfg.output_size >= 8
