"""satseg.io.outputs: refuse existing outputs, write through a temporary name, clean up on failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from satseg.errors import OutputError, SatsegError
from satseg.io.outputs import (
    atomic_output,
    atomic_write_text,
    refuse_existing,
    refuse_nonempty_dir,
)


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_refuse_existing_names_option_and_fix(tmp_path):
    out = tmp_path / "x.tif"
    refuse_existing(out, overwrite=False)  # absent: fine
    out.write_bytes(b"old")
    with pytest.raises(OutputError) as err:
        refuse_existing(out, overwrite=False, option="--out")
    msg = str(err.value)
    assert isinstance(err.value, SatsegError) and "\n" not in msg
    assert msg.startswith(f"--out {out}") and "--overwrite" in msg and "exists" in msg
    refuse_existing(out, overwrite=True)


def test_success_renames_into_place_with_same_suffix(tmp_path):
    out = tmp_path / "x.tif"
    with atomic_output(out) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".tif" and not tmp.exists()
        assert tmp.name.startswith(".")
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"
    assert _listing(tmp_path) == ["x.tif"]


def test_existing_file_refused_untouched(tmp_path):
    out = tmp_path / "x.tif"
    out.write_bytes(b"old")
    with pytest.raises(OutputError, match="--overwrite"):
        with atomic_output(out) as tmp:
            tmp.write_bytes(b"new")  # pragma: no cover - never reached
    assert out.read_bytes() == b"old" and _listing(tmp_path) == ["x.tif"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_keeps_old_output_and_removes_temp(tmp_path, exc):
    out = tmp_path / "x.tif"
    out.write_bytes(b"old")
    with pytest.raises(type(exc)):
        with atomic_output(out, overwrite=True) as tmp:
            tmp.write_bytes(b"half")
            raise exc
    assert out.read_bytes() == b"old" and _listing(tmp_path) == ["x.tif"]


def test_overwrite_replaces_file(tmp_path):
    out = tmp_path / "x.txt"
    out.write_text("old")
    atomic_write_text(out, "new", overwrite=True)
    assert out.read_text() == "new" and _listing(tmp_path) == ["x.txt"]


def test_folder_output_replaces_old_folder_only_on_success(tmp_path):
    out = tmp_path / "s.zarr"
    out.mkdir()
    (out / "old").write_text("1")
    with pytest.raises(ValueError):
        with atomic_output(out, overwrite=True) as tmp:
            tmp.mkdir()
            (tmp / "new").write_text("2")
            raise ValueError("writer failed")
    assert _listing(out) == ["old"] and _listing(tmp_path) == ["s.zarr"]
    with atomic_output(out, overwrite=True) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("2")
    assert _listing(out) == ["new"] and _listing(tmp_path) == ["s.zarr"]


def test_missing_parents_created_and_removed_on_failure(tmp_path):
    out = tmp_path / "a" / "b" / "x.npy"
    with pytest.raises(RuntimeError):
        with atomic_output(out) as tmp:
            np.save(tmp, np.zeros(3))
            raise RuntimeError
    assert _listing(tmp_path) == []
    with atomic_output(out) as tmp:
        np.save(tmp, np.zeros(3))
    assert np.load(out).shape == (3,)


def test_parent_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        with atomic_output(tmp_path / "f" / "x.tif"):
            pass  # pragma: no cover


def test_nothing_written_is_an_error(tmp_path):
    with pytest.raises(OutputError, match="nothing was written"):
        with atomic_output(tmp_path / "x.tif"):
            pass
    assert _listing(tmp_path) == []


def test_gdal_picks_driver_from_temp_suffix(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    out = tmp_path / "x.tif"
    with atomic_output(out) as tmp:
        with rasterio.open(
            tmp, "w", width=4, height=3, count=1, dtype="uint8"
        ) as dst:  # no driver given: chosen from ".tif"
            dst.write(np.ones((1, 3, 4), np.uint8))
    with rasterio.open(out) as src:
        assert src.driver == "GTiff" and src.read().sum() == 12


def test_refuse_nonempty_dir(tmp_path):
    refuse_nonempty_dir(tmp_path / "new", overwrite=False)
    (tmp_path / "empty").mkdir()
    refuse_nonempty_dir(tmp_path / "empty", overwrite=False)
    full = tmp_path / "full"
    full.mkdir()
    for name in "abcde":
        (full / name).write_text(name)
    with pytest.raises(OutputError) as err:
        refuse_nonempty_dir(full, overwrite=False)
    assert "a, b, c and 2 more" in str(err.value) and "--overwrite" in str(err.value)
    refuse_nonempty_dir(full, overwrite=True)
    with pytest.raises(OutputError, match="not a folder"):
        refuse_nonempty_dir(full / "a", overwrite=True)
