"""``satseg predict``: masks, probabilities and polygons for scenes or images with a trained run.

Examples::

    satseg predict --model runs/a --data sample --scenes tile_1/image_part_001 --out pred/
    satseg predict --model runs/a --image scene.tif --out pred/ --tta 4 --format tif,geojson,wkt
    satseg predict --model runs/a --data sample --tune        # tune postprocess.json on val ids

The output folder is checked before the model is loaded. Each finished file is renamed into place;
``predictions.json`` (written last) lists the images and their files for ``satseg evaluate``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from satseg.cli._store import default_store, store_help

log = logging.getLogger("satseg.cli.predict")
INDEX = "predictions.json"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", metavar="RUN_DIR", help="run folder of `satseg train` (or an fsspec URL of one)"
    )
    parser.add_argument("--study", metavar="NAME",
                        help="instead of --model: a trial of this study of --store, loaded "
                             "through the store's record (remote run folders are cached)")
    parser.add_argument("--trial", type=int, metavar="N", help="with --study: trial id "
                        "(default: the study's best)")
    parser.add_argument("--store", default=default_store(), metavar="FILE",
                        help=store_help("with --study: the study store"))
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="PATH", help="data set folder, or 'sample'")
    src.add_argument("--image", metavar="FILE", help="one raster with the model's bands, in order")
    parser.add_argument("--manifest", metavar="FILE",
                        help="with --data: a satseg.yaml kept outside the data folder")
    parser.add_argument(
        "--scenes", nargs="+", metavar="ID", help="image ids of --data (default: all)"
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (required unless --tune)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an --out folder that already holds files, replacing "
                             "those of the same name")  # fmt: skip
    parser.add_argument("--tta", type=int, default=8, choices=(1, 2, 4, 8), help="dihedral views")
    parser.add_argument("--combine", default="arithmetic", choices=("arithmetic", "geometric"),
                        help="mean of the views")  # fmt: skip
    parser.add_argument("--subdivisions", type=int, default=2, help="windows per pixel per axis")
    parser.add_argument("--batch", type=int, default=16, help="windows per model call")
    parser.add_argument("--format", default="tif,geojson",
                        help="any of tif,geojson,wkt,submission (DSTL competition CSV)")  # fmt: skip
    parser.add_argument("--open-radius", type=int, help="morphological opening radius (px)")
    parser.add_argument("--close-radius", type=int, help="morphological closing radius (px)")
    parser.add_argument("--simplify", type=float, default=0.0, help="polygon tolerance (pixels)")
    parser.add_argument("--tune", action="store_true",
                        help="tune thresholds/min areas on --scenes (default: the run's validation "
                             "ids) and save postprocess.json in the run folder")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    dist = parser.add_mutually_exclusive_group()
    dist.add_argument("--scheduler", metavar="ADDR",
                      help="spread the scenes over a dask cluster (tcp://host:8786); workers "
                           "get the model as bytes and need only the data, at the same path")
    dist.add_argument("--parallel", type=int, metavar="N",
                      help="spread the scenes over N local single-threaded worker processes")
    parser.add_argument("--worker-memory", metavar="SIZE",
                        help="with --parallel: memory limit per worker, e.g. 4GB (default: "
                             "the machine's memory split evenly)")
    parser.add_argument("--strip-rows", type=int, metavar="ROWS",
                        help="with --parallel/--scheduler: cut scenes taller than ROWS into "
                             "strips predicted as separate tasks (identical results; default: "
                             "strips of about 256 MB of input)")
    parser.set_defaults(func=handle)


def _image_stack(path: str, run: Any) -> Any:
    """A single raster as a stack named with the run's bands (matched by count)."""
    from satseg.inference.distributed import image_stack

    return image_stack(path, run)


