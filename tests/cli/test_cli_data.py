"""``satseg data``: info/stack/synth, help, and one-line errors with a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from satseg.cli import main
from tests.io import makers

REPO = Path(__file__).resolve().parents[2]
HAVE_STACK = (REPO / "satseg" / "bands" / "store.py").is_file()
HAVE_SYNTH = (REPO / "satseg" / "datasets" / "synth.py").is_file()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("INFO", "DEBUG"))]
    assert len(lines) == 1 and lines[0].startswith("satseg: error:"), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_info_sample_table(capsys):
    code, out, _ = run(capsys, "data", "info", "sample")
    assert code == 0
    assert "dubai-sample (generic)" in out and "images: 7, labelled: 7" in out
    assert "red (660 nm)" in out and "tile_4/image_part_001" in out
    for c in ("Building", "Land", "Road", "Vegetation", "Water"):
        assert c in out


def test_info_json_with_external_manifest(capsys, tmp_path):
    makers.code_dataset(tmp_path / "d")
    (tmp_path / "d" / "satseg.yaml").rename(tmp_path / "m.yaml")
    code, out, _ = run(
        capsys,
        "data",
        "info",
        str(tmp_path / "d"),
        "--json",
        "--manifest",
        str(tmp_path / "m.yaml"),
    )
    assert code == 0
    d = json.loads(out)
    assert d["kind"] == "generic" and d["images"] == ["scene0", "scene1"]
    assert d["classes"][1]["name"] == "water" and d["classes"][1]["pixels"] > 0
    assert d["sizes"]["scene0"] == {"height": 32, "width": 32}


def test_info_dubai_with_example_manifest(capsys, dubai_path):
    code, out, _ = run(
        capsys,
        "data",
        "info",
        str(dubai_path),
        "--json",
        "--no-counts",
        "--manifest",
        str(REPO / "docs/examples/dubai-aerial.satseg.yaml"),
    )
    assert code == 0 and len(json.loads(out)["images"]) == 63


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "--help"],
        ["data", "info", "--help"],
        ["data", "stack", "--help"],
        ["data", "synth", "--help"],
    ],
)
def test_help(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    assert "usage: satseg data" in capsys.readouterr().out


def _bad(tmp_path: Path, case: str) -> list[str]:
    """Build one bad input; return the argv that must fail."""
    d = tmp_path / case
    if case == "missing_folder":
        return ["data", "info", str(d)]
    if case == "not_a_dataset":
        d.mkdir()
        return ["data", "info", str(d)]
    if case == "bad_yaml":
        d.mkdir()
        (d / "satseg.yaml").write_text("name: [oops")
        return ["data", "info", str(d)]
    if case == "empty":
        makers.code_dataset(d, n=1)
        for f in (d / "images").iterdir():
            f.unlink()
        return ["data", "info", str(d)]
    if case == "unreadable":
        makers.code_dataset(d, n=1)
        (d / "images" / "scene0.tif").write_bytes(b"garbage")
        return ["data", "info", str(d)]
    if case == "band_count":
        makers.code_dataset(d, n=1)
        m = yaml.safe_load((d / "satseg.yaml").read_text())
        m["bands"] = ["r", "g", "b"]
        (d / "satseg.yaml").write_text(yaml.safe_dump(m))
        return ["data", "stack", str(d), "scene0", "--out", str(tmp_path / "o.tif")]
    if case == "size_mismatch":
        makers.code_dataset(d, n=1)
        makers.write_tif(d / "masks" / "scene0_mask.tif", np.zeros((1, 8, 8), np.uint8))
        return ["data", "info", str(d)]
    if case == "unknown_colour":
        makers.colour_dataset(d, fmt="png")
        m = yaml.safe_load((d / "satseg.yaml").read_text())
        m["labels"]["ignore"] = []
        (d / "satseg.yaml").write_text(yaml.safe_dump(m))
        return ["data", "info", str(d)]
    if case == "unknown_scene":
        return ["data", "stack", "sample", "tile_9/nope", "--out", str(tmp_path / "o.tif")]
    if case == "bad_out":
        return [
            "data",
            "stack",
            "sample",
            "tile_1/image_part_009",
            "--out",
            str(tmp_path / "o.png"),
        ]
    if case == "grid_generic":
        return [
            "data",
            "stack",
            "sample",
            "tile_1/image_part_009",
            "--out",
            str(tmp_path / "o.tif"),
            "--grid",
            "m",
        ]
    if case == "synth_scenes":
        return ["data", "synth", str(d), "--scenes", "0"]
    raise AssertionError(case)


BAD = {
    "missing_folder": ("does not exist",),
    "not_a_dataset": ("neither a DSTL folder",),
    "bad_yaml": ("satseg.yaml: invalid YAML at line 1, column 12",),
    "empty": ("is empty", "images.pattern"),
    "unreadable": ("cannot read raster", "scene0.tif"),
    "band_count": ("scene0.tif has 4 band(s)", "declares 3"),
    "size_mismatch": ("scene0_mask.tif is 8x8 px", "same width and height"),
    "unknown_colour": ("part_1.png holds values", "#9b9b9b", "labels.ignore"),
    "unknown_scene": ("image 'tile_9/nope' is not in data set",),
    "bad_out": ("must end in .tif or .zarr",),
    "grid_generic": ("only DSTL data sets have an M grid",),
    "synth_scenes": ("--scenes 0",),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_inputs_fail_with_one_line(capsys, tmp_path, case):
    argv = _bad(tmp_path, case)
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, *BAD[case])


def test_subprocess_error_has_no_traceback(tmp_path):
    (tmp_path / "satseg.yaml").write_text("bands: [r]\nimages: i/{n}.tif\nclasses: []\n")
    proc = subprocess.run(
        [sys.executable, "-m", "satseg", "data", "info", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "non-empty list of classes" in proc.stderr


@pytest.mark.skipif(not HAVE_STACK, reason="satseg.bands.store (another area) not written yet")
@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_stack_sample_round_trip(capsys, tmp_path, suffix):
    out = tmp_path / f"stack{suffix}"
    code, text, _ = run(
        capsys, "data", "stack", "sample", "tile_1/image_part_009", "--out", str(out)
    )
    assert code == 0 and out.exists() and "3 bands" in text
    from satseg.bands.store import open_stack
    from satseg.io import open_dataset

    back = open_stack(out)
    want = open_dataset("sample").load_image("tile_1/image_part_009").values
    np.testing.assert_array_equal(back.values, want)
    assert list(back["band"].values) == ["red", "green", "blue"]


def test_stack_index_needing_nir_fails_on_rgb(capsys, tmp_path):
    if not HAVE_STACK:
        pytest.skip("satseg.bands (another area) not written yet")
    code, _, err = run(
        capsys,
        "data",
        "stack",
        "sample",
        "tile_1/image_part_009",
        "--out",
        str(tmp_path / "o.tif"),
        "--indices",
        "ndvi",
    )
    assert_one_line_error(code, err, "ndvi")


@pytest.mark.skipif(not (HAVE_SYNTH and HAVE_STACK), reason="DSTL reader/synth not written yet")
def test_synth_info_and_stack_dstl(capsys, tmp_path):
    code, text, _ = run(
        capsys, "data", "synth", str(tmp_path / "s"), "--scenes", "1", "--size", "256"
    )
    assert code == 0 and "wrote 1 synthetic DSTL scene" in text
    code, out, _ = run(capsys, "data", "info", str(tmp_path / "s"), "--json")
    assert code == 0
    d = json.loads(out)
    assert d["kind"] == "dstl" and len(d["images"]) == 1
    scene = d["images"][0]
    assert set(d["registration"][scene]) == {"RGB", "P", "M", "A"}
    pixels = {c["name"]: c["pixels"] for c in d["classes"]}
    assert len(pixels) == 10 and pixels["Crops"] > 0 and d["pixels"]["labelled"] > 0
    code, out, _ = run(capsys, "data", "info", str(tmp_path / "s"))
    assert code == 0 and "registration: offset (dy, dx)" in out and "(+" in out and "sixteen_band/{id}_M.tif" in out
    dst = tmp_path / "m.zarr"
    code, text, _ = run(
        capsys,
        "data",
        "stack",
        str(tmp_path / "s"),
        scene,
        "--out",
        str(dst),
        "--grid",
        "m",
        "--indices",
        "ndvi,ndwi",
    )
    assert code == 0 and dst.exists() and "22 bands" in text
    from satseg.bands.store import open_stack

    stack = open_stack(dst)
    assert list(stack["band"].values)[-2:] == ["ndvi", "ndwi"]
    assert stack.sizes["y"] < 100  # the M grid, about a quarter of 256 px


@pytest.mark.skipif(not HAVE_STACK, reason="satseg.bands.store not available")
@pytest.mark.parametrize("name", ["x.tif", "x.zarr"])
def test_stack_overwrite_only_when_asked(capsys, tmp_path, name):
    """An existing --out is refused (bytes kept) unless --overwrite; with it the new stack
    replaces the old one and no temporary file is left."""
    import hashlib

    import xarray as xr

    makers.code_dataset(tmp_path / "d")
    out = tmp_path / name
    argv = ["data", "stack", str(tmp_path / "d"), "scene0", "--out", str(out)]
    assert run(capsys, *argv)[0] == 0

    def digest() -> str:
        files = [out] if out.is_file() else sorted(p for p in out.rglob("*") if p.is_file())
        return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()

    before = digest()
    code, _, err = run(capsys, *argv, "--indices", "ndvi")
    assert_one_line_error(code, err, "--out", name, "--overwrite")
    assert digest() == before
    assert run(capsys, *argv, "--indices", "ndvi", "--overwrite")[0] == 0
    assert digest() != before
    if name.endswith(".tif"):
        import rasterio

        with rasterio.open(out) as src:
            assert src.count == 5  # 4 bands + ndvi
    else:
        assert len(xr.open_zarr(out).data_vars) >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", name]
