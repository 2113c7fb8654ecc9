"""``satseg auto`` against one default ``satseg train`` and a pixel-wise gradient-boosting baseline.

On the shared Dubai tiles, two whole tiles (default tile_7 and tile_2) are held out for scoring:
the search and every training here run with them excluded (``--exclude-ids``). In one run on
one machine:

(a) the default training config (what ``satseg train`` does; bundled default, 5 x 100 steps);
(b) ``satseg auto --budget B`` (default 30m) as a subprocess, exactly as a user runs it;
(c) the pixel-wise HistGradientBoosting baseline of benchmarks/bench_quality.py (its own function).

(a) and (b) are scored the same way: ``predict_image`` on the whole held-out images with the
dihedral view counts of ``--tta`` (default ``1``, one view; ``satseg predict`` uses 8, which
costs about 25 minutes per run on the 18 held-out images on 2 cores), then the run's post-processing (``postprocess.json`` when the run has
one, else thresholds 0.5; a softmax run's arg-max class per pixel, as ``satseg predict``), exact Jaccard with TP/FP/FN summed over every held-out pixel. Prints
per-class and mean Jaccard and the CPU-minutes of each (the process's and its children's user +
system time). Targets at 30 minutes: (b) >= 0.75 and (b) - (a) >= 0.08.

``--synthetic`` runs (b) alone end to end on a synthetic DSTL-layout scene set
(satseg.datasets.synth) with spectral indices in the search space.

Usage::

    python benchmarks/bench_auto.py --budget 30m          # the real comparison (~50 min)
    python benchmarks/bench_auto.py --budget 30m --search-shares 0.55,0.35   # two (b) runs
    python benchmarks/bench_auto.py --budget 6m --skip-default --skip-baseline
    python benchmarks/bench_auto.py --synthetic --budget 4m
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dubai-aerial"
MANIFEST = REPO / "docs" / "examples" / "dubai-aerial.satseg.yaml"
log = logging.getLogger("bench")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def manifest_with_root(data: Path, out: Path) -> Path:
    """The documented Dubai manifest with ``root:`` set, so one file names the data set."""
    import yaml

    doc = yaml.safe_load(MANIFEST.read_text())
    doc["root"] = str(data.resolve())
    path = out / "dubai.satseg.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def score_run(run_dir: Path, ds, test_ids, tta: int = 1) -> np.ndarray:
    """Summed confusion counts (K, 3) of a run on whole held-out images, post-processed, each
    image predicted with ``tta`` dihedral views (``satseg predict`` uses 8 by default)."""
    from satseg.evaluation import confusion_counts
    from satseg.inference.postprocess import PostProcess, apply_postprocess
    from satseg.inference.predict import predict_image
    from satseg.training import load_run

    run = load_run(run_dir)
    names = list(run.class_names)
    pp = PostProcess.load(run_dir, names)
    counts = np.zeros((len(names), 3), np.int64)
    for i in test_ids:
        probs = np.asarray(predict_image(run, ds.load_image(i), tta=tta).values)
        lab = ds.load_labels(i)
        masks = apply_postprocess(probs, pp, exclusive=getattr(run, "mode", None) == "softmax")
        counts += confusion_counts(masks, lab.masks, lab.ignore)
    return counts


def score_views(run_dir: Path, ds, test_ids, ttas: list[int], names) -> dict[int, object]:
    """Jaccard reports of ``run_dir`` on the held-out images at each view count of ``ttas``;
    logs the seconds each scoring took."""
    from satseg.evaluation import jaccard_from_counts

    reps: dict[int, object] = {}
    for tta in ttas:
        t0 = time.monotonic()
        reps[tta] = jaccard_from_counts(score_run(run_dir, ds, test_ids, tta), names)
        log.info("scored %s with tta %d in %.0f s", run_dir.name, tta, time.monotonic() - t0)
    return reps


def run_default(data: Path, test_ids, out: Path) -> tuple[Path, float, float]:
    """(a): the bundled default config, as `satseg train` trains it (held-out images out)."""
    from satseg.search.objective import open_search_data
    from satseg.training import train

    t0, c0 = time.monotonic(), cpu_seconds()
    train(None, data=open_search_data(str(data), test_ids), out_dir=out, progress=False)
    return out, time.monotonic() - t0, cpu_seconds() - c0


def run_auto_cli(data: Path, test_ids, budget: str, out: Path, extra=()) -> tuple[Path, float,
                                                                                 float]:
    """(b): `satseg auto` in a subprocess (what a user runs)."""
    cmd = [sys.executable, "-m", "satseg", "auto", "--data", str(data), "--budget", budget,
           "--out", str(out), "--no-progress", *extra]
    if test_ids:
        cmd += ["--exclude-ids", ",".join(test_ids)]
    t0, c0 = time.monotonic(), cpu_seconds()
    log.info("running: %s", " ".join(cmd))
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-5000:], sep="\n")
        raise SystemExit(f"satseg auto failed with code {proc.returncode}")
    return out, time.monotonic() - t0, cpu_seconds() - c0


def synthetic(args: argparse.Namespace, out: Path) -> int:
    """(b) end to end on a synthetic DSTL-layout scene set, indices in the space."""
    import yaml

    from satseg.datasets.synth import write_synthetic_dstl

    data = write_synthetic_dstl(out / "dstl", scenes=4, size=240, seed=args.seed)
    space = yaml.safe_load((REPO / "satseg" / "configs" / "space_quick.yaml").read_text())
    space["params"]["data.indices"] = {"type": "choice", "options": [[], ["ndvi"],
                                                                     ["ndvi", "ndwi"]]}
    space_file = out / "space.yaml"
    space_file.write_text(yaml.safe_dump(space, sort_keys=False))
    run, wall, cpu = run_auto_cli(data, (), args.budget, out / "auto",
                                  ["--space", str(space_file)])
    import json

    rep = json.loads((run / "report.json").read_text())
    print(f"synthetic DSTL ({data}): satseg auto --budget {args.budget}: wall {wall / 60:.1f} "
          f"min, CPU {cpu / 60:.1f} min; validation Jaccard {rep['val_jaccard']:.4f}; indices "
          f"chosen: {[ln for ln in rep['config'].splitlines() if 'indices' in ln]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--budget", default="30m", help="satseg auto --budget (30m)")
    ap.add_argument("--test-tiles", default="tile_7,tile_2", help="held-out tiles")
    ap.add_argument("--pixels", type=int, default=300_000, help="baseline training pixels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: temporary)")
    ap.add_argument("--skip-default", action="store_true", help="no (a)")
    ap.add_argument("--skip-baseline", action="store_true", help="no (c)")
    ap.add_argument("--synthetic", action="store_true", help="(b) on a synthetic DSTL set")
    ap.add_argument("--search-shares", default="0.55", help="satseg auto --search-share of "
                    "each (b) run, comma-separated (0.55)")
    ap.add_argument("--tta", default="1", help="dihedral views to score (a) and (b) with, "
                    "comma-separated (1; each view costs about 3 min per run on 2 cores)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-auto-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()}")
    if args.synthetic:
        return synthetic(args, out)
    if not args.data.is_dir():
        print(f"SKIP: Dubai data not found at {args.data}")
        return 0
    from benchmarks.bench_quality import open_dubai, run_baseline, tile_of
    from satseg.evaluation import jaccard_from_counts

    manifest = manifest_with_root(args.data, out)
    ds = open_dubai(args.data)
    names = list(ds.class_names)
    tiles = set(args.test_tiles.split(","))
    test_ids = [i for i in ds.labelled_ids() if tile_of(i) in tiles]
    train_ids = [i for i in ds.labelled_ids() if i not in set(test_ids)]
    print(f"{len(train_ids)} images for training and search, {len(test_ids)} held out "
          f"({sorted(tiles)})")
    ttas = [int(t) for t in args.tta.split(",")]
    # rows: method -> ({tta: JaccardReport}, wall s, CPU s)
    rows: dict[str, tuple[dict[int, object], float, float]] = {}
    if not args.skip_default:
        run, wall, cpu = run_default(manifest, test_ids, out / "default")
        rows["(a) satseg train"] = (score_views(run, ds, test_ids, ttas, names), wall, cpu)
    shares = [float(x) for x in args.search_shares.split(",")]
    import json

    for share in shares:
        label = f"(b) auto {args.budget} share {share:g}"
        run, wall, cpu = run_auto_cli(manifest, test_ids, args.budget, out / f"auto-{share:g}",
                                      ["--search-share", str(share)])
        rows[label] = (score_views(run, ds, test_ids, ttas, names), wall, cpu)
        rep = json.loads((run / "report.json").read_text())
        print(f"{label} stages (s): {rep['seconds']}; search: {rep['search']}; final fit: "
              f"trial {rep['trial_id']}, {rep['epochs']} epoch(s) on {rep.get('fit_on')} images")
    if not args.skip_baseline:
        t0, c0 = time.monotonic(), cpu_seconds()
        counts, *_ = run_baseline(ds, train_ids, test_ids, args.pixels, args.seed)
        rows["(c) gradient boosting"] = ({0: jaccard_from_counts(counts, names)},
                                         time.monotonic() - t0, cpu_seconds() - c0)
    print(f"\nheld-out tiles {sorted(tiles)}, exact Jaccard; load average after: "
          f"{os.getloadavg()}")
    print(f"{'method':<30}{'tta':>4}" + "".join(f"{c[:10]:>11}" for c in names)
          + f"{'mean':>9}{'wall min':>10}{'CPU min':>9}")
    for name, (reps, wall, cpu) in rows.items():
        for tta, rep in reps.items():
            print(f"{name:<30}{tta or '-':>4}"
                  + "".join(f"{rep.per_class[c]:>11.4f}" for c in names)  # type: ignore[attr-defined]
                  + f"{rep.mean:>9.4f}{wall / 60:>10.1f}{cpu / 60:>9.1f}")  # type: ignore[attr-defined]
    ok = True
    for name, (reps, _, _) in rows.items():
        if not name.startswith("(b)"):
            continue
        for tta, rep in reps.items():
            b = rep.mean  # type: ignore[attr-defined]
            passed = b >= 0.75
            line = f"{name}, tta {tta}: mean Jaccard {b:.4f} (target >= 0.75 at 30m)"
            if "(a) satseg train" in rows:
                a = rows["(a) satseg train"][0][tta].mean  # type: ignore[attr-defined]
                passed = passed and b - a >= 0.08
                line += f"; (b) - (a) = {b - a:+.4f} (target >= 0.08)"
            ok = ok and passed
            print(f"{'PASS' if passed else 'FAIL'}: {line}")
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
