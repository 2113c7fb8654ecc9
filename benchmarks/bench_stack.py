"""Band stacking at full DSTL size: satseg's registered lazy stack against the naive approach.

Builds one synthetic DSTL scene at full size (RGB 3349 x ~3396, P 1 px smaller, M ~1/4, A ~1/25,
known sub-pixel offsets; ``satseg.datasets.synth``) unless ``--data`` names an existing DSTL
folder, then runs, each in its own subprocess:

- ``satseg``: ``satseg.bands.stack.build_stack`` with registration (phase correlation on P, M, A
  plus least-squares refinement on M and A), materialised chunk by chunk with
  ``dask.array.store`` into one preallocated float32 array (20 x 3349 x 3396), or with
  ``--write`` into a GeoTIFF (band-interleaved, tiled, DEFLATE) instead (``write_stack``);
- ``naive``: read every raster fully, resize each band to the RGB grid
  (``skimage.transform.resize``, bilinear, no registration), stack into one float32 array
  (with ``--write``, then write it with the same GeoTIFF profile).

Peak memory is the process's peak RSS sampled every 5 ms by a thread (psutil; numpy and GDAL
allocate in C, which tracemalloc does not see) and ``getrusage``'s ``ru_maxrss``; the larger
counts. "extra" is the peak minus the RSS after imports. Targets (PASS/FAIL): satseg wall time <= 1.5 x naive; satseg
extra peak memory <= 2 x the size of the output stack. Registration error against the truth
offsets is printed too. Wall times vary with other processes on a shared machine: each side runs
``--repeats`` times and the best is kept.

Usage: ``python benchmarks/bench_stack.py [--size 3349] [--repeats 2] [--write] [--data DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class PeakRSS:
    """Samples this process's RSS in a thread; ``peak`` in bytes."""

    def __init__(self, every: float = 0.005):
        import psutil

        self.proc = psutil.Process()
        self.every = every
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.every)

    def __enter__(self) -> PeakRSS:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def paths_of(root: Path, image_id: str) -> dict[str, Path]:
    return {
        "RGB": root / "three_band" / f"{image_id}.tif",
        "P": root / "sixteen_band" / f"{image_id}_P.tif",
        "M": root / "sixteen_band" / f"{image_id}_M.tif",
        "A": root / "sixteen_band" / f"{image_id}_A.tif",
    }


def run_satseg(root: Path, image_id: str, write: Path | None) -> dict:
    import dask
    import numpy as np

    from satseg.bands.stack import build_stack, write_stack

    dask.config.set(scheduler="threads", num_workers=2)
    t0 = time.perf_counter()
    stack = build_stack(paths_of(root, image_id))
    t_reg = time.perf_counter() - t0
    if write is not None:
        write_stack(stack, write)
        nbytes = int(np.prod(stack.shape)) * 4
    else:
        out = np.empty(stack.shape, np.float32)
        import dask.array as da

        da.store(stack.data, out, lock=False)
        nbytes = out.nbytes
    return {"register_s": t_reg, "nbytes": nbytes, "registration": stack.attrs["registration"]}


def write_plain(arr, path: Path) -> None:
    """The naive side's GeoTIFF: same profile as ``write_stack`` (band-interleaved, DEFLATE)."""
    import rasterio

    prof = dict(driver="GTiff", count=arr.shape[0], height=arr.shape[1], width=arr.shape[2],
                dtype="float32", tiled=True, blockxsize=256, blockysize=256, compress="deflate",
                predictor=3, interleave="band", BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS")  # fmt: skip
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr)


def run_naive(root: Path, image_id: str, write: Path | None = None) -> dict:
    import warnings

    import numpy as np
    import rasterio
    from skimage.transform import resize

    warnings.simplefilter("ignore")
    files = paths_of(root, image_id)
    with rasterio.open(files["RGB"]) as src:
        h, w = src.height, src.width
    out = np.empty((20, h, w), np.float32)
    i = 0
    for g in ("RGB", "P", "M", "A"):
        with rasterio.open(files[g]) as src:
            arr = src.read().astype(np.float32)
        for band in arr:
            out[i] = (
                band
                if band.shape == (h, w)
                else resize(band, (h, w), order=1, preserve_range=True, anti_aliasing=False)
            )
            i += 1
    if write is not None:
        write_plain(out, write)
    return {"nbytes": out.nbytes}


