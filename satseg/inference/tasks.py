"""The worker side of satseg.inference.distributed: the shipped run, the data, the tasks.

Everything here runs in dask worker processes (and is imported there by reference when a task is
unpickled): :class:`RunBundle` writes the run's files into the worker's local directory,
:func:`worker_run` loads the run once per process, :class:`Source` opens the data set once per
process, and the three tasks predict a scene, predict a strip of rows, or count TP/FP/FN.
"""

from __future__ import annotations

import hashlib
import resource
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from satseg.errors import BandMismatchError

# Files of a run folder a worker needs to predict; checkpoints and histories stay behind.
RUN_FILES = ("meta.json", "config.yaml", "postprocess.json", "model.keras")
_RUNS: dict[str, Any] = {}  # loaded runs by bundle digest
_DATASETS: dict[tuple[str, str | None], Any] = {}  # opened data sets


def run_bundle(run_dir: str | Path) -> dict[str, bytes]:
    """The files of a run folder a worker needs, ``{relative path: bytes}``."""
    root = Path(run_dir)
    files = {name: (root / name).read_bytes() for name in RUN_FILES if (root / name).is_file()}
    for p in sorted((root / "models").glob("*.keras")):  # one-vs-all runs
        files[f"models/{p.name}"] = p.read_bytes()
    return files


def bundle_digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()[:16]


def _plugin_base() -> type:
    from distributed.diagnostics.plugin import WorkerPlugin

    return WorkerPlugin


class RunBundle(_plugin_base()):  # type: ignore[misc]
    """Worker plugin: writes a run folder's files into each worker's local directory."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.digest = bundle_digest(files)

    def setup(self, worker: Any) -> None:
        root = Path(worker.local_directory) / "satseg-runs" / self.digest
        for name, data in self.files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def worker_run(digest: str) -> Any:
    """The run of bundle ``digest`` on this worker, loaded once per worker process."""
    if digest not in _RUNS:
        from distributed import get_worker

        from satseg.training import load_run

        _RUNS[digest] = load_run(Path(get_worker().local_directory) / "satseg-runs" / digest)
    return _RUNS[digest]


def _load_on_worker(digest: str, dask_worker: Any = None) -> float:
    if digest not in _RUNS:
        from satseg.training import load_run

        root = Path(dask_worker.local_directory) / "satseg-runs" / digest
        _RUNS[digest] = load_run(root)
    return peak_rss_mb()


def _stats(t0: tuple[float, float]) -> dict[str, Any]:
    """What a task reports besides its result: worker, CPU and wall seconds, peak memory."""
    import time

    from distributed import get_worker

    return {"worker": get_worker().address, "cpu_s": time.process_time() - t0[0],
            "wall_s": time.perf_counter() - t0[1], "rss_mb": peak_rss_mb()}  # fmt: skip


def _start() -> tuple[float, float]:
    import time

    return time.process_time(), time.perf_counter()


def _local_dask(fn: Any) -> Any:
    """Run a task with dask's synchronous scheduler for the lazy image reads inside it.

    In a worker process dask's default scheduler is the cluster itself: reading a lazy stack would
    submit its chunks as new tasks to other workers and wait for them, so one scene would spread
    over (and stall) the whole cluster. A task reads its own scene in its own thread."""
    import functools

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        import dask

        with dask.config.set(scheduler="synchronous"):
            return fn(*args, **kwargs)

    return run


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class Source:
    """Where a worker reads scenes: a data set (path + optional manifest) or one image file."""

    data: str | None = None
    manifest: str | None = None
    image: str | None = None

    def dataset(self) -> Any:
        key = (str(self.data), self.manifest)
        if key not in _DATASETS:
            from satseg.io import open_dataset

            _DATASETS[key] = open_dataset(str(self.data), manifest=self.manifest)
        return _DATASETS[key]

    def stack(self, image_id: str, run: Any) -> Any:
        if self.image is not None:
            return image_stack(self.image, run)
        return self.dataset().load_image(image_id)


def image_stack(path: str, run: Any) -> Any:
    """A single raster as a stack named with the run's bands (matched by count)."""
    from satseg.io.raster import load_raster

    stack = load_raster(path)
    names = [str(b) for b in stack.coords["band"].values] if "band" in stack.coords else []
    if set(run.band_names) <= set(names):
        return stack
    if stack.sizes["band"] != len(run.band_names):
        raise BandMismatchError(
            f"{path} has {stack.sizes['band']} band(s); model {run.run_dir} needs "
            f"{len(run.band_names)} ({list(run.band_names)}), in that order"
        )
    return stack.assign_coords(band=list(run.band_names))


