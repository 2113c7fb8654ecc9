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


def evaluate_folder(pred: str | Path, data: str | Path, manifest: str | Path | None = None) -> Any:
    """JaccardReport (with per-image reports) of a prediction folder against a data set."""
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
        mask = read_array(path)
        labels = ds.load_labels(image_id)
        true = labels.masks[idx]
        if mask.shape != true.shape:
            raise DataError(
                f"prediction {path} is {mask.shape}, labels of {image_id!r} are {true.shape}"
            )
        per_image[image_id] = confusion_counts(mask > 0, true, labels.ignore)
    if not per_image:
        raise DataError(f"{pred}/predictions.json lists no images")
    total = np.sum(list(per_image.values()), axis=0)
    return jaccard_from_counts(total, names, per_image=per_image)


def handle(args: argparse.Namespace) -> int:
    report = evaluate_folder(args.pred, args.data, args.manifest)
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
