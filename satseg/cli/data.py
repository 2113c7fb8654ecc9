"""``satseg data``: inspect data sets, write band stacks, synthesise DSTL-like scenes.

satseg data info PATH [--json] [--manifest FILE]
satseg data stack PATH SCENE --out FILE [--overwrite] [--grid rgb|m] [--indices ndvi,ndwi]
                  [--manifest FILE]
satseg data synth OUT [--scenes N] [--size PX] [--seed K] [--overwrite]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from satseg.errors import ConfigError


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``info``, ``stack`` and ``synth`` sub-commands."""
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    def no_subcommand(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=no_subcommand)

    info = sub.add_parser(
        "info",
        help="describe a data set: images, bands, sizes, classes, pixel counts",
        description="Describe a data set (DSTL folder, folder with satseg.yaml, or 'sample').",
    )
    info.add_argument("path", help="data set folder, or 'sample' for the bundled sample")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.add_argument("--manifest", type=Path, help="a satseg.yaml kept outside the data folder")
    info.add_argument(
        "--no-counts", action="store_true", help="skip labelled pixel counts (they read every mask)"
    )
    info.set_defaults(func=cmd_info)

    stack = sub.add_parser(
        "stack",
        help="write the band stack of one scene/image (GeoTIFF or zarr)",
        description="Write the aligned band stack of one scene or image, optionally with indices.",
    )
    stack.add_argument("path", help="data set folder, or 'sample'")
    stack.add_argument("scene", help="scene or image id (see `satseg data info`)")
    stack.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output file: .tif (GeoTIFF, band interleaved) or .zarr",
    )
    stack.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out file or zarr folder"
    )
    stack.add_argument(
        "--grid",
        choices=("rgb", "m"),
        default="rgb",
        help="DSTL only: the grid to align on (RGB 0.31 m or M 1.24 m)",
    )
    stack.add_argument(
        "--indices", default="", help="comma-separated spectral indices to append, e.g. ndvi,ndwi"
    )
    stack.add_argument("--manifest", type=Path, help="a satseg.yaml kept outside the data folder")
    stack.set_defaults(func=cmd_stack)

    synth = sub.add_parser(
        "synth",
        help="write synthetic DSTL-layout scenes (for tests and demos)",
        description="Write synthetic scenes in the DSTL layout (three_band/, sixteen_band/, CSVs).",
    )
    synth.add_argument("out", type=Path, help="output folder")
    synth.add_argument("--scenes", type=int, default=2, help="number of scenes (default 2)")
    synth.add_argument("--size", type=int, default=256, help="RGB side in px (default 256)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument(
        "--overwrite", action="store_true", help="write into an OUT folder that holds files"
    )
    synth.set_defaults(func=cmd_synth)


def _need(module: str, attr: str):
    """``module.attr``, or a one-line error where that part of satseg is not installed."""
    import importlib

    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{module}.{attr} is not available in this install ({exc})") from None


def _open(path: str, manifest: Path | None):
    from satseg.io import open_dataset

    return open_dataset(path, manifest=manifest)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 1) == 0:
        return _jsonable(x.item())
    if hasattr(x, "tolist"):
        return _jsonable(x.tolist())
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def cmd_info(args: argparse.Namespace) -> int:
    """Print the description of a data set."""
    ds = _open(args.path, args.manifest)
    if ds.kind == "generic":
        desc = ds.describe(counts=not args.no_counts)
    else:
        desc = ds.describe()
        if not args.no_counts and not any("pixels" in c for c in desc.get("classes", [])):
            _add_counts(ds, desc, progress=not args.json)
    desc = _jsonable(desc)
    if args.json:
        print(json.dumps(desc, indent=2))
    else:
        print(format_info(desc))
    return 0


def _add_counts(ds: Any, desc: dict[str, Any], progress: bool) -> None:
    """Labelled pixels per class (and ignored pixels) over the labelled images, into ``desc``."""
    from tqdm import tqdm

    totals = dict.fromkeys(ds.class_names, 0)
    labelled = ignored = 0
    ids = ds.labelled_ids()
    for i in tqdm(ids, desc="counting labels", disable=not progress or len(ids) < 2):
        lab = ds.load_labels(i)
        for k, v in lab.pixel_counts().items():
            totals[k] += v
        ignored += int(lab.ignore.sum())
        labelled += int(lab.ignore.size) - int(lab.ignore.sum())
    for c in desc.get("classes", []):
        c["pixels"] = totals.get(c["name"], 0)
        c["share"] = round(c["pixels"] / labelled, 4) if labelled else 0.0
    desc["pixels"] = {"labelled": labelled, "ignored": ignored}


def _table(rows: list[list[str]], head: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
        + [fmt.format(*map(str, r)) for r in rows]
    )