def child(mode: str, root: Path, image_id: str, write: str) -> None:
    import dask  # noqa: F401  (imports before the baseline RSS)
    import numpy as np  # noqa: F401
    import psutil
    import rasterio  # noqa: F401
    import scipy.sparse  # noqa: F401
    import skimage.registration  # noqa: F401
    import skimage.transform  # noqa: F401
    import xarray  # noqa: F401

    base = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    with PeakRSS() as mon:
        if mode == "satseg":
            res = run_satseg(root, image_id, Path(write) if write else None)
        else:
            res = run_naive(root, image_id, Path(write) if write else None)
    res["wall_s"] = time.perf_counter() - t0
    res["cpu_s"] = time.process_time()
    res["peak_rss"] = mon.peak
    res["base_rss"] = base
    res["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("RESULT " + json.dumps(res))


def spawn(mode: str, root: Path, image_id: str, write: str = "") -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    cmd = [sys.executable, __file__, "--child", mode, "--data", str(root), "--id", image_id]
    if write:
        cmd += ["--write-to", write]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{mode} run failed:\n{proc.stdout}\n{proc.stderr}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=3349, help="RGB height in px (3349 = DSTL)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="satseg writes a GeoTIFF instead")
    ap.add_argument("--data", type=Path, default=None, help="an existing DSTL folder")
    ap.add_argument("--id", default=None, help="scene id in --data (default: the first)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--write-to", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.data, args.id, args.write_to)
        return 0

    tmp = tempfile.TemporaryDirectory(prefix="bench_stack_")
    root = args.data
    if root is None:
        from satseg.datasets.synth import write_synthetic_dstl

        root = Path(tmp.name) / "dstl"
        t0 = time.perf_counter()
        write_synthetic_dstl(root, scenes=1, size=args.size, seed=0)
        print(f"synthetic scene of {args.size} px written in {time.perf_counter() - t0:.1f} s")
    image_id = args.id or sorted(p.stem for p in (root / "three_band").glob("*.tif"))[0]
    write = str(Path(tmp.name) / "stack.tif") if args.write else ""

    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for mode in ("naive", "satseg"):
            r = spawn(mode, root, image_id, write)
            if mode not in best or r["wall_s"] < best[mode]["wall_s"]:
                best[mode] = r
    gib = 1024**3
    out_bytes = best["naive"]["nbytes"]
    print(f"scene {image_id} from {root}; output stack {out_bytes / gib:.2f} GiB float32")
    for r in best.values():  # the larger of the sampled peak and getrusage's (conservative)
        r["peak_rss"] = max(r["peak_rss"], r["ru_maxrss"])
    for mode in ("naive", "satseg"):
        r = best[mode]
        extra = r["peak_rss"] - r["base_rss"]
        print(
            f"{mode:7s} wall {r['wall_s']:6.2f} s  cpu {r['cpu_s']:6.2f} s  peak RSS "
            f"{r['peak_rss'] / gib:.2f} GiB (getrusage {r['ru_maxrss'] / gib:.2f})  extra "
            f"{extra / gib:.2f} GiB = {extra / out_bytes:.2f} x stack"
        )
    s = best["satseg"]
    print(f"satseg registration (estimation) {s['register_s']:.2f} s; "
          f"materialised {'to GeoTIFF' if args.write else 'into one float32 array'}")  # fmt: skip
    truth_file = root / "registration_truth.json"
    if truth_file.is_file():
        truth = json.loads(truth_file.read_text())["scenes"][image_id]
        for g in ("P", "M", "A"):
            est, tr = s["registration"][g], truth[g]
            print(
                f"  {g}: found ({est['dy_ref_px']:+.3f}, {est['dx_ref_px']:+.3f}) RGB px, truth "
                f"({tr['dy_ref_px']:+.3f}, {tr['dx_ref_px']:+.3f}); error in {g} px "
                f"({est['dy_px'] - tr['dy_px']:+.3f}, {est['dx_px'] - tr['dx_px']:+.3f})"
            )
    ratio = s["wall_s"] / best["naive"]["wall_s"]
    mem = (s["peak_rss"] - s["base_rss"]) / out_bytes
    ok_t, ok_m = ratio <= 1.5, mem <= 2.0
    print(f"time:   satseg / naive = {ratio:.2f} (target <= 1.5)  {'PASS' if ok_t else 'FAIL'}")
    print(f"memory: satseg extra / stack = {mem:.2f} (target <= 2.0)  {'PASS' if ok_m else 'FAIL'}")
    tmp.cleanup()
    return 0 if ok_t and ok_m else 1


if __name__ == "__main__":
    sys.exit(main())
