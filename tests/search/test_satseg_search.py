"""Real searches of satseg models on the bundled sample (tiny 1-epoch trials), through the
command line: stored completely, per-class studies combined into a loadable one-vs-all run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from satseg.cli import main
from satseg.search import StudyStore

pytestmark = pytest.mark.slow

TINY = {"params": {
    "model.input_size": 64, "model.depth": 2, "model.base_filters": 4,
    "model.block": {"type": "choice", "options": ["plain", "dense"]},
    "model.growth_rate": {"type": "int", "low": 2, "high": 4, "when": {"model.block": "dense"}},
    "training.learning_rate": {"type": "loguniform", "low": 1e-3, "high": 1e-2},
    "training.epochs": 1, "training.steps_per_epoch": 3, "training.batch_size": 4,
    "training.workers": 1,
}}


@pytest.fixture(scope="module")
def searched(tmp_path_factory, dask_address):
    tmp = tmp_path_factory.mktemp("satseg-search")
    space = tmp / "tiny.yaml"
    space.write_text(yaml.safe_dump(TINY))
    db = str(tmp / "study.db")
    common = ["--space", str(space), "--store", db, "--parallel", "2", "--scheduler",
              dask_address, "--no-progress"]
    assert main(["search", "--study", "all", "--trials", "2", *common]) == 0
    assert main(["search", "--study", "pc", "--trials", "1", "--per-class", "--classes",
                 "Water,Road", *common]) == 0
    return tmp, db


def test_study_is_stored_completely(searched):
    tmp, db = searched
    store = StudyStore(db)
    df = store.trials("all")
    assert len(df) == 2 and set(df["status"]) == {"ok"}, df[["status", "error"]]
    rec = store.study("all")
    val_ids = rec["settings"]["val_ids"]
    assert rec["state"] == "finished" and rec["data"] == "sample" and val_ids
    for tid in df["trial_id"]:
        t = store.trial("all", tid)
        assert 0 <= t["objective"] <= 1
        assert set(t["per_class"]) == {"Building", "Land", "Road", "Vegetation", "Water"}
        assert [r["epoch"] for r in t["history"]] == [1] and "val_jaccard" in t["history"][0]
        run = t["artifacts"]["run_dir"]
        # Shipped from the worker to <store stem>.runs/<study>-<study uid>/ beside the store.
        assert Path(run).parent == tmp / "study.runs" / f"all-{store.study_uid('all')}"
        meta = json.loads((Path(run) / "meta.json").read_text())
        assert run.endswith(f"trial-{tid:04d}") and meta["val_ids"] == val_ids
        assert t["artifacts"]["preview"].endswith("preview.png")
        from PIL import Image

        assert Image.open(t["artifacts"]["preview"]).size[0] > 300
        assert (t["params"]["model.block"] == "dense") == ("model.growth_rate" in t["params"])


def test_per_class_studies_combine_into_a_one_vs_all_run(searched, capsys):
    tmp, db = searched
    store = StudyStore(db)
    assert {"pc/Water", "pc/Road"} <= set(store.study_names())
    w, r = store.study("pc/Water")["settings"], store.study("pc/Road")["settings"]
    assert w["val_ids"] == r["val_ids"] and w["classes"] == ["Water"]
    out = tmp / "combined"
    assert main(["study", "combine", "pc", "--store", db, "--out", str(out)]) == 0
    from satseg.training import load_run

    run = load_run(out)
    assert run.mode == "one_vs_all" and set(run.class_names) == {"Water", "Road"}
    assert json.loads((out / "combined.json").read_text())["Water"]["study"] == "pc/Water"


def test_study_commands(searched, capsys):
    tmp, db = searched
    assert main(["study", "list", "--store", db]) == 0
    listing = capsys.readouterr().out
    assert "all" in listing and "pc/Water" in listing
    assert main(["study", "show", "all", "--store", db]) == 0
    shown = capsys.readouterr().out
    # Parameters without their section, times readable (not epoch seconds).
    assert " block" in shown and "model.block" not in shown
    assert re.search(r"20\d\d-\d\d-\d\d \d\d:\d\d", shown) and "e+09" not in shown
    assert main(["study", "show", "all", "--store", db, "--trial", "0"]) == 0
    assert '"history"' in capsys.readouterr().out
    csv = tmp / "all.csv"
    assert main(["study", "export", "all", "--store", db, "--out", str(csv)]) == 0
    assert len(pd.read_csv(csv)) == 2
    refined = tmp / "refined.yaml"
    assert main(["study", "refine", "all", "--store", db, "--out", str(refined)]) == 0
    assert yaml.safe_load(refined.read_text())["params"]["model.depth"] == 2
    # An existing space file (perhaps edited by hand) is kept unless --overwrite.
    refined.write_text("# my edits\n")
    assert main(["study", "refine", "all", "--store", db, "--out", str(refined)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert refined.read_text() == "# my edits\n"
    assert main(["study", "refine", "all", "--store", db, "--out", str(refined),
                 "--overwrite"]) == 0
    assert yaml.safe_load(refined.read_text())["params"]["model.depth"] == 2
    # Control commands act on running searches only: a finished study stays finished.
    assert main(["study", "pause", "all", "--store", db]) == 2
    assert "'all' is finished" in capsys.readouterr().err
    assert StudyStore(db).study_state("all") == "finished"
    assert main(["study", "show", "nope", "--store", db]) == 2  # one-line error
    assert "no study 'nope'" in capsys.readouterr().err


def test_combine_with_retraining(searched):
    tmp, db = searched
    out = tmp / "retrained"
    assert main(["study", "combine", "pc", "--store", db, "--out", str(out), "--retrain",
                 "--epochs", "1"]) == 0
    from satseg.training import load_run

    run = load_run(out)
    assert run.mode == "one_vs_all" and len(run.models) == 2
    combined = json.loads((out / "combined.json").read_text())
    assert all(v["retrained"] for v in combined.values())
    assert len(list((out / "units").glob("*/model.keras"))) == 2
