"""The ``satseg`` command line.

Each sub-command lives in its own module (``satseg/cli/<name>.py``) exposing
``register(subparsers)``; modules are imported only when their command runs, so
``satseg --help`` stays fast. Errors derived from :class:`SatsegError` print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from satseg import __version__
from satseg.errors import SatsegError

# command name -> (module, one-line help). Modules register their own arguments.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("satseg.cli.data", "inspect, stack and synthesise data sets"),
    "train": ("satseg.cli.train", "train a U-Net from a config"),
    "search": ("satseg.cli.search", "Hyperopt search of architecture and training on dask"),
    "study": ("satseg.cli.study", "list, show, export and refine stored studies"),
    "predict": ("satseg.cli.predict", "predict masks for scenes or images with a trained run"),
    "evaluate": ("satseg.cli.evaluate", "per-class Jaccard of predictions against labels"),
    "serve": ("satseg.cli.serve", "start the Panel dashboard"),
    "auto": ("satseg.cli.auto", "search + final fit + tuning + report in one time budget"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="satseg",
        description="Segment multispectral satellite images: data, training, search, prediction.",
    )
    parser.add_argument("--version", action="version", version=f"satseg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text)
            continue
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).register(cmd)
    return parser


def _terminate_like_ctrl_c() -> None:
    """SIGTERM (``kill``, a process manager, ``docker stop``) ends a command the way Ctrl-C does,
    so a search marks its study stopped and stops its trials instead of leaving them orphaned."""
    import signal

    def interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (main() called from a thread): leave it
        pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Import only the module of the command being run.
    only = next((a for a in argv if a in COMMANDS), None)
    parser = build_parser(only)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # GDAL reports each step of decoding a bad file (INFO, WARNING); satseg names the
        # file and the fix, so those lines only bury it (-v shows them).
        logging.getLogger("rasterio").setLevel(logging.ERROR)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    _terminate_like_ctrl_c()
    try:
        return int(args.func(args) or 0)
    except SatsegError as exc:
        print(f"satseg: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "tensorflow":
            raise
        from satseg._tensorflow import INSTALL_HINT

        print(f"satseg: error: this command needs TensorFlow; {INSTALL_HINT}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("satseg: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        line = _library_read_error(exc)
        if line is None:
            raise  # a bug in satseg: keep the traceback
        print(f"satseg: error: {line}", file=sys.stderr)
        return 2


def _library_read_error(exc: BaseException) -> str | None:
    """One line for a GDAL/rasterio failure that escaped satseg's own checks (the last resort:
    raster reads are wrapped where they happen, see satseg.io.raster). None for anything else."""
    errors, gdal = sys.modules.get("rasterio.errors"), sys.modules.get("rasterio._err")
    kinds = tuple(
        k for k in (getattr(errors, "RasterioError", None), getattr(gdal, "CPLE_BaseError", None))
        if isinstance(k, type)
    )
    if not kinds or not isinstance(exc, kinds):
        return None
    detail = " ".join(str(exc).split())
    if "See previous exception" in detail and exc.__context__ is not None:
        detail = " ".join(str(exc.__context__).split())
    return (
        f"a raster could not be read or written: {detail[:300]}; check the file named there "
        "with `gdalinfo -checksum FILE` (run with -v for GDAL's messages)"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
