"""``satseg evaluate``: per-class Jaccard of predicted masks against labels (DOMAIN.md section 2).

TP, FP and FN are counted per image (``satseg.evaluation.confusion_counts``) and summed over images
before the Jaccard, as in the competition. Predictions are the ``*_mask.tif`` files listed in the
``predictions.json`` of a ``satseg predict --out`` folder; classes are matched by name.

Example::

    satseg evaluate --pred pred/ --data sample [--json] [--per-image]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pred", required=True, metavar="DIR", help="output folder of satseg predict"
    )
    parser.add_argument(
        "--data", required=True, metavar="PATH", help="labelled data set, or 'sample'"
    )
    parser.add_argument("--manifest", metavar="FILE",
                        help="a satseg.yaml kept outside the --data folder")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--per-image", action="store_true", help="also show each image's Jaccard")
    dist = parser.add_mutually_exclusive_group()
    dist.add_argument("--scheduler", metavar="ADDR",
                      help="count on a dask cluster (tcp://host:8786); the masks are shipped, "
                           "workers need the labelled data at the same path")
    dist.add_argument("--parallel", type=int, metavar="N",
                      help="count on N local single-threaded worker processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=handle)


def read_index(pred: Path) -> dict[str, Any]:
    """The ``predictions.json`` of a prediction folder (MissingFileError/DataError if unusable)."""
    from satseg.errors import DataError, MissingFileError

    path = pred / "predictions.json"
    if not path.is_file():
        raise MissingFileError(
            f"{path} not found: --pred must be the --out folder of a finished `satseg predict`"
        )
    try:
        index = json.loads(path.read_text())
        index["images"], index["classes"]  # noqa: B018
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a satseg predictions index: {exc}") from None
    return index


def evaluate_folder(
    pred: str | Path,
    data: str | Path,
    manifest: str | Path | None = None,
    *,
    client: Any = None,
    progress: bool = False,
    failed: dict[str, str] | None = None,
) -> Any:
    """JaccardReport (with per-image reports) of a prediction folder against a data set.

    With a dask ``client`` the per-image counts are computed on its workers (the masks' bytes are
    shipped; counts are integers, summed exactly); images whose counting failed twice are left
    out of the report and listed in ``failed``.
    """
    import numpy as np

    from satseg.errors import DataError, MissingFileError
    from satseg.evaluation import confusion_counts, jaccard_from_counts
    from satseg.io import open_dataset
    from satseg.io.raster import read_array

    pred = Path(pred)
    index = read_index(pred)
    ds = open_dataset(data, manifest=manifest)
    names = list(index["classes"])
    label_names = [c.name for c in ds.classes]
    missing = [n for n in names if n not in label_names]
    if missing:
        raise DataError(
            f"predicted classes {missing} are not classes of data set {ds.name}: {label_names}"
        )
    idx = [label_names.index(n) for n in names]
    per_image: dict[str, Any] = {}
    masks: dict[str, Path] = {}
    for image_id, files in index["images"].items():
        if "mask" not in files:
            raise DataError(
                f"{pred}: image {image_id!r} has no mask GeoTIFF; predict with --format tif"
            )
        if image_id not in ds.labelled_ids():
            raise DataError(f"image {image_id!r} has no labels in data set {ds.name}")
        path = pred / files["mask"]
        if not path.is_file():
            raise MissingFileError(f"prediction {path} listed in predictions.json is missing")
        if client is not None:
            masks[image_id] = path
            continue
        mask = read_array(path)
        labels = ds.load_labels(image_id)
        true = labels.masks[idx]
        if mask.shape != true.shape:
            raise DataError(
                f"prediction {path} is {mask.shape}, labels of {image_id!r} are {true.shape}"
            )
        per_image[image_id] = confusion_counts(mask > 0, true, labels.ignore)
    if client is not None and masks:
        from satseg.inference.distributed import Source, count_scenes

        source = Source(data=str(data), manifest=None if manifest is None else str(manifest))
        per_image, errors = count_scenes(client, source, masks, idx, progress=progress)
        if failed is not None:
            failed.update(errors)
        if not per_image:
            raise DataError(f"no image of {pred} could be evaluated: {errors}")
    if not per_image:
        raise DataError(f"{pred}/predictions.json lists no images")
    total = np.sum(list(per_image.values()), axis=0)
    return jaccard_from_counts(total, names, per_image=per_image)


def handle(args: argparse.Namespace) -> int:
    import sys

    from satseg.errors import ConfigError

    failed: dict[str, str] = {}
    if args.parallel is not None and args.parallel < 1:
        raise ConfigError(f"--parallel must be >= 1, got {args.parallel}")
    if args.scheduler or args.parallel:
        from satseg.inference.distributed import close_client, start_client

        read_index(Path(args.pred))  # a bad folder fails before a cluster starts
        client, cluster = start_client(args.scheduler, args.parallel)
        try:
            report = evaluate_folder(args.pred, args.data, args.manifest, client=client,
                                     progress=not args.no_progress, failed=failed)  # fmt: skip
        finally:
            close_client(client, cluster)
    else:
        report = evaluate_folder(args.pred, args.data, args.manifest)
    code = _print(report, args)
    if failed:
        print(f"error: {len(failed)} image(s) could not be evaluated after one retry (left out "
              f"of the report): {', '.join(sorted(failed))} (first error: "
              f"{next(iter(failed.values()))})", file=sys.stderr)  # fmt: skip
        return 1
    return code


def _print(report: Any, args: argparse.Namespace) -> int:
    if args.json:
        d = report.to_dict()
        if not args.per_image:
            d.pop("per_image", None)
        print(json.dumps(d, indent=2))
        return 0
    print(report.table())
    if args.per_image:
        print()
        print(report.per_image_frame().to_string(float_format=lambda v: f"{v:.4f}"))
    return 0
