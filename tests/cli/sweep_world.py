"""A folder of good and bad inputs for the CLI sweep (tests/cli/test_sweep.py) and the property
tests: data sets (good, truncated GeoTIFF, all-nodata image), manifests and configs with errors,
pickles, a study store, a tiny real run and a damaged one, and existing outputs to protect."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sqlite3
from pathlib import Path

import numpy as np

from tests.io import makers

BANDS = ("blue", "green", "red", "nir")


class _Payload:
    """Unpickling this runs ``touch MARKER`` (the classic pickle exploit)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def hyperopt_trials(n: int = 3):
    from hyperopt import STATUS_OK, Trials, fmin, hp, tpe

    trials = Trials()
    fmin(lambda p: {"loss": float(p["x"] ** 2), "status": STATUS_OK}, {"x": hp.uniform("x", -1, 1)},
         algo=tpe.suggest, max_evals=n, trials=trials, rstate=np.random.default_rng(0),
         show_progressbar=False)  # fmt: skip
    return trials


def build(root: Path, *, with_run: bool = True) -> Path:
    """Write the world under ``root`` and return it."""
    makers.code_dataset(root / "ds", n=3, size=64)
    # a generic data set whose scene1.tif lost the second half of its pixel data
    makers.code_dataset(root / "trunc", n=3, size=256)
    truncate(root / "trunc" / "images" / "scene1.tif")
    # scene1 is all nodata (0)
    makers.code_dataset(root / "nodata", n=2, size=64)
    makers.write_tif(root / "nodata" / "images" / "scene1.tif",
                     np.zeros((4, 64, 64), np.uint16), crs=makers.CRS, nodata=0)  # fmt: skip
    # a synthetic DSTL folder whose M band file lost its last third
    from satseg.datasets.synth import write_synthetic_dstl

    write_synthetic_dstl(root / "dstl", scenes=1, size=256, seed=0)
    for m_file in (root / "dstl" / "sixteen_band").glob("*_M.tif"):
        truncate(m_file, 2 / 3)
    # manifests with errors
    for name, text in {
        "badyaml": "name: [oops\n",
        "abspattern": f"images: {{pattern: '{root}/ds/images/{{scene}}.tif'}}\n"
                      "classes: [{name: a}]\n",
        "badnodata": "images: {pattern: 'images/{scene}.tif', nodata: lots}\nclasses: [{name: a}]\n",
    }.items():
        (root / name).mkdir()
        (root / name / "satseg.yaml").write_text(text)
    # training configs
    (root / "bad.yaml").write_text("training:\n  epochs: 2\n learning_rate: [1\n")
    (root / "unknown.yaml").write_text("training:\n  learning_rat: 1e-3\n")
    (root / "binary.yaml").write_bytes(b"\x00\xff\xfe garbage")
    (root / "space-bad.yaml").write_text("params:\n  model.depth: {type: int, low: 3, high:\n")
    (root / "space-unknown.yaml").write_text("params:\n  model.dept: {type: int, low: 3, high: 4}\n")
    (root / "space-badpoint.yaml").write_text(
        "params:\n  model.depth: {type: int, low: 3, high: 4}\n"
        "initial_points:\n  - {model.depth: 7}\n")
    # pickles
    trials = hyperopt_trials()
    (root / "trials.pkl").write_bytes(pickle.dumps(trials))
    (root / "evil.pkl").write_bytes(pickle.dumps(_Payload(root / "PWNED")))
    (root / "garbage.pkl").write_bytes(b"\x80\x04this is not a pickle")
    # a study store with one imported study, a garbage store, another application's database
    from satseg.search import StudyStore
    from satseg.search.transfer import import_hyperopt_trials

    import_hyperopt_trials(StudyStore(root / "store.db"), "s", root / "trials.pkl")
    (root / "garbage.db").write_bytes(b"SQLite format 3\x00" + b"\x13" * 200)
    con = sqlite3.connect(root / "other.db")
    con.execute("create table customers (id integer primary key, name text)")
    con.execute("insert into customers (name) values ('x')")
    con.commit()
    con.close()
    # outputs that exist already and must survive
    (root / "existing.tif").write_bytes(b"precious raster")
    (root / "existing.csv").write_text("precious,table\n")
    (root / "pred").mkdir()
    (root / "pred" / "predictions.json").write_text("{}")
    (root / "badpred").mkdir()
    (root / "badpred" / "predictions.json").write_text("{not json")
    # rasters for --image
    makers.write_tif(root / "three.tif", np.ones((3, 40, 40), np.uint16), crs=makers.CRS)
    if with_run:
        _runs(root)
    return root


def _runs(root: Path) -> None:
    from tests.inference.conftest import make_run

    run = make_run(root / "run", bands=BANDS, input_size=32, margin=4)
    meta = json.loads((run.run_dir / "meta.json").read_text())
    meta["classes"][0]["name"], meta["classes"][1]["name"] = "building", "water"
    (run.run_dir / "meta.json").write_text(json.dumps(meta))
    shutil.copytree(root / "run", root / "badmodel")
    (root / "badmodel" / "model.keras").write_bytes(b"this is not a keras archive")
    shutil.copytree(root / "run", root / "badmeta")
    (root / "badmeta" / "meta.json").write_text('{"classes": 3}')


SKIP_SUFFIXES = ("-wal", "-shm", "-journal")


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every file below ``root`` (SQLite's side files aside)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(SKIP_SUFFIXES)
    }
