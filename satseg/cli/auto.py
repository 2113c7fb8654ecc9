"""``satseg auto``: a budgeted search, the final fit of its best configuration, post-processing
tuned on validation and a short report, in one command.

::

    satseg auto --data /data/tiles --budget 30m --out runs/auto
    satseg auto --data sample --budget 3m --out runs/quick --exclude-ids tile_7/image_part_001
    satseg auto --data /data/tiles --budget 30m --out runs/auto --resume   # after Ctrl-C

then ``satseg predict --model runs/auto --data ... --out masks/`` and ``satseg evaluate``.
"""

from __future__ import annotations

import argparse

from satseg.auto.pipeline import SEARCH_SHARE


def _ids(text: str | None) -> tuple[str, ...]:
    return tuple(i for i in text.split(",") if i) if text else ()


def register(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--data", required=True, help="data set: a folder with satseg.yaml, a manifest file, a "
      "DSTL folder, or 'sample' (anything `satseg data info` reads)")
    a("--budget", required=True, help="wall-clock budget of everything: 90s, 30m, 2h, 1h30m")
    a("--out", required=True, help="the run folder to write (must not exist, unless --resume)")
    a("--exclude-ids", default=None, help="comma-separated images never used (a held-out "
      "test set for `satseg evaluate`)")
    a("--resume", action="store_true", help="continue an interrupted `satseg auto` in --out")
    a("--space", default=None, help="search space YAML or bundled name (default: chosen by "
      "device)")
    a("--fidelity", default="asha", choices=["asha", "none"], help="search with successive "
      "halving (asha, default) or whole trials (none)")
    a("--parallel", type=int, default=1, help="trials at once (1: one TensorFlow per machine "
      "is fastest on a CPU)")
    a("--fit-on", default="all", choices=["all", "train"], help="what the final fit trains "
      "on: every image, the search's validation images included, keeping the last epoch (all, "
      "default), or the training images only, keeping the best epoch on validation and tuning "
      "the post-processing there (train)")
    a("--search-share", type=float, default=SEARCH_SHARE, help="share of --budget the "
      "search gets, in [0.1, 0.9]; the rest, less a reserve for tuning and the report, trains "
      "the final model (default %(default)s; fixed when the run starts, --resume keeps it)")
    a("--seed", type=int, default=0, help="search seed")
    a("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from satseg.auto.pipeline import run_auto
    from satseg.cli._logs import quiet_search_loggers

    quiet_search_loggers()
    progress = not args.no_progress

    def on_stage(name: str, info: dict) -> None:
        secs = info.get("seconds", 0.0)
        print(f"[satseg auto] stage {name} done in {secs:.0f} s", flush=True)

    try:
        run_auto(args.data, args.budget, args.out, exclude_ids=_ids(args.exclude_ids),
                 resume=args.resume, progress=progress, space=args.space,
                 parallelism=args.parallel, seed=args.seed, fidelity=args.fidelity,
                 on_stage=on_stage, fit_on=args.fit_on, search_share=args.search_share)
    except KeyboardInterrupt:
        print(f"\ninterrupted: what is done stays in {args.out}; continue with: satseg auto "
              f"--data {args.data} --budget {args.budget} --out {args.out} --resume")
        return 130
    print((Path(args.out) / "report.md").read_text())
    return 0
