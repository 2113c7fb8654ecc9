"""Trial artifacts travel from the worker to the driver's runs root (satseg.search.artifacts):
packing, atomic writes, fsspec URLs, the cache, and run folders unique per store and study
(issue 11: two searches never clobber each other's models)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from satseg.errors import StoreError
from satseg.search import StudyStore, run_search
from satseg.search.artifacts import (
    MANIFEST,
    Bundle,
    RunSink,
    default_runs_root,
    materialise,
    pack_run,
    trial_run_dir,
)


def fake_run(p, ctx):
    """A plain objective that writes a run folder into its private ``ctx.run_dir``: a random
    'model', meta.json naming the folder it was written in, and a checkpoint (not shipped)."""
    run = Path(ctx.run_dir)
    (run / "checkpoints").mkdir(parents=True)
    (run / "model.keras").write_bytes(os.urandom(2048))
    (run / "checkpoints" / "last.keras").write_bytes(b"ckpt")
    (run / "meta.json").write_text(json.dumps({"written_in": str(run), "x": p["x"]}))
    (run / "preview.png").write_bytes(b"png")
    return {"objective": p["x"], "artifacts": {"run_dir": str(run),
                                               "preview": str(run / "preview.png")}}


def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "models").mkdir(parents=True)
    (run / "checkpoints" / "Water").mkdir(parents=True)
    (run / "models" / "Water.keras").write_bytes(b"w" * 100)
    (run / "models" / ".Water.tmp-1.keras").write_bytes(b"half")
    (run / "checkpoints" / "Water" / "last.keras").write_bytes(b"c")
    for name in ("config.yaml", "meta.json", "history.json", "jaccard.json", "preview.png"):
        (run / name).write_text(name)
    (run / "stray.log").write_text("not an artifact")
    return run


def test_pack_keeps_the_run_contract_only(tmp_path):
    run = _run_folder(tmp_path)
    b = pack_run(run)
    assert set(b.files) == {"models/Water.keras", "config.yaml", "meta.json", "history.json",
                            "jaccard.json", "preview.png"}
    assert b.size == 100 + sum(len(n) for n in ("config.yaml", "meta.json", "history.json",
                                                "jaccard.json", "preview.png"))
    assert "checkpoints/Water/last.keras" in pack_run(run, checkpoints=True).files


@pytest.mark.parametrize("root", ["local", "file", "memory"])
def test_sink_writes_atomically_and_never_over_another_folder(tmp_path, root):
    url = {"local": str(tmp_path / "runs"), "file": f"file://{tmp_path}/runs",
           "memory": f"memory://satseg-test-{os.getpid()}/runs"}[root]
    sink = RunSink(url, "s-abc")
    bundle = pack_run(_run_folder(tmp_path))
    arts, secs = sink.write(3, bundle)
    assert secs >= 0 and arts["run_dir"].endswith("s-abc/trial-0003")
    assert arts["model"].endswith("trial-0003/models") and arts["preview"].endswith(".png")
    again, _ = sink.write(3, Bundle({"meta.json": b"{}"}))  # never replaces the first
    assert again["run_dir"] != arts["run_dir"] and "trial-0003-" in again["run_dir"]
    local = materialise(arts["run_dir"], cache=tmp_path / "cache")
    assert (local / "models" / "Water.keras").read_bytes() == b"w" * 100
    assert json.loads((local / MANIFEST).read_text())["files"]["models/Water.keras"] == 100
    assert not [p for p in local.parent.iterdir() if p.name.startswith(".")]  # no temporaries
    assert sink.owns(arts["run_dir"]) and not sink.owns(str(tmp_path / "elsewhere" / "t"))
    assert not RunSink(url, "s-other").remove(arts["run_dir"])  # another study's: untouched
    assert sink.remove(arts["run_dir"])
    if root == "memory":  # the cached copy stays loadable; the source is gone
        assert local.is_dir()
        with pytest.raises(StoreError, match="does not exist"):
            materialise(arts["run_dir"], cache=tmp_path / "cache2")
    else:
        assert not Path(arts["run_dir"].removeprefix("file://")).exists()


def test_bundle_paths_cannot_leave_the_run_folder(tmp_path):
    with pytest.raises(StoreError, match="leaves its run folder"):
        RunSink(str(tmp_path), "s").write(0, Bundle({"../../evil": b"x"}))
    assert not (tmp_path.parent / "evil").exists()


def _md5(path: str) -> str:
    return hashlib.md5((Path(path) / "model.keras").read_bytes()).hexdigest()


def _models(db: str, study: str) -> dict[int, str]:
    store = StudyStore(db)
    return {int(t): _md5(store.trial(study, t)["artifacts"]["run_dir"])
            for t in store.trials(study)["trial_id"]}


def test_searches_ship_runs_to_the_driver_unique_per_store_and_study(tmp_path, plain):
    """Issue 11: two stores in one folder with the default study name, and two study names
    that sanitise alike, keep their own models (checksums unchanged by the later searches)."""
    common = {**plain, "objective": fake_run, "n_trials": 2}
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    run_search(**{**common, "store": a})  # default study name "study"
    before = _models(a, "study")
    assert len(before) == 2
    run_search(**{**common, "store": b})
    run_search(**{**common, "store": a, "study": "roads/x"})
    run_search(**{**common, "store": a, "study": "roads_x"})
    assert _models(a, "study") == before
    seen = set()
    for db, study in ((a, "study"), (b, "study"), (a, "roads/x"), (a, "roads_x")):
        store = StudyStore(db)
        for tid in store.trials(study)["trial_id"]:
            t = store.trial(study, tid)
            run = Path(t["artifacts"]["run_dir"])
            assert run.parent.parent == Path(default_runs_root(db))
            assert run.parent.name.endswith(store.study_uid(study)) and run not in seen
            seen.add(run)
            meta = json.loads((run / "meta.json").read_text())
            assert not Path(meta["written_in"]).exists()  # the worker's scratch is gone
            assert not (run / "checkpoints").exists() and (run / MANIFEST).is_file()
            assert t["artifacts"]["preview"] == str(run / "preview.png")
            assert trial_run_dir(store, study, tid) == run
    assert len(seen) == 8


def test_keep_best_is_scoped_per_study_on_an_fsspec_url(tmp_path, plain):
    url = f"memory://satseg-keep-{os.getpid()}"
    common = {**plain, "objective": fake_run, "n_trials": 4, "keep_runs": "best",
              "runs_dir": url, "parallelism": 1}
    run_search(**{**common, "study": "one"})
    run_search(**{**common, "study": "two"})
    for study in ("one", "two"):
        store = StudyStore(plain["store"])
        kept = {int(t): store.trial(study, t)["artifacts"].get("run_dir")
                for t in store.trials(study)["trial_id"]}
        best = store.best_trial(study)["trial_id"]
        assert [t for t, u in kept.items() if u] == [best]
        assert kept[best].startswith(url)
        local = trial_run_dir(store, study, cache=tmp_path / "cache")  # best by default
        assert json.loads((local / "meta.json").read_text())["x"] == store.best_trial(
            study)["objective"]
    with pytest.raises(StoreError, match="kept no run folder"):
        trial_run_dir(store, "two", next(t for t, u in kept.items() if not u))


def test_predict_loads_a_trial_from_the_store_through_an_fsspec_url(tmp_path, capsys,
                                                                     monkeypatch):
    """``satseg predict --study`` reads the trial's record: here a run folder under memory://,
    copied to the cache (SATSEG_CACHE) before it loads; bad option mixes are one-line errors."""
    import numpy as np

    from satseg.cli import main
    from tests.inference.conftest import make_run, write_tif

    monkeypatch.setenv("SATSEG_CACHE", str(tmp_path / "cache"))
    make_run(tmp_path / "run")
    arts, _ = RunSink(f"memory://satseg-predict-{os.getpid()}", "s-1").write(
        0, pack_run(tmp_path / "run"))
    store = StudyStore(tmp_path / "s.db")
    store.create_study("s", {"params": {"x": 1}})
    store.add_trial("s", 0, {"x": 1})
    store.finish_trial("s", 0, status="ok", objective=0.5, artifacts=arts)
    image = write_tif(tmp_path / "scene.tif", np.random.default_rng(0).random((3, 40, 40)) * 255)
    out = tmp_path / "pred"
    assert main(["predict", "--study", "s", "--store", str(store.path), "--image", str(image),
                 "--out", str(out), "--tta", "1", "--format", "tif", "--no-progress"]) == 0
    model = json.loads((out / "predictions.json").read_text())["model"]
    assert model.startswith(str(tmp_path / "cache")) and (out / "scene_mask.tif").is_file()
    for bad, msg in (([], "give --model RUN_DIR"),
                     (["--model", "x", "--study", "s"], "not both"),
                     (["--model", "x", "--trial", "0"], "--trial N goes with --study"),
                     (["--study", "s", "--trial", "7"], "has no trial 7")):
        assert main(["predict", *bad, "--store", str(store.path), "--image", str(image),
                     "--out", str(tmp_path / "o2"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err, err


def test_a_failed_write_keeps_the_trial_result(tmp_path, plain):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the runs root should be")
    res = run_search(**{**plain, "objective": fake_run, "n_trials": 1,
                        "runs_dir": str(blocker / "runs")})
    t = StudyStore(plain["store"]).trial("study", 0)
    assert res.n_ok == 1 and t["status"] == "ok" and t["objective"] is not None
    assert "run folder could not be written" in t["error"] and "run_dir" not in t["artifacts"]
