"""Where a search trial's time goes: one trial of the default space on the shared Dubai tiles.

    python benchmarks/profile_trial.py [--data ../shared/data/dubai-aerial] [--epochs 4 --steps 40]

Runs (A) a trial as before issue 10 (images decoded and normalised in the trial, per-epoch
validation on the whole validation images), (B) the one-off build of the prepared-data cache,
(C) the same trial reading the memory-mapped cache, validating each epoch on 4 class-covering
256 px crops per validation image and scored from its best epoch there (``data.final_val:
crops``), as the default space now does. Prints one JSON line per run with the seconds per stage (TrainResult.timings + preview)
and the load average; docs/search.md holds the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
POINT = {  # a typical point of satseg/configs/space_default.yaml
    "model": {"input_size": 256, "crop_margin": 16, "depth": 4, "base_filters": 16,
              "filter_growth": 2.0, "convs_per_block": 2, "block": "plain", "activation": "relu",
              "batch_norm": True, "dropout": 0.0, "upsampling": "transpose"},
    "training": {"mode": "auto", "batch_size": 8, "optimizer": "adam", "learning_rate": 2.0e-3,
                 "schedule": "cosine_time", "loss": "bce_jaccard", "seed": 0, "workers": 1},
    "data": {"class_balance": 0.3},
    "augment": {"d4": True, "gain": 0.1, "offset": 0.1},
}  # fmt: skip


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _trial(cfg, ds, val_ids, out: Path) -> dict:
    from satseg.search.preview import write_preview
    from satseg.training import train

    w0, c0 = time.monotonic(), _cpu()
    res = train(cfg, data=ds, out_dir=out, progress=False, val_ids=val_ids)
    t0 = time.monotonic()
    write_preview(out, ds, val_ids[0], out / "preview.png")
    row = dict(res.timings)
    row["preview_s"] = round(time.monotonic() - t0, 3)
    row["wall_s"] = round(time.monotonic() - w0, 3)
    row["cpu_s"] = round(_cpu() - c0, 1)
    steps = row["train_s"] - row.get("first_batch_s", 0.0)
    row["outside_steps_share"] = round(1 - steps / row["wall_s"], 3)
    row["val_jaccard"] = round(res.val_jaccard, 4)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(HERE.parent / "shared" / "data" / "dubai-aerial"))
    ap.add_argument("--manifest", default=str(HERE / "docs" / "examples" / "dubai-aerial.satseg.yaml"))
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--only", default="ABC")
    args = ap.parse_args()

    from satseg.io import open_dataset
    from satseg.search.objective import choose_val_ids
    from satseg.training import TrainConfig
    from satseg.training.prepare import prepare_data

    ds = open_dataset(args.data, manifest=args.manifest)
    t0 = time.monotonic()
    val_ids = choose_val_ids(ds)
    print(json.dumps({"run": "study: choose_val_ids", "s": round(time.monotonic() - t0, 1),
                      "images": len(ds.labelled_ids()), "val": len(val_ids)}), flush=True)
    work = Path(tempfile.mkdtemp(prefix="satseg-profile-"))
    point = json.loads(json.dumps(POINT))
    point["training"].update({"epochs": args.epochs, "steps_per_epoch": args.steps})
    try:
        if "A" in args.only:
            cfg = TrainConfig.from_dict(point)
            row = _trial(cfg, ds, val_ids, work / "a")
            print(json.dumps({"run": "A before", "load": os.getloadavg(), **row}), flush=True)
        cached = json.loads(json.dumps(point))
        cached["data"].update({"cache_dir": str(work / "cache"), "val_crop_size": 256,
                               "val_crops_per_image": 2, "final_val": "crops"})
        cfg = TrainConfig.from_dict(cached)
        if "B" in args.only:
            w, c = time.monotonic(), _cpu()
            prep = prepare_data(cfg, ds, val_ids=val_ids)
            print(json.dumps({"run": "B cache build", "load": os.getloadavg(), **prep.timings,
                              "wall_s": round(time.monotonic() - w, 1),
                              "cpu_s": round(_cpu() - c, 1)}), flush=True)
            del prep
        if "C" in args.only:
            row = _trial(cfg, ds, val_ids, work / "c")
            print(json.dumps({"run": "C after", "load": os.getloadavg(), **row}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
