"""Settings: data sets and stores are found under the folders the server was started with."""

import os

import pytest

from app.settings import AppSettings
from satseg.errors import ConfigError


def _dstl(root):
    (root / "three_band").mkdir(parents=True)
    (root / "grid_sizes.csv").write_text(",Xmax,Ymin\n")
    return root


def _generic(root):
    root.mkdir(parents=True)
    (root / "satseg.yaml").write_text("name: x\n")
    return root


def test_datasets_found_in_folders(tmp_path):
    _dstl(tmp_path / "all" / "dstl")
    _generic(tmp_path / "all" / "group" / "gen")
    (tmp_path / "all" / "empty").mkdir()
    direct = _generic(tmp_path / "direct")
    s = AppSettings(data=("sample", str(tmp_path / "all"), str(direct), str(tmp_path / "missing")))
    found = s.datasets()
    assert found["sample (Dubai)"] == "sample"
    assert found["dstl"] == str((tmp_path / "all" / "dstl").resolve())
    assert found["group/gen"] == str((tmp_path / "all" / "group" / "gen").resolve())
    assert found["direct"] == str(direct.resolve())
    assert len(found) == 4


def test_stores_files_and_folders(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.db").write_bytes(b"")
    (tmp_path / "s" / "notes.txt").write_text("x")
    s = AppSettings(stores=(str(tmp_path / "s"), str(tmp_path / "new.db")))
    assert set(s.store_paths()) == {"a.db", "new.db"}


def test_env_and_args(tmp_path):
    env = {"SATSEG_DATA": os.pathsep.join(["sample", str(tmp_path)]), "SATSEG_STORE": "x.db",
           "SATSEG_THEME": "dark"}
    s = AppSettings.from_env(env)
    assert s.data == ("sample", str(tmp_path)) and s.stores == ("x.db",) and s.theme == "dark"
    s2 = AppSettings.from_args(["--data", "a", "--data", "b", "--store", "y.db"], env)
    assert s2.data == ("a", "b") and s2.stores == ("y.db",) and s2.theme == "dark"
    with pytest.raises(ConfigError, match="theme"):
        AppSettings(theme="pink")
    with pytest.raises(ConfigError, match="SATSEG_REFRESH_MS"):
        AppSettings.from_env({"SATSEG_REFRESH_MS": "fast"})