@dataclass(frozen=True)
class Settings:
    """Everything about a prediction except the model and the scene."""

    formats: tuple[str, ...] = ("tif", "geojson")
    postprocess: Any = None
    subdivisions: int = 2
    tta: int = 8
    batch: int = 16
    combine: str = "arithmetic"
    simplify: float = 0.0

    def blend_kwargs(self) -> dict[str, Any]:
        return dict(subdivisions=self.subdivisions, tta=self.tta, batch=self.batch,
                    combine=self.combine)  # fmt: skip


@_local_dask
def scene_task(
    digest: str, source: Source, image_id: str, settings: Settings, grid: Any = None
) -> dict[str, Any]:
    """Worker: predict one whole scene; ``{"files": {kind: (name, bytes)}, "wkts", "rss_mb"}``."""
    from satseg.inference.predict import predict_to_files

    t0 = _start()
    run = worker_run(digest)
    stack = source.stack(image_id, run)
    submission: dict[str, dict[int, str]] = {}
    with tempfile.TemporaryDirectory(prefix="satseg-scene-") as tmp:
        paths = predict_to_files(
            run, stack, tmp, image_id, formats=settings.formats, postprocess=settings.postprocess,
            simplify=settings.simplify, dstl_grid=grid, submission=submission,
            **settings.blend_kwargs(),
        )  # fmt: skip
        files = {k: (p.name, p.read_bytes()) for k, p in paths.items()}
    return {"files": files, "wkts": submission.get(str(image_id)), **_stats(t0)}


@_local_dask
def strip_task(
    digest: str, source: Source, image_id: str, settings: Settings, rows: tuple[int, int]
) -> dict[str, Any]:
    """Worker: probability rows ``rows`` of a scene, float32 ``(r1 - r0, W, classes)``."""
    from satseg.inference.blend import blend_predict
    from satseg.inference.predict import _model_fn, check_bands, stack_source

    t0 = _start()
    run = worker_run(digest)
    stack = source.stack(image_id, run)
    check_bands(run, stack, f"image {image_id!r}")
    probs = blend_predict(
        _model_fn(run, settings.batch), stack_source(run, stack), window=run.input_size,
        out_window=run.output_size, rows=rows, **settings.blend_kwargs(),
    )  # fmt: skip
    return {"probs": probs, **_stats(t0)}


@_local_dask
def count_task(
    mask_bytes: bytes, source: Source, image_id: str, class_idx: Sequence[int]
) -> dict[str, Any]:
    """Worker: TP/FP/FN counts ``(classes, 3)`` of a mask GeoTIFF's bytes against the labels."""
    from rasterio.io import MemoryFile

    from satseg.errors import DataError
    from satseg.evaluation import confusion_counts

    with MemoryFile(mask_bytes) as mem, mem.open() as src:
        mask = src.read()
    labels = source.dataset().load_labels(image_id)
    true = labels.masks[list(class_idx)]
    if mask.shape != true.shape:
        raise DataError(f"prediction of {image_id!r} is {mask.shape}, labels are {true.shape}")
    return {"counts": confusion_counts(mask > 0, true, labels.ignore), "rss_mb": peak_rss_mb()}
