"""Training throughput: satseg's input pipeline against pre-augmented in-memory arrays.

The default model (bundled default config) is trained twice in the same process, in alternating
timed rounds after a warm-up (tracing) round each:

- pipeline: ``PatchStream.dataset()`` (sampling, class balancing, D4, gain/offset, ``tf.data``
  parallel map + prefetch), exactly what ``satseg train`` feeds;
- arrays: the same number of batches built beforehand and fed from memory
  (``tf.data.Dataset.from_tensor_slices``).

Throughput is input pixels per second (batch x input_size^2 per step), best of the rounds, and
input pixels per CPU-second of this process (all threads). Target: the pipeline costs no more than
10% of the in-memory throughput (PASS/FAIL). The verdict uses the per-CPU-second ratio: on a
shared machine wall-clock rounds swing by 2x with other people's jobs (load average printed),
while the CPU time this process spends per pixel is what the pipeline adds; with every core busy
training, CPU cost equals throughput cost. Also printed: the model's training
FLOP/s (analytic: 2 k^2 C_in C_out per output pixel of every convolution, transposed convolutions
counted per input pixel; training ~ 3x forward) next to a float32 matrix-multiply FLOP/s of this
machine (``tf.matmul`` 2048 x 2048).

Usage: ``python benchmarks/bench_train.py [--steps 20] [--rounds 4] [--data sample|PATH]``
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _layers(layer):
    subs = getattr(layer, "_layers", None) or getattr(layer, "layers", None) or []
    if not subs:
        yield layer
    for s in subs:
        yield from _layers(s)


def conv_flops_from_run(model, x) -> int:
    """Count conv FLOPs by tracing shapes: works for nested block layers too."""
    import keras
    import tensorflow as tf

    shapes: dict[int, tuple] = {}
    kinds = (keras.layers.Conv2D, keras.layers.Conv2DTranspose)
    convs = [la for la in _layers(model) if isinstance(la, kinds)]
    originals = {}
    for la in convs:
        originals[id(la)] = la.call

        def wrapped(inputs, _la=la, _orig=la.call):
            out = _orig(inputs)
            shapes[id(_la)] = (tuple(inputs.shape), tuple(out.shape))
            return out

        la.call = wrapped
    tf.function(lambda t: model(t, training=False))(x[:1])
    for la in convs:
        la.call = originals[id(la)]
    total = 0
    for la in convs:
        if id(la) not in shapes:
            continue
        (_, hi, wi, cin), (_, ho, wo, cout) = shapes[id(la)]
        k = la.kernel_size[0] * la.kernel_size[1]
        if isinstance(la, keras.layers.Conv2DTranspose):
            total += 2 * hi * wi * k * cin * cout
        else:
            total += 2 * ho * wo * k * cin * cout
    return int(total)


def matmul_flops(n: int = 2048, reps: int = 10) -> float:
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    f(a, b).numpy()
    t0 = time.perf_counter()
    for _ in range(reps):
        f(a, b).numpy()
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def timed_fit(model, dataset, steps: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of ``steps`` training steps."""
    w0, c0 = time.perf_counter(), time.process_time()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    return time.perf_counter() - w0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="sample")
    ap.add_argument("--steps", type=int, default=20, help="steps per timed round")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--config", default="default")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import tensorflow as tf

    from benchmarks.bench_quality import DEFAULT_DATA, open_dubai
    from satseg.data import PatchSampler, PatchStream
    from satseg.training import TrainConfig
    from satseg.training.prepare import prepare_data
    from satseg.training.unit import build_compiled

    cfg = (
        TrainConfig.default(args.config)
        if args.config in ("default", "full")
        else TrainConfig.from_yaml(args.config)
    )
    try:
        from satseg.io import open_dataset

        ds = open_dataset(args.data)
    except Exception as exc:
        print(f"data {args.data!r} not available ({exc}); using the Dubai tiles directly")
        ds = open_dubai(DEFAULT_DATA)
    prep = prepare_data(cfg, ds)
    p = cfg.training
    mcfg = cfg.model_config(len(prep.channel_names), len(prep.classes))
    sampler = PatchSampler(prep.train, mcfg.input_size, cfg.data.class_balance)
    stream = PatchStream(
        sampler, cfg.augment, batch_size=p.batch_size, margin=mcfg.crop_margin, seed=p.seed
    )
    n = args.steps
    t0 = time.perf_counter()
    xs, ys = stream.materialise(n)
    build_s = time.perf_counter() - t0
    arrays = tf.data.Dataset.from_tensor_slices((xs, ys)).batch(p.batch_size).repeat().prefetch(2)
    pipeline = stream.dataset(parallel=p.workers)
    model = build_compiled(cfg, mcfg, None)
    px_per_step = p.batch_size * mcfg.input_size**2
    print(
        f"model: {mcfg.depth} levels, {mcfg.base_filters} base filters, input "
        f"{mcfg.input_size} px, batch {p.batch_size}, {model.count_params():,} parameters; "
        f"data: {len(prep.train)} training images ({prep.nbytes / 2**20:.0f} MB in memory)"
    )
    print(f"building {n} batches in numpy alone: {build_s / n * 1000:.1f} ms per batch")
    timed_fit(model, arrays, 3)  # trace + warm up
    timed_fit(model, pipeline, 3)
    wall: dict[str, list[float]] = {"pipeline": [], "arrays": []}
    cpu: dict[str, list[float]] = {"pipeline": [], "arrays": []}
    order = (("arrays", arrays), ("pipeline", pipeline))
    for r in range(args.rounds):
        for name, dset in order if r % 2 == 0 else order[::-1]:
            dt, ct = timed_fit(model, dset, n)
            wall[name].append(n * px_per_step / dt)
            cpu[name].append(n * px_per_step / ct)
            print(
                f"round {r + 1} {name:<9} {n * px_per_step / dt / 1e6:7.3f} Mpx/s wall, "
                f"{n * px_per_step / ct / 1e6:7.3f} Mpx per CPU-second"
            )
    best = {k: max(v) for k, v in wall.items()}
    ratio = best["pipeline"] / best["arrays"]
    cpu_best = {k: max(v) for k, v in cpu.items()}
    cpu_ratio = cpu_best["pipeline"] / cpu_best["arrays"]
    fwd = conv_flops_from_run(model, xs)
    train_flops = 3 * fwd * best["pipeline"] / mcfg.input_size**2  # samples/s x FLOP/sample
    mm = matmul_flops()
    load = os.getloadavg()[0]
    print(
        f"\nthroughput (best of {args.rounds}): pipeline {best['pipeline'] / 1e6:.3f} Mpx/s, "
        f"in-memory arrays {best['arrays'] / 1e6:.3f} Mpx/s, wall ratio {ratio:.3f} "
        f"(load average {load:.1f} on {os.cpu_count()} cores)"
    )
    print(
        f"per CPU-second: pipeline {cpu_best['pipeline'] / 1e6:.3f} Mpx, arrays "
        f"{cpu_best['arrays'] / 1e6:.3f} Mpx, ratio {cpu_ratio:.3f}"
    )
    print(
        f"model: {fwd / 1e9:.3f} GFLOP per {mcfg.input_size} px forward pass; training "
        f"{train_flops / 1e9:.1f} GFLOP/s vs float32 matmul {mm / 1e9:.1f} GFLOP/s "
        f"({100 * train_flops / mm:.0f}% of matmul)"
    )
    # On a shared machine wall-clock rounds are dominated by other processes; the CPU time this
    # process spends per pixel is what the pipeline adds, so it decides (with all cores busy
    # training, CPU cost = throughput cost). Both are printed.
    ok = cpu_ratio >= 0.9
    print(
        f"{'PASS' if ok else 'FAIL'}: the input pipeline costs {100 * (1 - cpu_ratio):.1f}% of "
        f"throughput per CPU-second ({100 * (1 - ratio):.1f}% wall-clock); target <= 10%"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
