"""Sensor specs as data: registry, band names and wavelengths."""

from __future__ import annotations

import pytest

from satseg.bands import get_sensor, list_sensors
from satseg.errors import ConfigError


def test_registry_lists_three_sensors():
    assert {"worldview3", "rgb", "landsat8"} <= set(list_sensors())


def test_worldview3_matches_dstl():
    wv3 = get_sensor("dstl")  # alias
    assert wv3.band_names == ("R", "G", "B", "P", *(f"M{i}" for i in range(1, 9)),
                              *(f"A{i}" for i in range(1, 9)))  # fmt: skip
    m = wv3.group("M")
    assert [b.range for b in m.bands][5] == (705, 745)  # red edge
    assert m.bit_depth == 11 and wv3.group("A").bit_depth == 14
    assert wv3.group("A").max_value == 16383
    assert wv3.group("M").file_pattern == "sixteen_band/{id}_M.tif"


def test_unknown_sensor_lists_valid_names():
    with pytest.raises(ConfigError, match="valid sensors: landsat8, rgb, worldview3"):
        get_sensor("sentinel-9")
    with pytest.raises(ConfigError, match="no band group 'Q'"):
        get_sensor("wv3").group("Q")
