"""Losses against hand computation on tiny arrays; the ignore encoding; class weights."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from satseg.errors import ConfigError
from satseg.models import LOSSES, get_loss, list_losses

# One image, 2x2 pixels, one class; the last pixel is ignored (-1).
Y = np.array([1, 0, 1, -1], dtype=np.float32).reshape(1, 2, 2, 1)
P = np.array([0.8, 0.4, 0.5, 0.9], dtype=np.float32).reshape(1, 2, 2, 1)

# By hand over the three valid pixels (eps = 1):
BCE = -(math.log(0.8) + math.log(0.6) + math.log(0.5)) / 3
INTER, SUM_Y, SUM_P = 0.8 + 0.5, 2.0, 0.8 + 0.4 + 0.5
JAC = (INTER + 1) / (SUM_Y + SUM_P - INTER + 1)  # 2.3 / 3.4
DICE = (2 * INTER + 1) / (SUM_Y + SUM_P + 1)  # 3.6 / 4.7
FOCAL = (
    0.25 * 0.2**2 * -math.log(0.8)  # positive, p_t = 0.8
    + 0.75 * 0.4**2 * -math.log(0.6)  # negative, p_t = 0.6
    + 0.25 * 0.5**2 * -math.log(0.5)  # positive, p_t = 0.5
) / 3
EXPECTED = {
    "bce": BCE,
    "soft_jaccard": 1 - JAC,
    "bce_jaccard": BCE - math.log(JAC),
    "dice": 1 - DICE,
    "focal": FOCAL,
}


# Softmax (exclusive classes): 3 pixels, 2 classes; the last pixel is ignored (-1 everywhere).
YS = np.array([[1, 0], [0, 1], [-1, -1]], np.float32).reshape(1, 1, 3, 2)
PS = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1]], np.float32).reshape(1, 1, 3, 2)
CCE = -(math.log(0.7) + math.log(0.6)) / 2
JACS = [(0.7 + 1) / (1 + 1.1 - 0.7 + 1), (0.6 + 1) / (1 + 0.9 - 0.6 + 1)]
SOFTMAX = {"cce": CCE, "cce_jaccard": CCE - math.log(sum(JACS) / 2)}


def _value(loss, y, p) -> float:
    return float(keras.ops.convert_to_numpy(loss(y, p)))


def test_registry() -> None:
    assert list_losses() == sorted([*EXPECTED, *SOFTMAX]) == sorted(LOSSES)
    with pytest.raises(ConfigError, match="choose one of"):
        get_loss("iou")
    with pytest.raises(ConfigError, match="bad parameters"):
        get_loss("dice", gamma=2.0)
    with pytest.raises(ConfigError, match="class_weights"):
        get_loss("bce", class_weights=[0.0, 0.0])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_value_by_hand(name: str) -> None:
    assert _value(get_loss(name), Y, P) == pytest.approx(EXPECTED[name], rel=1e-5)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ignored_pixels_do_not_change_the_loss(name: str) -> None:
    rng = np.random.default_rng(3)
    y = (rng.random((2, 8, 8, 3)) > 0.5).astype(np.float32)
    p = rng.uniform(0.05, 0.95, (2, 8, 8, 3)).astype(np.float32)
    ignore = rng.random((2, 8, 8)) > 0.7
    y[ignore] = -1.0
    loss = get_loss(name)
    base = _value(loss, y, p)
    p2 = p.copy()
    p2[ignore] = rng.uniform(0.05, 0.95, p2[ignore].shape)  # predictions there do not matter
    assert _value(loss, y, p2) == pytest.approx(base, rel=1e-5)
    # ... and the loss equals the loss over the valid pixels alone
    keep = ~ignore
    y_valid = y[keep].reshape(1, 1, -1, 3)
    p_valid = p[keep].reshape(1, 1, -1, 3)
    assert _value(loss, y_valid, p_valid) == pytest.approx(base, rel=1e-5)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_class_weights(name: str) -> None:
    rng = np.random.default_rng(4)
    y = (rng.random((2, 4, 4, 2)) > 0.5).astype(np.float32)
    p = rng.uniform(0.05, 0.95, (2, 4, 4, 2)).astype(np.float32)
    per_class = [_value(get_loss(name), y[..., c : c + 1], p[..., c : c + 1]) for c in range(2)]
    weighted = _value(get_loss(name, class_weights=[1.0, 3.0]), y, p)
    if name == "bce_jaccard":  # weighted mean of BCE_c minus log of weighted mean of J_c
        bce = [_value(get_loss("bce"), y[..., c : c + 1], p[..., c : c + 1]) for c in range(2)]
        jac = [
            1 - _value(get_loss("soft_jaccard"), y[..., c : c + 1], p[..., c : c + 1])
            for c in range(2)
        ]
        expected = (bce[0] + 3 * bce[1]) / 4 - math.log((jac[0] + 3 * jac[1]) / 4)
    else:
        expected = (per_class[0] + 3 * per_class[1]) / 4
    assert weighted == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ConfigError, match="one weight per class"):
        get_loss(name, class_weights=[1.0, 2.0, 3.0])(y, p)


def test_perfect_prediction_is_best() -> None:
    y = np.zeros((1, 4, 4, 1), np.float32)
    y[0, :2] = 1
    good = np.clip(y, 0.01, 0.99)
    bad = 1 - good
    for name in EXPECTED:
        loss = get_loss(name)
        assert _value(loss, y, good) < _value(loss, y, bad), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_serialisation_round_trip(name: str) -> None:
    loss = get_loss(name, class_weights=[1.0], eps=0.5)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert _value(again, Y, P) == pytest.approx(_value(loss, Y, P))


@pytest.mark.parametrize("name", sorted(SOFTMAX))
def test_softmax_losses_by_hand_ignore_and_round_trip(name: str) -> None:
    loss = get_loss(name)
    assert _value(loss, YS, PS) == pytest.approx(SOFTMAX[name], rel=1e-5)
    other = PS.copy()
    other[0, 0, 2] = (0.2, 0.8)  # the ignored pixel's prediction does not matter
    assert _value(loss, YS, other) == pytest.approx(SOFTMAX[name], rel=1e-5)
    again = keras.losses.deserialize(keras.losses.serialize(get_loss(name, class_weights=[1, 2])))
    assert type(again) is type(loss) and again.class_weights == [1.0, 2.0]
    y = np.zeros((1, 2, 2, 2), np.float32)
    y[..., 0] = 1
    good = np.clip(y, 0.05, 0.95)
    assert _value(loss, y, good) < _value(loss, y, 1 - good)


def test_weighted_cce_is_k_times_the_weighted_mean_of_class_terms() -> None:
    w = [1.0, 3.0]
    terms = [-math.log(0.7) / 2, -math.log(0.6) / 2]  # class c's share of the pixel mean
    expected = 2 * (w[0] * terms[0] + w[1] * terms[1]) / sum(w)
    assert _value(get_loss("cce", class_weights=w), YS, PS) == pytest.approx(expected, rel=1e-5)
    assert _value(get_loss("cce", class_weights=[2.0, 2.0]), YS, PS) == pytest.approx(CCE)
