"""Smooth blending: satseg's streaming ``blend_predict`` against the published 2017 algorithm.

The reference below is written from the description in docs DOMAIN.md section 6 (not copied):
reflect-pad the image by ``round(window * (1 - 1/subdivisions))``, hold the 8 dihedral views of the
padded image, cut every window of a view into one patch stack, call the model once per view on the
whole stack, multiply by the squared-spline window (float64), add the patches into a float64
canvas, divide by ``subdivisions**2``, undo the views and average them. One fault is NOT
reproduced: its x/y loop swap (which breaks non-square images); the edge fade and the memory
behaviour are kept.

Each implementation runs in its own subprocess (peak RSS from ``getrusage``; "extra" is the peak
minus the RSS once the input image exists) with one BLAS/TF thread pool per process
(``OPENBLAS_NUM_THREADS=1``; two-thread BLAS on a shared 2-core machine spends more time spinning
than computing). Checks, printed as PASS/FAIL:

1. cheap model (a fixed 1x1 convolution, numpy ``tensordot``, 20 -> 10 channels): outputs agree in
   the interior (max |diff| <= 1e-5), and satseg equals the exact per-pixel output everywhere
   (borders included) where the reference fades;
2. peak memory: satseg <= 1/10 of the reference;
3. wall time: satseg <= 1/8 of the reference with the cheap model;
4. default U-Net (B1's default ModelConfig, 20 bands, random weights, window 160): blending overhead
   (all but the time inside model calls) <= 10% of satseg's total, on a crop (``--unet-size``);
   the reference is timed on the same crop for information.

If the reference's extrapolated peak at the requested size exceeds ``--ref-limit-gb``, the
comparison runs on the largest of 1/2 and 1/4 of the area that fits (printed), and satseg alone
also runs at the full size.

Wall times on a shared machine vary with the load of other processes: each implementation runs
``--repeats`` times (default 2) and the best run is kept; process CPU time is printed beside it.

Usage: ``python benchmarks/bench_blend.py [--size 2000x3000x20] [--unet-size 480x640] [--repeats 2]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WINDOW, SUBDIV, VIEWS, CLASSES = 160, 2, 8, 10


# ---------------------------------------------------------------- the 2017 reference (rewritten)
def ref_spline_window(size: int) -> np.ndarray:
    r = 1.0 - np.abs(2.0 * (np.arange(size) + 0.5) / size - 1.0)  # scipy.signal.windows.triang
    outer = (2 * r) ** 2 / 2
    outer[size // 4 : -(size // 4)] = 0
    inner = 1 - (2 * (r - 1)) ** 2 / 2
    inner[: size // 4] = 0
    inner[-(size // 4) :] = 0
    w = outer + inner
    w = w / np.average(w)
    w = w[:, None, None]
    return w * w.transpose(1, 0, 2)  # (size, size, 1) float64


def ref_predict(img: np.ndarray, window: int, subdivisions: int, n_out: int, fn) -> np.ndarray:
    aug = int(round(window * (1 - 1.0 / subdivisions)))
    padded = np.pad(img, ((aug, aug), (aug, aug), (0, 0)), mode="reflect")
    views = []
    for m in (False, True):
        base = np.array(padded)[:, ::-1] if m else np.array(padded)
        views += [np.array(np.rot90(base, k, axes=(0, 1))) for k in range(4)]
    del padded
    spline = ref_spline_window(window)
    step = int(window / subdivisions)
    results = []
    for v in views:
        xs_ = range(0, v.shape[0] - window + 1, step)
        ys_ = range(0, v.shape[1] - window + 1, step)  # fixed: the original used shape[0] here
        patches = np.array([[v[i : i + window, j : j + window] for j in ys_] for i in xs_])
        a, b = patches.shape[:2]
        preds = fn(patches.reshape(a * b, window, window, v.shape[2]))
        del patches
        gc.collect()
        preds = np.array([p * spline for p in preds]).reshape(a, b, window, window, n_out)
        canvas = np.zeros((v.shape[0], v.shape[1], n_out))
        for ia, i in enumerate(xs_):
            for jb, j in enumerate(ys_):
                canvas[i : i + window, j : j + window] += preds[ia, jb]
        del preds
        results.append(canvas / subdivisions**2)
    undone = []
    for n, r in enumerate(results):
        r = np.rot90(r, -(n % 4), axes=(0, 1))
        undone.append(np.array(r[:, ::-1] if n >= 4 else r))
    out = np.mean(undone, axis=0)
    return out[aug:-aug, aug:-aug][: img.shape[0], : img.shape[1]]


# ---------------------------------------------------------------- models and inputs
def make_image(h: int, w: int, c: int) -> np.ndarray:
    return np.random.default_rng(0).random((h, w, c), dtype=np.float32)


def linear_weights(c: int) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((c, CLASSES)).astype(np.float32)


def linear_fn(c: int):
    wm = linear_weights(c)
    return lambda x: np.tensordot(np.asarray(x, np.float32), wm, axes=1)


def unet_fn(c: int):
    from satseg.models import ModelConfig, build_model
    from satseg.training.run import predict_fn

    model = build_model(ModelConfig(bands=c, input_size=WINDOW))
    return predict_fn(model)


# ---------------------------------------------------------------- one measured run (subprocess)
def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(args: argparse.Namespace) -> None:
    h, w, c = args.shape
    fn = linear_fn(c) if args.model == "linear" else unet_fn(c)
    img = make_image(h, w, c)
    if args.model == "unet":  # trace the model outside the timing
        fn(img[None, :WINDOW, :WINDOW]).shape  # noqa: B018
        fn(img[None, :WINDOW, :WINDOW].repeat(2, 0))
    model_time = [0.0]

    def timed(x):
        t = time.perf_counter()
        y = np.asarray(fn(x))
        model_time[0] += time.perf_counter() - t
        return y

    base = rss_mb()
    best = None
    for _ in range(args.repeats):
        model_time[0] = 0.0
        c0, t0 = time.process_time(), time.perf_counter()
        if args.worker == "ref":
            out = ref_predict(img, WINDOW, SUBDIV, CLASSES if args.model == "linear" else 1, timed)
        else:
            from satseg.inference import blend_predict

            out = blend_predict(timed, img, window=WINDOW, subdivisions=SUBDIV, tta=VIEWS, batch=16)
        run = (time.perf_counter() - t0, time.process_time() - c0, model_time[0])
        best = run if best is None or run[0] < best[0] else best
        if _ < args.repeats - 1:
            del out
            gc.collect()
    wall, cpu, model_t = best  # type: ignore[misc]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(args.out, np.asarray(out, np.float32))
    print(
        json.dumps({"wall": wall, "cpu": cpu, "model": model_t, "peak_mb": peak, "base_mb": base})
    )


def run_worker(
    impl: str, shape: tuple[int, int, int], model: str, out: Path, repeats: int = 1
) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, __file__, "--worker", impl, "--model", model, "--out", str(out),
           "--size", "x".join(map(str, shape)), "--repeats", str(repeats)]  # fmt: skip
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{impl} worker failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def parse_size(s: str) -> tuple[int, ...]:
    return tuple(int(v) for v in s.lower().split("x"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="2000x3000x20", help="H x W x C of the cheap-model test")
    p.add_argument("--unet-size", default="480x640", help="H x W crop for the U-Net test")
    p.add_argument("--ref-limit-gb", type=float, default=10.0)
    p.add_argument("--skip-unet", action="store_true", help="cheap model only (no TensorFlow)")
    p.add_argument(
        "--repeats", type=int, default=2, help="timed runs per implementation (best kept)"
    )
    p.add_argument("--worker", choices=("ref", "satseg"), help=argparse.SUPPRESS)
    p.add_argument("--model", default="linear", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.shape = parse_size(args.size)
    if args.worker:
        worker(args)
        return 0

    h, w, c = args.shape
    tmp = Path(tempfile.mkdtemp(prefix="bench_blend_"))
    # size the reference: measure it at a quarter of the area, extrapolate linearly in area
    q = (h // 2, w // 2, c)
    probe = run_worker("ref", q, "linear", tmp / "probe.npy", args.repeats)
    est_gb = (probe["base_mb"] + 4 * (probe["peak_mb"] - probe["base_mb"])) / 1024
    print(f"reference probe at {q}: peak {probe['peak_mb']:.0f} MB, {probe['wall']:.1f} s; "
          f"estimated peak at {args.shape}: {est_gb:.1f} GB")  # fmt: skip
    shape = args.shape
    if est_gb > args.ref_limit_gb:
        half = (int(h / 2**0.5), int(w / 2**0.5), c)
        est_half = (probe["base_mb"] + 2 * (probe["peak_mb"] - probe["base_mb"])) / 1024
        shape = half if est_half <= args.ref_limit_gb else q
        print(
            f"  > {args.ref_limit_gb} GB: comparing at {shape} instead (satseg also at full size)"
        )
    results = {}
    for impl in ("ref", "satseg"):
        if impl == "ref" and shape == q:
            results[impl] = probe
            os.replace(tmp / "probe.npy", tmp / "ref.npy")
            continue
        results[impl] = run_worker(impl, shape, "linear", tmp / f"{impl}.npy", args.repeats)
    (tmp / "probe.npy").unlink(missing_ok=True)
    ref, sat = np.load(tmp / "ref.npy"), np.load(tmp / "satseg.npy")
    img = make_image(*shape)
    exact = np.tensordot(img, linear_weights(shape[2]), axes=1)
    del img
    b = WINDOW
    inner = (slice(b, -b), slice(b, -b))
    d_inner = float(np.abs(sat[inner] - ref[inner]).max())
    err_sat = float(np.abs(sat - exact).max())
    border = np.ones(exact.shape[:2], bool)
    border[inner] = False
    err_ref_border = float(np.abs(ref - exact)[border].max())
    err_sat_border = float(np.abs(sat - exact)[border].max())
    print(f"\ncheap model (1x1 conv {shape[2]}->{CLASSES}), image {shape}, window {WINDOW}, "
          f"subdivisions {SUBDIV}, {VIEWS} views")  # fmt: skip
    print(f"  interior (>{b} px from the border): max |satseg - ref| = {d_inner:.2e}   "
          f"{verdict(d_inner <= 1e-5)}")  # fmt: skip
    print(f"  border: max |ref - exact| = {err_ref_border:.3e} (its edge fade); "
          f"max |satseg - exact| = {err_sat_border:.2e}; everywhere {err_sat:.2e}   "
          f"{verdict(err_sat <= 1e-5)}")  # fmt: skip
    r, s = results["ref"], results["satseg"]
    print(f"  peak RSS: ref {r['peak_mb']:.0f} MB (extra {r['peak_mb'] - r['base_mb']:.0f}), "
          f"satseg {s['peak_mb']:.0f} MB (extra {s['peak_mb'] - s['base_mb']:.0f}); ratio "
          f"{s['peak_mb'] / r['peak_mb']:.3f}   {verdict(s['peak_mb'] <= r['peak_mb'] / 10)}")  # fmt: skip
    print(f"  wall (best of {args.repeats}): ref {r['wall']:.1f} s (model {r['model']:.1f} s, CPU "
          f"{r['cpu']:.1f} s), satseg {s['wall']:.2f} s (model {s['model']:.2f} s, CPU "
          f"{s['cpu']:.2f} s); ratio {s['wall'] / r['wall']:.3f}   "
          f"{verdict(s['wall'] <= r['wall'] / 8)}")  # fmt: skip
    del ref, sat, exact
    if shape != args.shape:
        full = run_worker("satseg", args.shape, "linear", tmp / "full.npy")
        print(f"  satseg alone at {args.shape}: {full['wall']:.2f} s, peak {full['peak_mb']:.0f} MB"
              f" (input image {h * w * c * 4 / 2**20:.0f} MB, output {h * w * CLASSES * 4 / 2**20:.0f}"
              f" MB)")  # fmt: skip

    if args.skip_unet:
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    uh, uw = parse_size(args.unet_size)
    ushape = (uh, uw, c)
    print(
        f"\ndefault U-Net (ModelConfig(bands={c}, input_size={WINDOW}), random weights), crop {ushape}"
    )
    us = run_worker("satseg", ushape, "unet", tmp / "u_sat.npy")
    ur = run_worker("ref", ushape, "unet", tmp / "u_ref.npy")
    over = (us["wall"] - us["model"]) / us["wall"]
    e = min(b, uh // 4, uw // 4)
    d = float(np.abs(np.load(tmp / "u_sat.npy") - np.load(tmp / "u_ref.npy"))[e:-e, e:-e].max())
    print(f"  satseg {us['wall']:.1f} s (model {us['model']:.1f} s, overhead {over:.1%})   "
          f"{verdict(over <= 0.10)}")  # fmt: skip
    print(
        f"  ref    {ur['wall']:.1f} s (model {ur['model']:.1f} s), peak RSS ref "
        f"{ur['peak_mb']:.0f} MB vs satseg {us['peak_mb']:.0f} MB; max |diff| >{e} px from the border {d:.1e}\n  (the U-Net is not equivariant and the reference anchors the window grid of each rotated view\n  at the far side of the padded image, so the outputs differ; not a target)"
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