def handle(args: argparse.Namespace) -> int:
    from satseg.errors import ConfigError, DataError
    from satseg.inference.blend import MAX_WINDOW
    from satseg.inference.export import atomic_write_text, ensure_output_dir
    from satseg.inference.predict import parse_formats

    formats = parse_formats(args.format)
    if args.batch < 1 or args.subdivisions < 1:
        raise ConfigError("--batch and --subdivisions must be >= 1")
    distributed = _check_distribution(args)
    if not args.tune and not args.out:
        raise ConfigError("--out DIR is required (or --tune to tune post-processing)")
    if args.out:  # refuse to mix with (or replace) earlier results unless asked to
        from satseg.io.outputs import refuse_nonempty_dir

        refuse_nonempty_dir(args.out, args.overwrite)
    out = ensure_output_dir(args.out) if args.out else None  # before any model work
    ds = None
    if args.data:  # unknown data sets and ids fail before the model loads
        from satseg.io import open_dataset

        ds = open_dataset(args.data, manifest=args.manifest)
        for i in args.scenes or []:
            ds.check_id(i)
    elif args.scenes or args.manifest:
        raise ConfigError("--scenes and --manifest go with --data; with --image predict one file")
    from satseg.search.artifacts import resolve_run
    from satseg.training import load_run

    model_dir = resolve_run(args.model, study=args.study, trial=args.trial, store=args.store)
    run = load_run(model_dir)
    if run.input_size > MAX_WINDOW:
        raise ConfigError(f"model window {run.input_size} px exceeds {MAX_WINDOW} px")
    if ds is None:
        items = [(Path(args.image).stem, _image_stack(args.image, run))]
    else:
        ids = args.scenes or (list(run.val_ids) if args.tune and run.val_ids else ds.ids())
        items = [(i, None) for i in ids]
    common = dict(subdivisions=args.subdivisions, tta=args.tta, batch=args.batch,
                  combine=args.combine, progress=not args.no_progress)  # fmt: skip
    if args.tune:
        if ds is None:
            raise DataError("--tune needs labelled images: pass --data (and optionally --scenes)")
        return _tune(run, ds, [i for i, _ in items], common)
    import dataclasses

    from satseg.inference.postprocess import PostProcess
    from satseg.inference.predict import check_bands, predict_to_files

    pp = PostProcess.load(run.run_dir, run.class_names)
    over = {
        k: getattr(args, k) for k in ("open_radius", "close_radius") if getattr(args, k) is not None
    }
    pp = dataclasses.replace(pp, **over) if over else pp
    grids = None
    if "submission" in formats:
        if ds is None or ds.kind != "dstl":
            raise ConfigError(
                "--format submission needs --data with a DSTL folder (grid_sizes.csv)"
            )
        from satseg.io.wkt import read_grid_sizes

        grids = read_grid_sizes(ds.root / "grid_sizes.csv")
        missing = [i for i, _ in items if i not in grids]
        if missing:
            raise DataError(f"{ds.root}/grid_sizes.csv has no row for {missing[:5]}")
    submission: dict[str, dict[int, str]] = {}
    stacks = {}
    for image_id, stack in items:  # check every image's bands before the first prediction
        stack = stack if stack is not None else ds.load_image(image_id)  # type: ignore[union-attr]
        check_bands(run, stack, f"image {image_id!r}")
        stacks[image_id] = stack
    index: dict[str, Any] = {"model": str(model_dir.resolve()), "classes": list(run.class_names),
                             "data": args.data, "images": {}}  # fmt: skip
    if distributed:
        return _distributed(args, run, stacks, out, formats, pp, grids, index)  # type: ignore[arg-type]
    for image_id, stack in stacks.items():
        paths = predict_to_files(run, stack, out, image_id, formats=formats, postprocess=pp,  # type: ignore[arg-type]
                                 simplify=args.simplify, dstl_grid=grids[image_id] if grids else None,
                                 submission=submission, **common)  # fmt: skip
        index["images"][image_id] = {k: p.name for k, p in paths.items()}
        print(f"{image_id}: " + ", ".join(p.name for p in paths.values()))
    if grids is not None:
        from satseg.inference.export import write_dstl_submission

        path = write_dstl_submission(out / "submission.csv", submission, list(stacks))  # type: ignore[operator]
        index["submission"] = path.name
        print(f"submission: {path}")
    atomic_write_text(out / INDEX, json.dumps(index, indent=2))  # type: ignore[operator]
    return 0


