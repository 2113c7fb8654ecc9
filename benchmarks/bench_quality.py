"""Quality on real data: the default U-Net against a pixel-wise gradient-boosting baseline.

On the Dubai aerial data (real, CC0), whole tiles are held out (default tile_7 and tile_2) and
never seen by either method; one more tile (default tile_3) is the U-Net's validation set for
model selection. Both methods are scored with the same exact Jaccard (TP/FP/FN summed over every
held-out pixel, ``satseg.evaluation``).

- U-Net: ``satseg.training.train`` with the bundled default config, ``--minutes`` of training
  (``training.time_limit_minutes``; the cosine schedule follows the clock), then non-overlapping
  tiled prediction of the whole held-out images, threshold 0.5 per class.
- Baseline: scikit-learn ``HistGradientBoostingClassifier`` (one multi-class model, argmax) on
  per-pixel bands, spectral indices where the bands allow, and local means and standard deviations
  (box filters of 5, 15 and 45 px), trained on ``--pixels`` pixels sampled from the training tiles.

Usage: ``python benchmarks/bench_quality.py --minutes 12`` (prints a table and PASS/FAIL:
the U-Net must beat the baseline on mean Jaccard).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dubai-aerial"
log = logging.getLogger("bench")


def open_dubai(path: Path):
    """The Dubai data through satseg's generic reader with the documented manifest
    (docs/examples/dubai-aerial.satseg.yaml), else the tests' direct reader."""
    from satseg.io import open_dataset

    manifest = REPO / "docs" / "examples" / "dubai-aerial.satseg.yaml"
    try:
        if manifest.is_file():
            return open_dataset(path, manifest=manifest)
        return open_dataset(path)
    except Exception as exc:  # no manifest for this folder
        log.info("open_dataset(%s) failed (%s); reading directly", path, exc)
        from tests.data.dubai_direct import DubaiDirect

        ids = [
            f"{t.name}/{p.stem}"
            for t in sorted(path.glob("tile_*"))
            for p in sorted((t / "images").glob("*.jpg"))
        ]
        return DubaiDirect(path, ids, crop=None)


class Subset:
    """A SegDataset restricted to some ids (delegates everything else)."""

    def __init__(self, ds, ids):
        self._ds, self._ids = ds, sorted(ids)

    def __getattr__(self, name):
        return getattr(self._ds, name)

    def ids(self):
        return list(self._ids)

    def labelled_ids(self):
        return list(self._ids)


def tile_of(image_id: str) -> str:
    from satseg.data import group_of

    return group_of(image_id)


def features(image: np.ndarray) -> np.ndarray:
    """Per-pixel features (H, W, F): bands, indices, box means/stds at 3 scales."""
    from scipy.ndimage import uniform_filter

    chans = [image[..., c] for c in range(image.shape[2])]
    r, g, b = chans[:3] if len(chans) >= 3 else (chans[0],) * 3
    feats = list(chans)
    # RGB-only indices: excess green (Woebbecke 1995) and the visible atmospherically resistant
    # index VARI = (G - R) / (G + R - B) (Gitelson 2002)
    feats.append(2 * g - r - b)
    feats.append((g - r) / np.maximum(np.abs(g + r - b), 1.0))
    for size in (5, 15, 45):
        for c in chans:
            m = uniform_filter(c, size, mode="reflect")
            m2 = uniform_filter(c * c, size, mode="reflect")
            feats.append(m)
            feats.append(np.sqrt(np.maximum(m2 - m * m, 0.0)))
    return np.stack(feats, -1).astype(np.float32)


