"""The bundled CPU and GPU search spaces: every sampled point is a valid training config, and the
device picks the space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from satseg.search.fields import nested
from satseg.search.space import load_space
from satseg.training import TrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "satseg" / "configs"


@pytest.mark.parametrize("name", ["space_default.yaml", "space_gpu.yaml"])
def test_every_sampled_point_is_a_valid_config(name):
    from hyperopt.pyll import stochastic

    space = load_space(CONFIGS / name)
    rng = np.random.default_rng(0)
    seen_sizes = set()
    for _ in range(150):
        params = {**space.fixed, **space.flatten(stochastic.sample(space.to_hyperopt(), rng=rng))}
        cfg = TrainConfig.from_dict(nested(params))
        mcfg = cfg.model_config(bands=3, classes=5)
        assert mcfg.output_size >= 8
        seen_sizes.add(mcfg.input_size)
        assert cfg.training.mode == "auto" and cfg.training.schedule == "cosine_time"
    if name == "space_default.yaml":
        assert max(seen_sizes) == 256
        assert "model.base_filters" in space.params
    else:
        assert max(seen_sizes) == 512


def test_default_space_for_device_names_a_bundled_space():
    from satseg.training.device import default_space_for_device, gpu_count

    name = default_space_for_device()
    assert name == ("gpu" if gpu_count() else "default")
    assert (CONFIGS / ("space_gpu.yaml" if name == "gpu" else "space_default.yaml")).is_file()
