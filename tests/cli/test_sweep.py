"""The CLI's bad-input contract, swept over every sub-command (issue 11).

Every case must end with exit code 2, exactly one line on stderr that starts with
``satseg: error:`` and names the file or option at fault, no traceback, no file of the folder
changed (sha256 of every pre-existing file) and no file left behind (no partial outputs).
Most cases run in-process through :func:`satseg.cli.main`; a few run as real subprocesses, where
logging and GDAL/TensorFlow noise would also reach stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from satseg.cli import main
from tests.cli import sweep_world

REPO = Path(__file__).resolve().parents[2]

# id -> (argv with {w} for the world folder, strings the one line must contain)
CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    # --- data
    "info-missing": (["data", "info", "{w}/nope"], ("{w}/nope", "does not exist")),
    "info-bad-yaml": (["data", "info", "{w}/badyaml"], ("badyaml/satseg.yaml", "invalid YAML at line")),
    "info-abs-pattern": (["data", "info", "{w}/abspattern"], ("images.pattern", "absolute")),
    "info-bad-nodata": (["data", "info", "{w}/badnodata"], ("images.nodata", "lots")),
    "info-manifest-missing": (["data", "info", "{w}/ds", "--manifest", "{w}/none.yaml"],
                              ("none.yaml",)),
    "stack-truncated": (["data", "stack", "{w}/trunc", "scene1", "--out", "{w}/new.tif"],
                        ("trunc/images/scene1.tif", "truncated")),
    "stack-truncated-overwrite": (["data", "stack", "{w}/trunc", "scene1", "--out",
                                   "{w}/existing.tif", "--overwrite"], ("scene1.tif",)),
    "stack-dstl-truncated": (["data", "stack", "{w}/dstl", "6010_0_0", "--out", "{w}/d.tif"],
                             ("dstl/sixteen_band/6010_0_0_M.tif", "truncated or corrupt")),
    "stack-exists": (["data", "stack", "{w}/ds", "scene0", "--out", "{w}/existing.tif"],
                     ("--out", "existing.tif", "--overwrite")),
    "stack-unknown-id": (["data", "stack", "{w}/ds", "nosuch", "--out", "{w}/n.tif"],
                         ("nosuch",)),
    "stack-bad-suffix": (["data", "stack", "{w}/ds", "scene0", "--out", "{w}/n.png"],
                         ("--out", "n.png")),
    "stack-bad-index": (["data", "stack", "{w}/ds", "scene0", "--out", "{w}/n.tif",
                         "--indices", "bogus"], ("bogus",)),
    "stack-grid-m-generic": (["data", "stack", "{w}/ds", "scene0", "--out", "{w}/n.tif",
                              "--grid", "m"], ("--grid",)),
    "stack-out-under-file": (["data", "stack", "{w}/ds", "scene0", "--out",
                              "{w}/existing.csv/n.tif"], ("existing.csv",)),
    "synth-zero": (["data", "synth", "{w}/syn", "--scenes", "0"], ("--scenes",)),
    "synth-into-data": (["data", "synth", "{w}/ds", "--size", "32"], ("OUT", "ds", "--overwrite")),
    # --- train
    "train-bad-yaml": (["train", "--config", "{w}/bad.yaml", "--out", "{w}/r"],
                       ("bad.yaml", "line 3")),
    "train-unknown-field": (["train", "--config", "{w}/unknown.yaml", "--out", "{w}/r"],
                            ("learning_rat",)),
    "train-binary-config": (["train", "--config", "{w}/binary.yaml", "--out", "{w}/r"],
                            ("binary.yaml",)),
    "train-missing-config": (["train", "--config", "{w}/none.yaml", "--out", "{w}/r"],
                             ("none.yaml",)),
    "train-set-not-number": (["train", "--set", "training.learning_rate=fast", "--out", "{w}/r"],
                             ("training.learning_rate", "fast")),
    "train-set-no-section": (["train", "--set", "epochs=2", "--out", "{w}/r"], ("--set",)),
    "train-set-unknown": (["train", "--set", "training.bogus=1", "--out", "{w}/r"], ("bogus",)),
    "train-set-bad-yaml": (["train", "--set", "data.classes=[a", "--out", "{w}/r"],
                           ("--set", "data.classes")),
    "train-unknown-class": (["train", "--data", "{w}/ds", "--set", "data.classes=[nope]",
                             "--out", "{w}/r"], ("nope",)),
    "train-truncated": (["train", "--data", "{w}/trunc", "--out", "{w}/r", "--no-progress"],
                        ("trunc/images/scene1.tif",)),
    "train-all-nodata": (["train", "--data", "{w}/nodata", "--out", "{w}/r", "--no-progress"],
                         ("scene1", "no valid pixel")),
    "train-no-out": (["train", "--data", "{w}/ds"], ("--out",)),
    # --- predict
    "predict-out-not-empty": (["predict", "--model", "{w}/run", "--data", "{w}/ds", "--out",
                               "{w}/pred"], ("--out", "pred", "--overwrite")),
    "predict-out-is-file": (["predict", "--model", "{w}/run", "--data", "{w}/ds", "--out",
                             "{w}/existing.csv"], ("existing.csv",)),
    "predict-garbage-model": (["predict", "--model", "{w}/badmodel", "--image", "{w}/three.tif",
                               "--out", "{w}/p1"], ("badmodel/model.keras", "not a readable")),
    "predict-bad-meta": (["predict", "--model", "{w}/badmeta", "--image", "{w}/three.tif",
                          "--out", "{w}/p1"], ("badmeta",)),
    "predict-not-a-run": (["predict", "--model", "{w}/ds", "--image", "{w}/three.tif", "--out",
                           "{w}/p1"], ("ds",)),
    "predict-missing-image": (["predict", "--model", "{w}/run", "--image", "{w}/none.tif",
                               "--out", "{w}/p1"], ("none.tif",)),
    "predict-wrong-bands": (["predict", "--model", "{w}/run", "--image", "{w}/three.tif",
                             "--out", "{w}/p1"], ("three.tif",)),
    "predict-unknown-scene": (["predict", "--model", "{w}/run", "--data", "{w}/ds", "--scenes",
                               "nosuch", "--out", "{w}/p1"], ("nosuch",)),
    "predict-truncated": (["predict", "--model", "{w}/run", "--data", "{w}/trunc", "--scenes",
                           "scene1", "--out", "{w}/p1", "--no-progress"],
                          ("trunc/images/scene1.tif",)),
    "predict-bad-format": (["predict", "--model", "{w}/run", "--data", "{w}/ds", "--out",
                            "{w}/p1", "--format", "jpeg"], ("jpeg",)),
    # --- evaluate
    "evaluate-missing": (["evaluate", "--pred", "{w}/nopred", "--data", "{w}/ds"], ("nopred",)),
    "evaluate-bad-index": (["evaluate", "--pred", "{w}/badpred", "--data", "{w}/ds"],
                           ("badpred",)),
    # --- study
    "study-missing-store": (["study", "list", "--store", "{w}/none.db"], ("none.db",)),
    "study-garbage-store": (["study", "list", "--store", "{w}/garbage.db"], ("garbage.db",)),
    "study-other-app-db": (["study", "list", "--store", "{w}/other.db"], ("other.db",)),
    "study-unknown": (["study", "show", "nosuch", "--store", "{w}/store.db"], ("nosuch",)),
    "study-export-exists": (["study", "export", "s", "--store", "{w}/store.db", "--out",
                             "{w}/existing.csv"], ("existing.csv", "--overwrite")),
    "study-export-suffix": (["study", "export", "s", "--store", "{w}/store.db", "--out",
                             "{w}/x.txt"], ("x.txt",)),
    "study-import-evil": (["study", "import", "x", "--trials", "{w}/evil.pkl", "--store",
                           "{w}/new.db"], ("evil.pkl", "--trust-pickle")),
    "study-import-garbage": (["study", "import", "x", "--trials", "{w}/garbage.pkl", "--store",
                              "{w}/new.db"], ("garbage.pkl",)),
    "study-import-missing": (["study", "import", "x", "--trials", "{w}/none.pkl", "--store",
                              "{w}/new.db"], ("none.pkl",)),
    # --- search (all refused before a study or cluster exists)
    "search-bad-space-yaml": (["search", "--space", "{w}/space-bad.yaml", "--store",
                               "{w}/new.db", "--data", "{w}/ds"], ("space-bad.yaml",)),
    "search-unknown-field": (["search", "--space", "{w}/space-unknown.yaml", "--store",
                              "{w}/new.db", "--data", "{w}/ds"], ("model.dept",)),
    "search-bad-initial-point": (["search", "--space", "{w}/space-badpoint.yaml", "--store",
                                  "{w}/new.db", "--data", "{w}/ds"],
                                 ("initial point 1", "model.depth")),
    "search-bad-val-ids": (["search", "--val-ids", "nosuch", "--store", "{w}/new.db",
                            "--data", "{w}/ds"], ("nosuch",)),
    "search-bad-classes": (["search", "--classes", "nope", "--store", "{w}/new.db",
                            "--data", "{w}/ds"], ("nope",)),
    # --- serve (refused before Panel starts)
    "serve-bad-port": (["serve", "--port", "70000"], ("--port",)),
    "serve-bad-address": (["serve", "--port", "0", "--address", "203.0.113.77"], ("--address",)),
}

# Real subprocesses: the contract must hold with logging, GDAL and TensorFlow writing to stderr.
SUBPROCESS = ("stack-truncated-overwrite", "info-bad-yaml", "study-import-evil",
              "train-bad-yaml", "study-export-exists")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return sweep_world.build(tmp_path_factory.mktemp("world"))


def _argv(case: str, world: Path) -> list[str]:
    return [a.replace("{w}", str(world)) for a in CASES[case][0]]


def check_contract(case: str, world: Path, code: int, err: str, before: dict[str, str]) -> str:
    """The shared assertions; returns the error line."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, f"{case}: traceback\n{err}"
    assert code == 2, f"{case}: exit {code}\n{err}"
    assert len(lines) == 1, f"{case}: {len(lines)} lines on stderr\n{err}"
    line = lines[0]
    assert line.startswith("satseg: error: "), line
    for needle in CASES[case][1]:
        needle = needle.replace("{w}", str(world))
        assert needle in line, f"{case}: {needle!r} not in {line!r}"
    after = sweep_world.checksums(world)
    changed = sorted(k for k in before if after.get(k) != before[k])
    added = sorted(set(after) - set(before))
    assert not changed, f"{case}: changed or removed {changed}"
    assert not added, f"{case}: left behind {added}"
    assert not (world / "PWNED").exists(), f"{case}: pickle code ran"
    return line


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_in_process(case, world, capsys):
    before = sweep_world.checksums(world)
    capsys.readouterr()
    code = main(_argv(case, world))
    _, err = capsys.readouterr()
    check_contract(case, world, code, err, before)


@pytest.mark.parametrize("case", SUBPROCESS)
def test_bad_input_subprocess(case, world):
    before = sweep_world.checksums(world)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "satseg", *_argv(case, world)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=world)
    check_contract(case, world, proc.returncode, proc.stderr, before)