def format_info(d: dict[str, Any]) -> str:
    """Human-readable text for a ``describe()`` dict (generic or DSTL)."""
    images = d.get("images") or []
    lines = [
        f"{d.get('name')} ({d.get('kind')}) at {d.get('root')}",
        f"images: {len(images)}, labelled: {len(d.get('labelled') or [])}",
    ]
    if d.get("manifest"):
        lines.append(f"manifest: {d['manifest']}")
    bands = d.get("bands") or []
    if bands and isinstance(bands[0], dict):
        lines.append(
            "bands: "
            + ", ".join(
                b["name"] + (f" ({b['wavelength']:g} nm)" if b.get("wavelength") else "")
                for b in bands
            )
        )
    elif bands:
        lines.append("bands: " + ", ".join(map(str, bands)))
    groups = d.get("band_groups") or d.get("groups")
    if isinstance(groups, dict):
        lines.append("")
        lines.append(_table([[k, json.dumps(v)] for k, v in groups.items()], ["group", "details"]))
    sizes = d.get("sizes")
    if isinstance(sizes, dict) and sizes:
        shown = list(sizes.items())[:20]
        rows = [[k, *(v.values() if isinstance(v, dict) else [v])] for k, v in shown]
        width = max(len(r) for r in rows)
        head = ["image", "height", "width"] if width == 3 else ["image"] + [""] * (width - 1)
        if isinstance(shown[0][1], dict):
            head = ["image", *shown[0][1].keys()]
        lines += ["", _table([r + [""] * (len(head) - len(r)) for r in rows], head)]
        if len(sizes) > len(shown):
            lines.append(f"... and {len(sizes) - len(shown)} more")
    classes = d.get("classes") or []
    if classes:
        rows = [
            [
                c.get("name"),
                c.get("colour", ""),
                "" if c.get("code") is None else c["code"],
                c.get("pixels", ""),
                "" if c.get("share") in (None, "") else f"{c['share']:.1%}",
            ]
            for c in classes
        ]
        lines += ["", _table(rows, ["class", "colour", "code", "pixels", "share"])]
    if d.get("pixels"):
        lines.append(
            f"labelled pixels: {d['pixels'].get('labelled')}, ignored: {d['pixels'].get('ignored')}"
        )
    offsets = d.get("registration") or d.get("offsets")
    if offsets:
        lines += ["", "registration: offset (dy, dx) of each band group against RGB, in the "
                  "group's own px (and in RGB px)", _offset_table(offsets)]
    return "\n".join(lines)


def _offset_table(offsets: dict) -> str:
    """One row per scene, one column per band group: ``dy, dx (dy_ref, dx_ref)``."""
    groups = list(dict.fromkeys(g for per in offsets.values() for g in per))
    rows = []
    for scene, per in offsets.items():
        row = [scene]
        for g in groups:
            o = per.get(g) or {}
            if "dy_px" in o:
                row.append(f"{o['dy_px']:+.2f}, {o['dx_px']:+.2f} "
                           f"({o.get('dy_ref_px', 0):+.2f}, {o.get('dx_ref_px', 0):+.2f})")
            else:
                row.append(json.dumps(o))
        rows.append(row)
    return _table(rows, ["scene", *groups])


def cmd_stack(args: argparse.Namespace) -> int:
    """Write one scene's stack (+ indices) to GeoTIFF or zarr."""
    out = Path(args.out)
    if out.suffix.lower() not in (".tif", ".tiff", ".zarr"):
        raise ConfigError(f"--out {out}: the file must end in .tif or .zarr")
    from satseg.io.outputs import atomic_output, refuse_existing

    refuse_existing(out, args.overwrite)  # before any reading: a quick, clear refusal
    indices = [s.strip().lower() for s in args.indices.split(",") if s.strip()]
    ds = _open(args.path, args.manifest)
    ds.check_id(args.scene)
    if args.grid != "rgb":
        if ds.kind != "dstl":
            raise ConfigError(
                f"--grid {args.grid}: only DSTL data sets have an M grid; drop --grid"
            )
        stack = ds.load_image(args.scene, grid=args.grid)
    else:
        stack = ds.load_image(args.scene)
    if indices:
        add_indices = _need("satseg.bands", "add_indices")
        stack = add_indices(stack, indices)
    write_stack = _need("satseg.bands.store", "write_stack")
    if out.suffix.lower() == ".zarr" and stack.chunks is not None:
        # zarr needs uniform chunks; a DSTL stack concatenates groups of 3, 1, 8, 8 bands
        stack = stack.chunk({"band": 1})
    # Written under a temporary name next to --out and renamed only when complete: a read
    # failure half-way (a truncated input) leaves an existing --out untouched.
    with atomic_output(out, overwrite=args.overwrite) as tmp:
        write_stack(stack, tmp)
    print(
        f"wrote {out}: {stack.sizes['band']} bands "
        f"({', '.join(map(str, stack['band'].values))}), {stack.sizes['x']}x{stack.sizes['y']} px"
    )
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    """Write synthetic DSTL-layout scenes."""
    if args.scenes < 1:
        raise ConfigError(f"--scenes {args.scenes}: give at least 1")
    if args.size < 32:
        raise ConfigError(f"--size {args.size}: give at least 32 px")
    from satseg.io.outputs import refuse_nonempty_dir

    refuse_nonempty_dir(args.out, args.overwrite, option="OUT")
    write_synthetic_dstl = _need("satseg.datasets.synth", "write_synthetic_dstl")
    path = write_synthetic_dstl(args.out, scenes=args.scenes, size=args.size, seed=args.seed)
    print(f"wrote {args.scenes} synthetic DSTL scene(s) of {args.size} px to {path}")
    return 0
