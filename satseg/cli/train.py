"""``satseg train``: train a U-Net (or one per class) from a YAML config into a run folder.

::

    satseg train --out runs/first                         # bundled sample, default config
    satseg train --data /data/dstl --config train.yaml --out runs/dstl --val-ids 6120_2_2,6110_1_2
    satseg train --out runs/dstl --resume                 # continue an interrupted run
    satseg train --data /data/dubai-aerial --manifest docs/examples/dubai-aerial.satseg.yaml \
        --out runs/dubai
    satseg train --print-config default > my.yaml         # start a config from a bundled one
"""

from __future__ import annotations

import argparse
import sys


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default="sample",
        help="data set: a DSTL folder, a folder with satseg.yaml, or 'sample' (default)",
    )
    parser.add_argument(
        "--manifest",
        default=None,
        help="a satseg.yaml manifest kept outside the --data folder (docs/manifest.md)",
    )
    parser.add_argument(
        "--config",
        default=None,
        help="training config YAML (default: the bundled default config; 'full' for the "
        "bundled GPU config)",
    )
    parser.add_argument("--out", help="run folder to create (or to continue with --resume)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint (its saved config and split)",
    )
    parser.add_argument(
        "--val-ids",
        default=None,
        help="comma-separated validation image ids (default: chosen by group so every class "
        "is present)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override one config field, e.g. --set training.epochs=2 (YAML value); repeatable",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--print-config",
        nargs="?",
        const="default",
        default=None,
        metavar="NAME",
        help="print a bundled config (default | full) as YAML and exit",
    )
    parser.set_defaults(func=run)


def _overrides(items: list[str]) -> dict[str, object]:
    import yaml

    from satseg.errors import ConfigError
    from satseg.io.yamlfile import load_yaml, yaml_error_text

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"--set {item!r}: write SECTION.FIELD=VALUE, e.g. training.epochs=2")
        try:
            out[key.strip()] = load_yaml(value)
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"--set {item!r}: the value is not a YAML value ({yaml_error_text(exc)}); "
                "quote text, e.g. --set 'data.classes=[a, b]'"
            ) from None
    return out


def run(args: argparse.Namespace) -> int:
    from satseg.errors import ConfigError
    from satseg.training import TrainConfig, train

    if args.print_config is not None:
        print(TrainConfig.default(args.print_config).to_yaml(), end="")
        return 0
    if not args.out:
        raise ConfigError("--out RUN_DIR is required: the folder the run is written to")
    if args.resume:
        if args.config or args.set or args.val_ids:
            raise ConfigError(
                "--resume continues with the run's saved config and split; drop --config, "
                "--set and --val-ids"
            )
        cfg = None
    elif args.config in (None, "default", "full"):
        cfg = TrainConfig.default(args.config or "default")
    else:
        cfg = TrainConfig.from_yaml(args.config)
    if cfg is not None and args.set:
        cfg = cfg.updated(_overrides(args.set))
    val_ids = [v.strip() for v in args.val_ids.split(",") if v.strip()] if args.val_ids else None
    data: object = args.data
    if args.manifest:
        from satseg.io import open_dataset

        data = open_dataset(args.data, manifest=args.manifest)
    result = train(
        cfg,
        data=data,  # type: ignore[arg-type]
        out_dir=args.out,
        progress=not args.no_progress,
        resume=args.resume,
        val_ids=val_ids,
    )
    print(f"run folder: {result.run_dir}")
    for name, j in result.per_class.items():
        print(f"  {name:<24} {j:.4f}")
    print(
        f"  {'mean':<24} {result.val_jaccard:.4f}   ({result.epochs} epochs"
        f"{', stopped: ' + result.stopped if result.stopped else ''})"
    )
    sys.stdout.flush()
    return 0
