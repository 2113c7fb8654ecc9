"""Path patterns: filling a pattern and matching the result gives the placeholder values back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from satseg.io.generic import _compile, _fill

piece = st.text(alphabet="abcXYZ019_-.", min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..")
)


@given(tile=piece, name=piece)
def test_fill_then_match_round_trip(tile, name):
    pattern = "{tile}/images/{name}.jpg"
    regex, glob = _compile(pattern)
    rel = _fill(pattern, {"tile": tile, "name": name})
    m = regex.match(rel)
    assert m is not None and m.groupdict() == {"tile": tile, "name": name}
    assert glob == "*/images/*.jpg"


@given(scene=piece)
def test_repeated_placeholder_must_repeat(scene):
    regex, _ = _compile("{scene}/{scene}_B4.TIF")
    assert regex.match(f"{scene}/{scene}_B4.TIF").group("scene") == scene
    assert regex.match(f"{scene}/x{scene}_B4.TIF") is None


def test_wildcards_do_not_cross_folders():
    regex, glob = _compile("*/img_{id}.tif")
    assert regex.match("a/img_1.tif").group("id") == "1"
    assert regex.match("a/b/img_1.tif") is None
    assert glob == "*/img_*.tif"
