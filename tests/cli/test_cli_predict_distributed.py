"""``satseg predict``/``evaluate`` on a real local dask cluster (no mocks): results identical to
one process, strips of a scene identical to the whole scene, a killed worker loses nothing, a
scene that fails twice is reported while the others finish; every raster output is a valid COG."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from satseg.cli import main
from tests.inference.conftest import make_run
from tests.io.makers import code_dataset

pytestmark = pytest.mark.slow  # each command starts worker processes that import TensorFlow

BANDS = ("blue", "green", "red", "nir")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """A labelled 6-scene data set (48 x 48, 4 bands) and an untrained run on its bands/classes."""
    root = tmp_path_factory.mktemp("data")
    code_dataset(root / "set", n=6, size=48, bands=4)
    run = make_run(root / "run", bands=BANDS, input_size=32, margin=4)
    meta = json.loads((run.run_dir / "meta.json").read_text())
    meta["classes"][0]["name"], meta["classes"][1]["name"] = "building", "water"
    meta["mean"], meta["std"] = [1000.0] * 4, [500.0] * 4
    (run.run_dir / "meta.json").write_text(json.dumps(meta))
    return root / "set", run.run_dir


def predict(data, run_dir, out, *extra):
    return main(["predict", "--model", str(run_dir), "--data", str(data), "--out", str(out),
                 "--tta", "2", "--no-progress", "--format", "tif,geojson", *extra])  # fmt: skip


def rasters(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.tif"))}


def assert_cogs(out: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    files = sorted(out.glob("*.tif"))
    assert files
    for p in files:
        valid, errors, _ = cog_validate(str(p), quiet=True)
        assert valid, (p, errors)


def test_parallel_runs_and_strips_give_byte_identical_outputs(scenes, tmp_path, capsys):
    data, run_dir = scenes
    assert predict(data, run_dir, tmp_path / "one", "--parallel", "1") == 0
    assert predict(data, run_dir, tmp_path / "two", "--parallel", "2") == 0
    # every scene cut into 3 strips of 16 rows, each a separate task
    assert predict(data, run_dir, tmp_path / "strips", "--parallel", "2", "--strip-rows", "16") == 0
    one, two, cut = (rasters(tmp_path / d) for d in ("one", "two", "strips"))
    assert len(one) == 12 and one == two and one == cut  # masks and probabilities, byte for byte
    for d in ("one", "two", "strips"):
        assert_cogs(tmp_path / d)
        index = json.loads((tmp_path / d / "predictions.json").read_text())
        assert len(index["images"]) == 6 and "failed" not in index
    doc = json.loads((tmp_path / "two" / "scene0.geojson").read_text())
    assert doc["crs"]["properties"]["name"] == "EPSG:32640"
    # the single-process run writes the same masks (TensorFlow CPU kernels are deterministic)
    assert predict(data, run_dir, tmp_path / "local") == 0
    local = rasters(tmp_path / "local")
    masks = [n for n in one if n.endswith("_mask.tif")]
    assert {n: local[n] for n in masks} == {n: one[n] for n in masks}
    # evaluate on the cluster: the same summed counts as in one process
    capsys.readouterr()
    assert main(["evaluate", "--pred", str(tmp_path / "two"), "--data", str(data), "--json",
                 "--per-image"]) == 0  # fmt: skip
    single = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--pred", str(tmp_path / "two"), "--data", str(data), "--json",
                 "--per-image", "--parallel", "2", "--no-progress"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out) == single


def test_a_killed_worker_loses_no_finished_scene(scenes, tmp_path):
    from satseg.inference import distributed as dist
    from satseg.inference.predict import check_bands
    from satseg.io import open_dataset
    from satseg.training import load_run

    data, run_dir = scenes
    run = load_run(run_dir)
    ds = open_dataset(data)
    stacks = {i: ds.load_image(i) for i in ds.ids()}
    for i, s in stacks.items():
        check_bands(run, s, i)
    out = tmp_path / "out"
    out.mkdir()
    client, cluster = dist.start_client(None, 2)
    killed: list[int] = []
    first: dict[str, bytes] = {}

    def on_done(image_id, paths):
        if killed:
            return
        first.update({p.name: p.read_bytes() for p in paths.values()})
        busy = [w for w, keys in client.processing().items() if keys]
        if busy:  # kill a worker in the middle of a scene
            pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    try:
        settings = dist.Settings(tta=2)
        outcome = dist.predict_scenes(client, run, dist.Source(data=str(data)), stacks, out,
                                      settings, progress=False, on_done=on_done)  # fmt: skip
    finally:
        dist.close_client(client, cluster)
    assert killed, "no worker was busy after the first scene"
    assert not outcome.failed and sorted(outcome.done) == sorted(stacks)
    assert {n: (out / n).read_bytes() for n in first} == first  # the first scene kept as written
    assert len(list(out.glob("*_mask.tif"))) == 6
    assert_cogs(out)


def test_a_failing_scene_is_retried_then_reported_and_the_others_are_kept(scenes, tmp_path,
                                                                          capsys):  # fmt: skip
    data, run_dir = scenes
    broken = tmp_path / "set"
    shutil.copytree(data, broken)
    # the header (and so the band check on the driver) is fine, the pixels are gone
    img = broken / "images" / "scene3.tif"
    img.write_bytes(img.read_bytes()[:600])
    out = tmp_path / "out"
    assert predict(broken, run_dir, out, "--parallel", "2") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: 1 of 6 scene(s) failed after one retry: scene3 (")
    index = json.loads((out / "predictions.json").read_text())
    assert sorted(index["images"]) == ["scene0", "scene1", "scene2", "scene4", "scene5"]
    assert list(index["failed"]) == ["scene3"]
    assert len(list(out.glob("*_mask.tif"))) == 5 and not list(out.glob(".*"))


def test_cli_refuses_bad_distribution_options(scenes, tmp_path, capsys):
    data, run_dir = scenes
    assert predict(data, run_dir, tmp_path / "a", "--parallel", "0") == 2
    assert "--parallel must be >= 1" in capsys.readouterr().err
    assert predict(data, run_dir, tmp_path / "b", "--strip-rows", "8") == 2
    assert "go with --parallel" in capsys.readouterr().err
    assert np.all([not (tmp_path / d / "predictions.json").exists() for d in "ab"])
