"""Search spaces: parsing, validation, hyperopt conversion, conditional sub-spaces."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hyperopt.pyll import stochastic

from satseg.errors import SpaceError
from satseg.search import SearchSpace, load_space

PLAIN = dict(check_fields=False)


def samples(space: SearchSpace, n: int = 200, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    expr = space.to_hyperopt()
    return [space.flatten(stochastic.sample(expr, rng)) for _ in range(n)]


def test_every_distribution_samples_inside_its_range():
    space = load_space({"params": {
        "u": {"type": "uniform", "low": -1, "high": 2},
        "lu": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
        "q": {"type": "quniform", "low": 8, "high": 24, "q": 4},
        "ql": {"type": "qloguniform", "low": 1, "high": 64, "q": 1},
        "i": {"type": "int", "low": 3, "high": 5},
        "c": {"type": "choice", "options": ["a", [1, 2], None]},
        "fixed": 7,
    }}, **PLAIN)
    got = samples(space)
    assert all(-1 <= s["u"] <= 2 for s in got)
    assert all(1e-4 <= s["lu"] <= 1e-1 for s in got)
    assert {s["q"] for s in got} <= {8, 12, 16, 20, 24} and isinstance(got[0]["q"], int)
    assert {s["i"] for s in got} == {3, 4, 5}  # both bounds reachable
    assert {repr(s["c"]) for s in got} == {"'a'", "[1, 2]", "None"}
    assert all(s["fixed"] == 7 for s in got)
    # log-uniform: about as many samples per decade
    decades = np.floor(np.log10([s["lu"] for s in got]))
    assert set(decades) == {-4.0, -3.0, -2.0}


@pytest.mark.parametrize("spec, words", [
    ({"x": {"type": "uniform", "low": 2, "high": 1}}, ["'x'", "empty range"]),
    ({"x": {"type": "uniform", "low": 1, "high": 1}}, ["empty range"]),
    ({"x": {"type": "gauss", "low": 0, "high": 1}}, ["unknown distribution", "'gauss'"]),
    ({"x": {"type": "loguniform", "low": 0, "high": 1}}, ["low > 0"]),
    ({"x": {"type": "quniform", "low": 0, "high": 1}}, ["'q'"]),
    ({"x": {"type": "choice", "options": []}}, ["non-empty list"]),
    ({"x": {"type": "choice", "options": [1, 1.0]}}, ["repeat"]),
    ({"x": {"type": "uniform", "low": 0, "hi": 1}}, ["unknown key", "'hi'"]),
    ({"x": {"type": "int", "low": 0.5, "high": 3}}, ["integer bounds"]),
    ({"x": {"low": 0, "high": 1}}, ["needs 'type'"]),
    ({"x": {"type": "uniform", "low": 0, "high": 1, "when": {"y": "a"}}}, ["choice parameter"]),
])
def test_invalid_specs_name_the_parameter_and_rule(spec, words):
    with pytest.raises(SpaceError) as err:
        load_space({"params": spec}, **PLAIN)
    for w in words:
        assert w in str(err.value)


def test_satseg_fields_are_checked():
    with pytest.raises(SpaceError, match="unknown field 'depht'"):
        load_space({"model.depht": {"type": "int", "low": 2, "high": 4}})
    with pytest.raises(SpaceError, match="unknown section 'optimiser'"):
        load_space({"optimiser.lr": 0.1})
    with pytest.raises(SpaceError, match="training.learning_rate"):
        load_space({"training.learning_rate": {"type": "uniform", "low": -1, "high": 0.1}})
    with pytest.raises(SpaceError, match="model.block"):
        load_space({"model.block": {"type": "choice", "options": ["plain", "fancy"]}})
    # growth_rate is only valid for dense blocks: the condition is applied in the check
    load_space({"model.block": {"type": "choice", "options": ["plain", "dense"]},
                "model.growth_rate": {"type": "int", "low": 4, "high": 8,
                                      "when": {"model.block": "dense"}}})


def test_yaml_is_never_evaluated(tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("params:\n  x: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(SpaceError, match="not valid YAML"):
        load_space(f, **PLAIN)


def test_conditional_parameters_only_in_their_branch():
    space = load_space({"params": {
        "block": {"type": "choice", "options": ["plain", "dense", "wide"]},
        "growth": {"type": "int", "low": 4, "high": 12, "when": {"block": "dense"}},
        "width": {"type": "uniform", "low": 1, "high": 2, "when": {"block": ["dense", "wide"]}},
        "bins": {"type": "choice", "options": [[1, 2], [1, 2, 4]], "when": {"block": "wide"}},
    }}, **PLAIN)
    for s in samples(space, 300):
        assert ("growth" in s) == (s["block"] == "dense")
        assert ("width" in s) == (s["block"] in ("dense", "wide"))
        assert ("bins" in s) == (s["block"] == "wide")
    # a parameter in two branches gets one hyperopt label per branch
    assert sum(lbl.startswith("width") for lbl in space.labels()) == 2


def test_vals_round_trip_and_outside_detection():
    space = load_space({"params": {
        "opt": {"type": "choice", "options": ["adam", "sgd"]},
        "mom": {"type": "uniform", "low": 0.8, "high": 0.99, "when": {"opt": "sgd"}},
        "lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2},
        "n": {"type": "quniform", "low": 8, "high": 24, "q": 4},
    }}, **PLAIN)
    for s in samples(space, 50):
        vals = space.vals_from_params(s)
        assert vals is not None and set(vals) == set(space.labels())
        assert space.params_from_vals(vals) == s
    assert not space.contains({"opt": "adam", "lr": 0.5, "n": 8})  # lr out of range
    assert not space.contains({"opt": "rmsprop", "lr": 1e-3, "n": 8})  # unknown option
    assert not space.contains({"opt": "sgd", "lr": 1e-3, "n": 8})  # conditional value missing
    assert space.contains({"opt": "adam", "lr": 1e-3, "n": 8.0})


def test_default_space_covers_the_family_and_round_trips():
    space = load_space(None)
    names = set(space.params) | set(space.fixed)
    for field in ("model.block", "model.growth_rate", "model.pyramid_bins", "model.initializer",
                  "model.input_size", "training.learning_rate", "training.optimizer",
                  "training.batch_size", "training.loss", "data.class_balance", "augment.zoom"):
        assert field in names
    again = load_space(yaml.safe_load(space.to_yaml()))
    assert again == space
    from satseg.search.fields import nested
    from satseg.training import TrainConfig

    for s in samples(space, 20):  # every sample is a training config (or a known combination)
        TrainConfig.from_dict(nested(s))


def test_dashboard_documents_are_accepted():
    doc = {"params": {"training.learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-2},
                      "model.block": {"type": "choice", "options": ["plain"],
                                      "offered": ["plain", "dense"]}},
           "_disabled": {"augment.zoom": {"type": "uniform", "low": 0, "high": 0.2}}}
    space = load_space(doc)
    assert "augment.zoom" not in space.params and space.to_dict() == doc


def test_initial_points_are_checked_and_kept():
    params = {
        "opt": {"type": "choice", "options": ["adam", "sgd"]},
        "mom": {"type": "uniform", "low": 0.8, "high": 0.99, "when": {"opt": "sgd"}},
        "lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2},
        "epochs": 3,
    }
    space = load_space({"params": params, "initial_points": [
        {"opt": "sgd", "mom": 0.9, "lr": 1e-3}, {"opt": "adam", "lr": 2e-3, "epochs": 3}]},
        **PLAIN)
    assert space.params_from_vals(space.initial_vals(0)) == {
        "opt": "sgd", "mom": 0.9, "lr": 1e-3, "epochs": 3}
    assert space.params_from_vals(space.initial_vals(1))["opt"] == "adam"
    assert space.initial_vals(2) is None
    assert load_space(yaml.safe_load(space.to_yaml()), **PLAIN) == space  # kept in the document
    for point, words in [
        ({"opt": "adam", "lr": 0.5}, r"initial point 1: values outside the space for \['lr'\]"),
        ({"opt": "sgd", "lr": 1e-3}, r"initial point 1: no value for \['mom'\]"),
        ({"opt": "adam", "lr": 1e-3, "beta": 1}, r"names \['beta'\], which the space neither"),
        ({"opt": "adam", "lr": 1e-3, "epochs": 5}, r"values outside the space for \['epochs'\]"),
        ("adam", "must be a mapping"),
    ]:
        with pytest.raises(SpaceError, match=words):
            load_space({"params": params, "initial_points": [point]}, **PLAIN)
    with pytest.raises(SpaceError, match="must be a list"):
        load_space({"params": params, "initial_points": {"opt": "adam"}}, **PLAIN)


def test_the_default_space_starts_from_the_plain_unet():
    space = load_space(None)
    first = space.params_from_vals(space.initial_vals(0))
    assert first["model.input_size"] == 256 and first["model.base_filters"] == 16
    assert first["model.depth"] == 4 and first["training.learning_rate"] == pytest.approx(1e-3)
    from satseg.search.fields import nested
    from satseg.training import TrainConfig

    TrainConfig.from_dict(nested(first))
