"""Predicting and evaluating many scenes on a dask cluster (``satseg predict --parallel N`` or
``--scheduler ADDR``; the same for ``satseg evaluate``).

- **The model travels as bytes.** The run folder's files (model(s), ``meta.json``,
  ``config.yaml``, ``postprocess.json``; not checkpoints or histories) are registered with the
  scheduler as a worker plugin (:class:`RunBundle`): every worker, including one that joins or is
  restarted later, writes them into its own local directory and loads the run once. Workers share
  no disk with the driver; they need only the data, at the path the driver names.
- **Tasks.** One task per scene; a scene larger than ``strip_rows`` rows is cut into strips of
  rows, each predicted by :func:`~satseg.inference.blend.blend_predict` with ``rows=(r0, r1)`` on
  the whole scene's window grid, so a strip equals the same rows of a whole-scene run bit for bit
  (no seams, no halo to tune: the windows touching the strip read their context from the scene).
  A worker holds one scene, or one strip plus a window of context, at a time
  (``threads_per_worker=1``); ``--worker-memory`` bounds each worker process (dask's nanny
  restarts one that exceeds it and the task goes elsewhere).
- **Outputs are written by the driver**, each file atomically, as soon as its scene finishes:
  a whole-scene task returns its finished files' bytes; the strips of a scene return probability
  rows, which the driver turns into the same outputs as a single-process run (thresholds,
  morphology, polygons on the whole mask). A finished scene is on disk before the next result is
  handled, so a later failure loses nothing.
- **Failures.** Each task is retried once (``retries=1``; a killed worker's tasks are rescheduled
  by dask). A scene that still fails is reported with its error and the others carry on.

This module is the driver's side; what runs in the workers is in :mod:`satseg.inference.tasks`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from satseg.errors import ConfigError
from satseg.inference.tasks import (
    RunBundle,
    Settings,
    Source,
    _load_on_worker,
    count_task,
    image_stack,
    peak_rss_mb,
    run_bundle,
    scene_task,
    strip_task,
)

log = logging.getLogger("satseg.inference.distributed")

WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "TF_CPP_MIN_LOG_LEVEL": "2"}  # fmt: skip


# ---------------------------------------------------------------------------------------- cluster
def start_client(
    scheduler: str | None, parallel: int | None, worker_memory: str | None = None
) -> tuple[Any, Any]:
    """``(client, cluster)``: a running scheduler by address, or a LocalCluster of ``parallel``
    single-threaded worker processes (BLAS/TensorFlow pools of one thread, ``worker_memory`` each,
    default: the machine's memory split evenly). ``cluster`` is None for a remote scheduler."""
    if scheduler:
        from satseg.search.cluster import connect

        return connect(scheduler)
    if not parallel or parallel < 1:
        raise ConfigError(f"--parallel must be >= 1, got {parallel}")
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=parallel, threads_per_worker=1, processes=True, dashboard_address=None,
        memory_limit=worker_memory or "auto", silence_logs=logging.ERROR, env=dict(WORKER_ENV),
    )  # fmt: skip
    return Client(cluster), cluster


def close_client(client: Any, cluster: Any) -> None:
    """Close the client and, when this process started it, the local cluster."""
    try:
        client.close()
    finally:
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------------------------- model
def ship_run(client: Any, run_dir: str | Path) -> str:
    """Register the run folder's files with the cluster (every present and future worker gets
    them); returns the bundle digest that tasks name."""
    plugin = RunBundle(run_bundle(run_dir))
    client.register_plugin(plugin, name=f"satseg-run-{plugin.digest}")
    return plugin.digest


def warm(client: Any, digest: str) -> dict[str, float]:
    """Load the shipped run on every worker now (TensorFlow import + model load, otherwise paid
    by each worker's first task); ``{worker: peak RSS MB}``."""
    return dict(client.run(_load_on_worker, digest))


def worker_peaks(client: Any) -> dict[str, float]:
    """``{worker address: peak resident memory (MB)}`` of every worker process."""
    return dict(client.run(peak_rss_mb))


