"""Distributed prediction: one dask worker against two (one thread each), on the same scenes.

Scenes: 8 images of the shared Dubai aerial data (``--data``, read through the example manifest)
or, with ``--synthetic`` (or where the data is absent), 8 synthetic 20-band scenes. Model: an
untrained U-Net saved as a run folder (``--input-size``, ``--filters``; its weights do not change
the cost). For each cluster size the run is shipped to the workers as bytes and loaded once
(TensorFlow import + model load, timed separately as "start"); then the 8 scenes are predicted
with ``satseg.inference.distributed.predict_scenes`` (outputs written by the driver) and timed.

Printed: wall time of each, the speed-up (target >= 1.8x), the peak resident memory of each
worker process (``getrusage``), whether the masks of both runs are byte-identical, and the load
average before and after (a loaded machine lowers the speed-up: both runs are in one process,
one after the other).

Usage: ``python benchmarks/bench_predict.py [--images 8] [--tta 2] [--synthetic]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DUBAI = Path(os.environ.get("SATSEG_SHARED_DATA", REPO.parent / "shared" / "data")) / "dubai-aerial"


def make_run(run_dir: Path, bands: list[str], classes: int, size: int, filters: int) -> None:
    """An untrained U-Net run folder (model.keras + meta.json) on ``bands``."""
    import keras

    from satseg.models import ModelConfig, build_model

    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(bands=len(bands), classes=classes, input_size=size,
                                    crop_margin=8, depth=3, base_filters=filters))  # fmt: skip
    run_dir.mkdir(parents=True)
    model.save(run_dir / "model.keras")
    palette = ["#3c1098", "#8429f6", "#6ec1e4", "#fedd3a", "#e2a929"]
    meta = {
        "bands": bands, "indices": [], "channels": bands, "mean": [100.0] * len(bands),
        "std": [50.0] * len(bands),
        "classes": [{"name": f"class{k}", "colour": palette[k % 5], "code": None}
                    for k in range(classes)],
        "input_size": size, "output_size": size - 16, "margin": 8, "mode": "multiclass",
        "val_ids": [],
    }  # fmt: skip
    (run_dir / "meta.json").write_text(json.dumps(meta))


def synthetic_set(root: Path, n: int, size: int) -> None:
    """``n`` 20-band float32 GeoTIFF scenes ``size`` x ``size`` with a satseg.yaml."""
    import rasterio
    import yaml
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    for i in range(n):
        data = (rng.random((20, size, size), dtype=np.float32) * 200).astype(np.float32)
        with rasterio.open(root / "images" / f"s{i}.tif", "w", driver="GTiff", height=size,
                           width=size, count=20, dtype="float32", crs="EPSG:32640",
                           transform=from_origin(5e5, 2.8e6, 1, 1)) as dst:  # fmt: skip
            dst.write(data)
    doc = {"name": "synthetic", "bands": [{"name": f"b{k}"} for k in range(20)],
           "images": {"pattern": "images/{scene}.tif"}, "classes": [{"name": "x"}]}  # fmt: skip
    (root / "satseg.yaml").write_text(yaml.safe_dump(doc))


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DUBAI))
    p.add_argument("--synthetic", action="store_true", help="8 synthetic 20-band scenes")
    p.add_argument("--synthetic-size", type=int, default=640)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--tta", type=int, default=2)
    p.add_argument("--input-size", type=int, default=96)
    p.add_argument("--filters", type=int, default=8)
    p.add_argument("--workers", default="1,2", help="cluster sizes to compare")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from satseg.inference import distributed as dist
    from satseg.inference.postprocess import PostProcess
    from satseg.io import open_dataset
    from satseg.training import load_run

    tmp = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    if args.synthetic or not Path(args.data).is_dir():
        synthetic_set(tmp / "data", args.images, args.synthetic_size)
        data, manifest = str(tmp / "data"), None
    else:
        data, manifest = args.data, str(REPO / "docs/examples/dubai-aerial.satseg.yaml")
    ds = open_dataset(data, manifest=manifest)
    ids = ds.ids()[: args.images]
    stacks = {i: ds.load_image(i) for i in ids}
    bands = [str(b) for b in next(iter(stacks.values())).coords["band"].values]
    make_run(tmp / "run", bands, max(1, len(ds.classes)), args.input_size, args.filters)
    run = load_run(tmp / "run")
    pp = PostProcess.load(run.run_dir, run.class_names)
    settings = dist.Settings(formats=("tif",), postprocess=pp, tta=args.tta)
    source = dist.Source(data=data, manifest=manifest)
    px = sum(int(s.sizes["y"]) * int(s.sizes["x"]) for s in stacks.values())
    print(f"{len(ids)} scenes of {ds.name} ({px / 1e6:.1f} Mpx, {len(bands)} bands), U-Net "
          f"input {args.input_size}, tta {args.tta}; CPUs {os.cpu_count()}, load {load()}")  # fmt: skip
    results: dict[int, dict[str, Any]] = {}
    for n in (int(v) for v in args.workers.split(",")):
        out = tmp / f"out{n}"
        out.mkdir()
        t0 = time.perf_counter()
        client, cluster = dist.start_client(None, n)
        try:
            digest = dist.ship_run(client, run.run_dir)
            start_rss = dist.warm(client, digest)
            t1 = time.perf_counter()
            outcome = dist.predict_scenes(client, run, source, stacks, out, settings,
                                          progress=False, digest=digest)  # fmt: skip
            t2 = time.perf_counter()
            peaks = dist.worker_peaks(client)
        finally:
            dist.close_client(client, cluster)
        assert not outcome.failed, outcome.summary()
        masks = {p.name: p.read_bytes() for p in sorted(out.glob("*_mask.tif"))}
        loaded = ", ".join(f"{v:.0f}" for v in start_rss.values())
        per: dict[str, list[float]] = {}
        for t in outcome.tasks:
            per.setdefault(t["worker"], [0, 0.0, 0.0])
            per[t["worker"]][0] += 1
            per[t["worker"]][1] += t["cpu_s"]
            per[t["worker"]][2] += t["wall_s"]
        cpu = sum(v[1] for v in per.values())
        results_cpu = "tasks/CPU s/busy s per worker: " + "; ".join(
            f"{int(v[0])}/{v[1]:.1f}/{v[2]:.1f}" for v in per.values())
        results[n] = {"wall": t2 - t1, "start": t1 - t0, "peaks": peaks, "masks": masks,
                      "cpu": cpu}
        print(f"  {n} worker(s): {t2 - t1:.1f} s for {len(ids)} scenes (start {t1 - t0:.1f} s); "
              f"peak RSS per worker {', '.join(f'{v:.0f}' for v in peaks.values())} MB "
              f"(after loading the model: {loaded} MB); load {load()}\n    {results_cpu}; "
              f"CPU / wall {cpu / (t2 - t1):.2f}")  # fmt: skip
    if len(results) >= 2:
        a, b = sorted(results)[:2]
        speed = results[a]["wall"] / results[b]["wall"]
        same = results[a]["masks"] == results[b]["masks"]
        print(f"  speed-up {a} -> {b} workers: {speed:.2f}x   "
              f"{'PASS' if speed >= 1.8 * (b / a) / 2 else 'FAIL'} (target >= 1.8x)")  # fmt: skip
        print(f"  masks byte-identical: {same}   {'PASS' if same else 'FAIL'}")
        ca, cb = results[a]["cpu"], results[b]["cpu"]
        print(f"  task CPU seconds {a} -> {b} workers: {ca:.1f} -> {cb:.1f} s (the same work; a "
              f"speed-up below {b / a:.0f}x with equal CPU means the workers got less of the "
              "machine: other processes' load)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