def _check_distribution(args: argparse.Namespace) -> bool:
    """Validate --parallel/--scheduler/--strip-rows/--worker-memory; True when distributing."""
    from satseg.errors import ConfigError

    distributed = bool(args.scheduler or args.parallel is not None)
    if args.parallel is not None and args.parallel < 1:
        raise ConfigError(f"--parallel must be >= 1, got {args.parallel}")
    if args.strip_rows is not None and args.strip_rows < 1:
        raise ConfigError(f"--strip-rows must be >= 1, got {args.strip_rows}")
    if not distributed and (args.strip_rows or args.worker_memory):
        raise ConfigError("--strip-rows and --worker-memory go with --parallel or --scheduler")
    if args.worker_memory and not args.parallel:
        raise ConfigError("--worker-memory sets the local workers' limit: use it with --parallel "
                          "(a --scheduler's workers have their own --memory-limit)")
    if distributed and args.tune:
        raise ConfigError("--tune runs in one process: leave out --parallel/--scheduler")
    return distributed


def _distributed(args: argparse.Namespace, run: Any, stacks: dict[str, Any], out: Path,
                 formats: tuple[str, ...], pp: Any, grids: Any, index: dict[str, Any]) -> int:
    """Predict on a dask cluster (satseg.inference.distributed); 1 if any scene failed."""
    import sys

    from satseg.inference import distributed as dist
    from satseg.inference.export import atomic_write_text

    source = dist.Source(data=args.data, manifest=args.manifest, image=args.image and
                         str(Path(args.image).resolve()))  # fmt: skip
    settings = dist.Settings(formats=formats, postprocess=pp, subdivisions=args.subdivisions,
                             tta=args.tta, batch=args.batch, combine=args.combine,
                             simplify=args.simplify)  # fmt: skip
    widest = max(int(s.sizes["x"]) for s in stacks.values())
    strip_rows = args.strip_rows or dist.default_strip_rows(widest, len(run.channel_names))
    client, cluster = dist.start_client(args.scheduler, args.parallel, args.worker_memory)
    try:
        outcome = dist.predict_scenes(
            client, run, source, stacks, out, settings, grids=grids, strip_rows=strip_rows,
            progress=not args.no_progress,
            on_done=lambda i, p: print(f"{i}: " + ", ".join(x.name for x in p.values())),
        )  # fmt: skip
    finally:
        dist.close_client(client, cluster)
    index["images"] = {i: {k: p.name for k, p in outcome.done[i].items()}
                       for i in stacks if i in outcome.done}  # fmt: skip
    if outcome.failed:
        index["failed"] = dict(sorted(outcome.failed.items()))
    if grids is not None:
        from satseg.inference.export import write_dstl_submission

        ids = [i for i in stacks if i in outcome.wkts]
        path = write_dstl_submission(out / "submission.csv", outcome.wkts, ids)
        index["submission"] = path.name
        print(f"submission: {path}")
    atomic_write_text(out / INDEX, json.dumps(index, indent=2))
    if outcome.failed:
        print(f"error: {outcome.summary()}", file=sys.stderr)
        return 1
    return 0


def _tune(run: Any, ds: Any, ids: list[str], common: dict[str, Any]) -> int:

    from satseg.errors import DataError
    from satseg.inference.postprocess import gate_for_run, tune_postprocess
    from satseg.inference.predict import predict_image

    names = list(run.class_names)
    probs, truths, ignores = [], [], []
    for image_id in ids:
        labels = ds.load_labels(image_id)
        have = [c.name for c in labels.classes]
        if not set(names) <= set(have):
            raise DataError(f"labels of {image_id!r} have classes {have}; the model needs {names}")
        idx = [have.index(n) for n in names]
        probs.append(gate_for_run(run, predict_image(run, ds.load_image(image_id), **common).values))
        truths.append(labels.masks[idx])
        ignores.append(labels.ignore)
    pp = tune_postprocess(probs, truths, ignores, names)
    path = pp.save(run.run_dir)
    for n in names:
        print(f"{n}: threshold {pp.thresholds[n]:.2f}, min area {pp.min_area[n]} px, "
              f"Jaccard {pp.tuned_jaccard[n]:.4f}")  # fmt: skip
    print(f"saved {path}")
    return 0