def strips(height: int, strip_rows: int | None) -> list[tuple[int, int] | None]:
    """Row ranges of one scene: ``[None]`` (whole) when it has at most ``strip_rows`` rows."""
    if not strip_rows or height <= strip_rows:
        return [None]
    n = -(-height // strip_rows)
    edges = [round(i * height / n) for i in range(n + 1)]  # even strips
    return [(edges[i], edges[i + 1]) for i in range(n)]


# ---------------------------------------------------------------------------------------- driver
@dataclass
class Outcome:
    """Per scene: the written files, or the error that stopped it; per worker: peak memory."""

    done: dict[str, dict[str, Path]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    wkts: dict[str, dict[int, str]] = field(default_factory=dict)
    rss_mb: list[float] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)  # worker, cpu_s, wall_s per task

    def summary(self) -> str:
        """One line naming the failed scenes."""
        names = ", ".join(sorted(self.failed))
        first = next(iter(self.failed.values()), "")
        return (f"{len(self.failed)} of {len(self.failed) + len(self.done)} scene(s) failed "
                f"after one retry: {names} (first error: {first})")  # fmt: skip


def _error_text(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300]


def predict_scenes(
    client: Any,
    run: Any,
    source: Source,
    scenes: dict[str, Any],
    out: Path,
    settings: Settings,
    *,
    grids: dict[str, Any] | None = None,
    strip_rows: int | None = None,
    progress: bool = True,
    on_done: Callable[[str, dict[str, Path]], None] | None = None,
    digest: str | None = None,
) -> Outcome:
    """Predict ``scenes`` (``{image id: lazy stack on the driver}``, for sizes and georeference)
    on the cluster of ``client`` and write every output into ``out`` as it finishes.

    The run is shipped unless ``digest`` names one already shipped (:func:`ship_run`). Tasks are
    submitted largest scene first (dask starts them roughly in that order), so that a big scene
    does not start last and leave the other workers idle.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    from satseg.io.outputs import atomic_write_bytes

    digest = digest or ship_run(client, run.run_dir)
    futures: dict[Any, tuple[str, Any]] = {}
    parts: dict[str, dict[Any, Any]] = {}
    tasks = [(image_id, rows, int(stack.sizes["x"]) * ((rows[1] - rows[0]) if rows else
                                                       int(stack.sizes["y"])))
             for image_id, stack in scenes.items()
             for rows in strips(int(stack.sizes["y"]), strip_rows)]  # fmt: skip
    for image_id, rows, _ in sorted(tasks, key=lambda t: -t[2]):
        if rows is None:
            f = client.submit(scene_task, digest, source, image_id, settings,
                              (grids or {}).get(image_id), retries=1, pure=False)  # fmt: skip
        else:
            f = client.submit(strip_task, digest, source, image_id, settings, rows, retries=1,
                              pure=False)  # fmt: skip
        futures[f] = (image_id, rows)
        parts.setdefault(image_id, {})[rows] = None
    outcome = Outcome()
    bar = tqdm(total=len(scenes), disable=not progress, unit="scene", desc="predict")
    try:
        for fut in as_completed(list(futures)):
            image_id, rows = futures.pop(fut)
            if image_id in outcome.failed:
                continue
            try:
                res = fut.result()
            except Exception as exc:  # the task failed twice, or its workers kept dying
                outcome.failed[image_id] = _error_text(exc)
                log.warning("scene %s failed: %s", image_id, outcome.failed[image_id])
                for other, (oid, _) in list(futures.items()):
                    if oid == image_id:
                        other.cancel()
                        futures.pop(other)
                bar.update(1)
                continue
            outcome.rss_mb.append(float(res["rss_mb"]))
            outcome.tasks.append({k: res[k] for k in ("worker", "cpu_s", "wall_s")})
            if rows is None:
                paths = {kind: atomic_write_bytes(out / name, data, overwrite=True)
                         for kind, (name, data) in res["files"].items()}  # fmt: skip
                if res["wkts"] is not None:
                    outcome.wkts[image_id] = res["wkts"]
            else:
                parts[image_id][rows] = res["probs"]
                if any(v is None for v in parts[image_id].values()):
                    continue
                try:
                    paths = _assemble(run, scenes[image_id], out, image_id, settings,
                                      parts.pop(image_id), grids, outcome.wkts)  # fmt: skip
                except Exception as exc:
                    outcome.failed[image_id] = _error_text(exc)
                    bar.update(1)
                    continue
            outcome.done[image_id] = paths
            if on_done is not None:
                on_done(image_id, paths)
            bar.update(1)
    finally:
        bar.close()
        for f in futures:  # interrupted: nothing keeps running on the cluster
            f.cancel()
    return outcome


def _assemble(
    run: Any,
    stack: Any,
    out: Path,
    image_id: str,
    settings: Settings,
    parts: dict[Any, np.ndarray],
    grids: dict[str, Any] | None,
    wkts: dict[str, dict[int, str]],
) -> dict[str, Path]:
    """Driver: a scene's outputs from its probability strips, as a single-process run makes them."""
    from satseg.inference.predict import predict_to_files

    ordered = sorted(parts.items(), key=lambda kv: kv[0][0])

    def rows_source(sink: Callable[[int, np.ndarray], None]) -> None:
        for (r0, _), probs in ordered:
            sink(r0, probs)

    submission: dict[str, dict[int, str]] = {}
    paths = predict_to_files(
        run, stack, out, image_id, formats=settings.formats, postprocess=settings.postprocess,
        simplify=settings.simplify, dstl_grid=(grids or {}).get(image_id), submission=submission,
        rows_source=rows_source, **settings.blend_kwargs(),
    )  # fmt: skip
    if str(image_id) in submission:
        wkts[image_id] = submission[str(image_id)]
    return paths


def count_scenes(
    client: Any,
    source: Source,
    masks: dict[str, Path],
    class_idx: Sequence[int],
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Confusion counts of each mask file (``{image id: path}``) against its labels on the
    cluster: ``({image id: int64 (classes, 3)}, {image id: error})``. The driver reads the masks
    and ships their bytes, so workers need only the labelled data."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    futures = {
        client.submit(count_task, Path(p).read_bytes(), source, i, list(class_idx), retries=1,
                      pure=False): i
        for i, p in masks.items()
    }  # fmt: skip
    counts: dict[str, np.ndarray] = {}
    failed: dict[str, str] = {}
    with tqdm(total=len(futures), disable=not progress, unit="scene", desc="evaluate") as bar:
        for fut in as_completed(list(futures)):
            image_id = futures[fut]
            try:
                counts[image_id] = np.asarray(fut.result()["counts"], np.int64)
            except Exception as exc:
                failed[image_id] = _error_text(exc)
            bar.update(1)
    return {i: counts[i] for i in masks if i in counts}, failed


def default_strip_rows(width: int, channels: int, budget_mb: float = 256.0) -> int:
    """Rows per strip so that one strip of float32 input stays within ``budget_mb``."""
    return max(256, int(budget_mb * 2**20 / max(1, width * channels * 4)))


__all__ = [
    "Outcome", "RunBundle", "Settings", "Source", "close_client", "count_scenes",
    "default_strip_rows", "image_stack", "predict_scenes", "run_bundle", "ship_run",
    "peak_rss_mb", "start_client", "strips", "warm", "worker_peaks",
]  # fmt: skip
