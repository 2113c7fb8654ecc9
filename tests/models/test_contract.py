"""The contract every model variant keeps: one class run for each block type x bottleneck."""

from __future__ import annotations

import itertools
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from satseg.models import (
    ACTIVATIONS,
    INITIALIZERS,
    ModelConfig,
    build_model,
    get_loss,
    jaccard_metrics,
    list_block_types,
)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

VARIANTS = list(itertools.product(list_block_types(), ["plain", "pyramid"]))
TINY = {"bands": 3, "classes": 2, "input_size": 32, "depth": 2, "base_filters": 4, "crop_margin": 4}


@pytest.fixture(scope="module", params=VARIANTS, ids=[f"{b}-{n}" for b, n in VARIANTS])
def variant(request):
    block, bottleneck = request.param
    cfg = ModelConfig.from_dict({**TINY, "block": block, "bottleneck": bottleneck})
    keras.utils.set_random_seed(0)
    return cfg, build_model(cfg)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 32, 32, 3)).astype(np.float32)
    y = np.zeros((4, 24, 24, 2), np.float32)
    y[..., 0] = x[:, 4:28, 4:28, 0] > 0  # learnable from the input
    y[..., 1] = x[:, 4:28, 4:28, 1] > 0.5
    y[:, :3] = -1.0  # a band of ignored pixels
    return x, y


class TestModelContract:
    def test_output_shape_and_range(self, variant, batch) -> None:
        cfg, model = variant
        assert model.input_shape == (None, 32, 32, 3)
        assert model.output_shape == (None, cfg.output_size, cfg.output_size, cfg.classes)
        out = model.predict(batch[0], verbose=0)
        assert out.shape == (4, 24, 24, 2) and out.dtype == np.float32
        assert np.all((out >= 0) & (out <= 1))

    def test_block_channels(self, variant) -> None:
        cfg, model = variant
        for level in range(cfg.depth):
            assert model.get_layer(f"enc{level}").output.shape[-1] == cfg.filters_at(level)
            assert model.get_layer(f"dec{level}").output.shape[-1] == cfg.filters_at(level)
        assert model.get_layer("bottleneck").output.shape[-1] == cfg.filters_at(cfg.depth)
        assert type(model.get_layer("enc0")).__name__.lower().startswith(cfg.block)
        if cfg.bottleneck == "pyramid":
            layer = model.get_layer("pyramid_pooling")
            assert layer.bins == list(cfg.effective_pyramid_bins)

    def test_get_config_round_trip(self, variant, batch) -> None:
        _, model = variant
        clone = keras.Model.from_config(model.get_config())
        assert clone.get_config() == model.get_config()
        assert clone.count_params() == model.count_params()
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(
            clone.predict(batch[0], verbose=0), model.predict(batch[0], verbose=0), atol=1e-6
        )

    def test_save_and_load(self, variant, batch, tmp_path: Path) -> None:
        _, model = variant
        path = tmp_path / "model.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(
            loaded.predict(batch[0], verbose=0), model.predict(batch[0], verbose=0), atol=1e-6
        )

    def test_train_steps_lower_the_loss(self, variant, batch) -> None:
        cfg, model = variant
        model.compile(
            run_eagerly=True,  # tiny batch: tracing would cost more than the steps
            optimizer=keras.optimizers.Adam(0.01),
            loss=get_loss("bce_jaccard"),
            metrics=jaccard_metrics(["a", "b"], per_class=False),
        )
        x, y = batch
        losses = [float(model.train_on_batch(x, y)[0]) for _ in range(4)]
        assert all(np.isfinite(losses))
        assert losses[-1] < losses[0]


def test_graph_mode_fit_with_metrics(batch) -> None:
    """The compiled (tf.function) path through the most complex variant."""
    cfg = ModelConfig.from_dict({**TINY, "block": "dense", "bottleneck": "pyramid", "dropout": 0.1})
    model = build_model(cfg)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=get_loss("bce_jaccard"),
        metrics=jaccard_metrics(["a", "b"]),
    )
    history = model.fit(*batch, epochs=3, batch_size=2, verbose=0).history
    assert set(history) == {"loss", "jaccard", "jaccard_a", "jaccard_b"}
    assert history["loss"][-1] < history["loss"][0]


OPTION_SETS = [
    {"upsampling": "bilinear", "activation": "elu", "initializer": "glorot_uniform"},
    {"batch_norm": False, "activation": "selu", "initializer": "lecun_normal", "kernel_size": 5},
    {"dropout": [0.1, 0.2, 0.3], "l2": 1e-3, "activation": "gelu", "convs_per_block": 1},
    {"filter_growth": 1.5, "depth": 3, "crop_margin": 0, "block": "dense", "growth_rate": 3},
    {"block": "inception", "convs_per_block": 2, "bottleneck": "pyramid", "pyramid_bins": [1, 8]},
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: "-".join(map(str, o.values())))
def test_options_build(options) -> None:
    cfg = ModelConfig.from_dict({**TINY, **options})
    model = build_model(cfg)
    out = model(np.zeros((1, 32, 32, 3), np.float32))
    assert tuple(out.shape) == (1, cfg.output_size, cfg.output_size, cfg.classes)
    if cfg.l2 > 0:
        assert len(model.losses) > 0  # weight decay is in the model's losses
    if not cfg.batch_norm:
        assert not any(
            isinstance(w, keras.layers.BatchNormalization) for w in model._flatten_layers()
        )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    block=st.sampled_from(list_block_types()),
    bottleneck=st.sampled_from(["plain", "pyramid"]),
    depth=st.integers(2, 5),
    margin=st.integers(0, 12),
    growth=st.sampled_from([1.0, 1.5, 2.0]),
    kernel=st.sampled_from([1, 3, 5]),
    convs=st.integers(1, 3),
    activation=st.sampled_from(ACTIVATIONS),
    initializer=st.sampled_from(INITIALIZERS),
    upsampling=st.sampled_from(["transpose", "bilinear"]),
    batch_norm=st.booleans(),
    dropout=st.sampled_from([0.0, 0.3]),
    l2=st.sampled_from([0.0, 1e-4]),
)
def test_any_valid_config_builds_and_trains(**params) -> None:
    """Random combinations of the documented ranges build, keep the contract and take a step."""
    margin = params.pop("margin")
    cfg = ModelConfig(
        bands=2,
        classes=2,
        input_size=32,
        base_filters=4,
        crop_margin=margin,
        filter_growth=params.pop("growth"),
        kernel_size=params.pop("kernel"),
        convs_per_block=params.pop("convs"),
        **params,
    )
    model = build_model(cfg)
    side = 32 - 2 * margin
    assert model.output_shape == (None, side, side, 2)
    model.compile(optimizer="adam", loss=get_loss("bce_jaccard"), run_eagerly=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 32, 32, 2)).astype(np.float32)
    y = (rng.random((2, side, side, 2)) > 0.5).astype(np.float32)
    assert np.isfinite(float(model.train_on_batch(x, y)))