def run_baseline(ds, train_ids, test_ids, n_pixels: int, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    from satseg.evaluation import confusion_counts

    rng = np.random.default_rng(seed)
    k = len(ds.classes)
    per_image = max(1, n_pixels // len(train_ids))
    xs, ys = [], []
    t0 = time.monotonic()
    for i in train_ids:
        img = np.moveaxis(ds.load_image(i).values, 0, -1).astype(np.float32)
        lab = ds.load_labels(i)
        f = features(img).reshape(-1, features_dim(img))
        cls = np.argmax(lab.masks, axis=0).ravel()
        ok = np.flatnonzero(~lab.ignore.ravel() & lab.masks.any(axis=0).ravel())
        pick = rng.choice(ok, size=min(per_image, ok.size), replace=False)
        xs.append(f[pick])
        ys.append(cls[pick])
    x, y = np.concatenate(xs), np.concatenate(ys)
    log.info(
        "baseline: %d training pixels sampled in %.0f s; fitting", len(x), time.monotonic() - t0
    )
    clf = HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.15,
        max_leaf_nodes=63,
        early_stopping=True,
        n_iter_no_change=8,
        random_state=seed,
    )
    clf.fit(x, y)
    fit_s = time.monotonic() - t0
    log.info("baseline: fitted in %.0f s (%d iterations); predicting", fit_s, clf.n_iter_)
    counts = np.zeros((k, 3), np.int64)
    t1 = time.monotonic()
    for i in test_ids:
        img = np.moveaxis(ds.load_image(i).values, 0, -1).astype(np.float32)
        lab = ds.load_labels(i)
        f = features(img).reshape(-1, features_dim(img))
        pred = np.concatenate([clf.predict(f[s : s + 500_000]) for s in range(0, len(f), 500_000)])
        onehot = np.zeros((k, pred.size), np.uint8)
        onehot[pred, np.arange(pred.size)] = 1
        onehot = onehot.reshape((k,) + lab.ignore.shape)
        counts += confusion_counts(onehot, lab.masks, lab.ignore)
    return counts, fit_s, time.monotonic() - t1, len(x)


def features_dim(img: np.ndarray) -> int:
    c = img.shape[2]
    return c + 2 + 3 * 2 * c


def run_unet(ds, train_ids, sel_ids, test_ids, minutes: float, seed: int, out: Path, over=None):
    from satseg.evaluation import confusion_counts
    from satseg.training import TrainConfig, load_run, train
    from satseg.training.validate import predict_tiles

    cfg = TrainConfig.default().updated(
        {
            "training.epochs": 1000,
            "training.time_limit_minutes": minutes,
            "training.seed": seed,
            "data.val_crop_size": 384,
            "data.val_crops_per_image": 2,
            **(over or {}),
        }
    )
    t0 = time.monotonic()
    result = train(
        cfg,
        data=Subset(ds, list(train_ids) + list(sel_ids)),
        out_dir=out,
        progress=False,
        val_ids=list(sel_ids),
    )
    train_s = time.monotonic() - t0
    run = load_run(out)
    fn = run._fns[0]
    counts = np.zeros((len(run.classes), 3), np.int64)
    t1 = time.monotonic()
    for i in test_ids:
        x = run.prepare(ds.load_image(i))
        probs = predict_tiles(fn, x, run.input_size, run.output_size, batch_size=16)
        lab = ds.load_labels(i)
        counts += confusion_counts(np.moveaxis(probs, -1, 0), lab.masks, lab.ignore, threshold=0.5)
    return counts, train_s, time.monotonic() - t1, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--minutes", type=float, default=12.0, help="U-Net training budget")
    ap.add_argument("--test-tiles", default="tile_7,tile_2")
    ap.add_argument("--select-tiles", default="tile_3", help="U-Net model-selection tiles")
    ap.add_argument("--pixels", type=int, default=300_000, help="baseline training pixels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="run folder (default: temporary)")
    ap.add_argument("--skip-unet", action="store_true")
    ap.add_argument("--skip-baseline", action="store_true", help="U-Net only (no comparison)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override a field of the default config (YAML value), repeatable",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not args.data.is_dir():
        print(f"SKIP: Dubai data not found at {args.data}")
        return 0
    from satseg.evaluation import jaccard_from_counts

    ds = open_dubai(args.data)
    test_t, sel_t = set(args.test_tiles.split(",")), set(args.select_tiles.split(","))
    ids = ds.labelled_ids()
    test_ids = [i for i in ids if tile_of(i) in test_t]
    sel_ids = [i for i in ids if tile_of(i) in sel_t]
    train_ids = [i for i in ids if i not in set(test_ids) | set(sel_ids)]
    names = list(ds.class_names)
    print(
        f"train {len(train_ids)} images, selection {len(sel_ids)} ({sorted(sel_t)}), "
        f"test {len(test_ids)} ({sorted(test_t)})"
    )

    # the baseline trains on train + selection tiles (it has no model selection to do)
    base = None
    if not args.skip_baseline:
        b_counts, b_fit, b_pred, n = run_baseline(
            ds, train_ids + sel_ids, test_ids, args.pixels, args.seed
        )
        base = jaccard_from_counts(b_counts, names)
        print(
            f"baseline: HistGradientBoosting on {n} pixels, {features_dim(np.zeros((1, 1, 3)))} "
            f"features; fit {b_fit:.0f} s, predict {b_pred:.0f} s"
        )
        print(f"baseline mean Jaccard on held-out tiles: {base.mean:.4f}", flush=True)
    if args.skip_unet:
        print(base.table() if base is not None else "nothing to do")
        return 0
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-quality-"))
    u_counts, u_train, u_pred, res = run_unet(
        ds,
        train_ids,
        sel_ids,
        test_ids,
        args.minutes,
        args.seed,
        out,
        {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)},
    )
    unet = jaccard_from_counts(u_counts, names)
    print(
        f"U-Net: {res.epochs} epochs in {u_train:.0f} s (run {out}), predict {u_pred:.0f} s, "
        f"selection-tile Jaccard {res.val_jaccard:.4f}"
    )
    if base is None:
        print(unet.table())
        return 0
    print(f"\n{'class':<14} {'U-Net':>8} {'baseline':>9}")
    for c in names:
        print(f"{c:<14} {unet.per_class[c]:>8.4f} {base.per_class[c]:>9.4f}")
    print(f"{'mean':<14} {unet.mean:>8.4f} {base.mean:>9.4f}")
    ok = unet.mean > base.mean
    print(
        f"{'PASS' if ok else 'FAIL'}: U-Net mean Jaccard {unet.mean:.4f} vs baseline "
        f"{base.mean:.4f} on held-out tiles {sorted(test_t)}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
