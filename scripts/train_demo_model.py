"""Regenerate the demo model shipped in ``satseg/datasets/sample_model/``.

It trains satseg's default U-Net config (``satseg train`` with ``--set`` overrides, no other code
path) on the bundled Dubai sample with a fixed seed and validation split, then copies the files
``satseg.training.load_run`` needs (``meta.json``, ``model.keras``, ``jaccard.json``, the history)
into the package data, so ``pip install satseg`` carries a model the dashboard's Results tab shows
from the first second (``make demo``), beside the live search's quick trials.

::

    .venv/bin/python scripts/train_demo_model.py            # about 10-15 min on 2 CPU cores
    .venv/bin/python scripts/train_demo_model.py --epochs 2 --out /tmp/m   # a quick check

The run folder is kept in ``--work`` (default ``.satseg-demo/demo-model-run``) for its checkpoints.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "satseg" / "datasets" / "sample_model"
KEEP = ("meta.json", "model.keras", "jaccard.json", "history.json", "config.yaml")


def ship(work: Path, out: Path) -> float:
    """Copy the run's inference files from ``work`` to ``out``; the model is saved again without
    its optimizer state (Adam's two moments would triple its size). Returns the size in MB."""
    from satseg.training.run import atomic_save_model, load_keras_model

    out.mkdir(parents=True, exist_ok=True)
    for name in KEEP:
        if name != "model.keras" and (work / name).is_file():
            shutil.copy2(work / name, out / name)
    atomic_save_model(load_keras_model(work / "model.keras", compile=False), out / "model.keras")
    return sum(p.stat().st_size for p in out.iterdir() if p.is_file()) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    parser.add_argument("--steps", type=int, default=100, help="steps per epoch (default 100)")
    parser.add_argument("--minutes", type=float, default=15.0,
                        help="time limit in minutes; the best epoch so far is kept (default 15)")
    parser.add_argument("--work", default=str(ROOT / ".satseg-demo" / "demo-model-run"),
                        help="run folder (replaced)")
    parser.add_argument("--out", default=str(DEST), help="where the model files go (the package data)")
    parser.add_argument("--ship-only", action="store_true",
                        help="do not train: copy the run already in --work to --out")
    args = parser.parse_args(argv)
    if args.ship_only:
        print(f"{args.out} holds {ship(Path(args.work), Path(args.out)):.1f} MB")
        return 0

    from satseg.training import TrainConfig, train

    cfg = TrainConfig.default("default").updated({
        "training.epochs": args.epochs,
        "training.steps_per_epoch": args.steps,
        "training.time_limit_minutes": args.minutes,
        "training.seed": 0,
    })
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    t0, c0 = time.monotonic(), time.process_time()
    result = train(cfg, data="sample", out_dir=work, progress=True)
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    size = ship(work, Path(args.out))
    print(f"validation Jaccard {result.val_jaccard:.4f} after {result.epochs} epochs "
          f"({wall:.0f} s wall, {cpu:.0f} s CPU of this process); {args.out} holds {size:.1f} MB")
    for name, j in result.per_class.items():
        print(f"  {name:<24} {j:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
