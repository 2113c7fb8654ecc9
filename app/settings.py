"""Where the dashboard finds its data sets and study stores.

The page never takes a path: it offers a select of what was found under the folders the server was
started with (``--data`` and ``--store``, or the ``SATSEG_DATA`` / ``SATSEG_STORE`` environment
variables, several paths separated by ``os.pathsep``).
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from satseg.errors import ConfigError

log = logging.getLogger("satseg.app.settings")

DEFAULT_STORE = "study.db"
STORE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def _is_dataset_dir(path: Path) -> bool:
    """True for a folder ``satseg.io.open_dataset`` accepts (manifest or DSTL layout)."""
    return path.is_dir() and (
        (path / "satseg.yaml").is_file()
        or (path / "grid_sizes.csv").is_file()
        or (path / "three_band").is_dir()
    )


@dataclass(frozen=True, kw_only=True)
class AppSettings:
    """What the server was started with: data paths, store paths, theme."""

    data: tuple[str, ...] = ("sample",)
    stores: tuple[str, ...] = (DEFAULT_STORE,)
    theme: str = "default"
    refresh_ms: int = 2000
    title: str = "satseg"

    def __post_init__(self) -> None:
        if self.theme not in ("default", "dark"):
            raise ConfigError(f"theme must be 'default' or 'dark', got {self.theme!r}")
        if self.refresh_ms < 200:
            raise ConfigError(f"refresh_ms must be >= 200, got {self.refresh_ms}")

    # ----------------------------------------------------------------- discovery
    def datasets(self) -> dict[str, str]:
        """Data sets found under the ``data`` paths: ``{label: path for open_dataset}``.

        A path is ``"sample"``, a data set folder, or a folder whose sub-folders (two levels deep)
        are data sets. Missing paths are logged and skipped.
        """
        found: dict[str, str] = {}

        def add(label: str, target: str) -> None:
            base, n = label, 2
            while label in found and found[label] != target:
                label, n = f"{base} ({n})", n + 1
            found[label] = target

        for entry in self.data:
            if entry == "sample":
                add("sample (Dubai)", "sample")
                continue
            root = Path(entry).expanduser().resolve()
            if _is_dataset_dir(root):
                add(root.name, str(root))
                continue
            if not root.is_dir():
                log.warning("data path %s does not exist or is not a folder; skipped", root)
                continue
            for sub in sorted(p for p in root.iterdir() if p.is_dir()):
                if _is_dataset_dir(sub):
                    add(sub.name, str(sub))
                else:
                    for sub2 in sorted(p for p in sub.iterdir() if p.is_dir()):
                        if _is_dataset_dir(sub2):
                            add(f"{sub.name}/{sub2.name}", str(sub2))
        return found

    def store_paths(self) -> dict[str, str]:
        """Study stores: ``{label: path}``; a file path (existing or to be created) or a folder's
        ``*.db`` files."""
        found: dict[str, str] = {}
        for entry in self.stores:
            p = Path(entry).expanduser().resolve()
            if p.is_dir():
                for f in sorted(p.iterdir()):
                    if f.suffix in STORE_SUFFIXES and f.is_file():
                        found.setdefault(f.name if f.name not in found else str(f), str(f))
            else:
                found.setdefault(p.name if p.name not in found else str(p), str(p))
        return found

    def auto_root(self) -> Path:
        """Where runs of ``satseg auto`` started from the page go: ``auto-runs`` beside the
        first study store (a folder store: inside it)."""
        first = Path(self.stores[0] if self.stores else DEFAULT_STORE).expanduser().resolve()
        return (first if first.is_dir() else first.parent) / "auto-runs"

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> AppSettings:
        """Settings from ``SATSEG_DATA``, ``SATSEG_STORE``, ``SATSEG_THEME``,
        ``SATSEG_REFRESH_MS``."""
        env = dict(os.environ if env is None else env)
        kw: dict = {}
        if env.get("SATSEG_DATA"):
            kw["data"] = tuple(p for p in env["SATSEG_DATA"].split(os.pathsep) if p)
        if env.get("SATSEG_STORE"):
            kw["stores"] = tuple(p for p in env["SATSEG_STORE"].split(os.pathsep) if p)
        if env.get("SATSEG_THEME"):
            kw["theme"] = env["SATSEG_THEME"]
        if env.get("SATSEG_REFRESH_MS"):
            try:
                kw["refresh_ms"] = int(env["SATSEG_REFRESH_MS"])
            except ValueError as exc:
                raise ConfigError(
                    f"SATSEG_REFRESH_MS must be an integer (milliseconds), got {env['SATSEG_REFRESH_MS']!r}"
                ) from exc
        return cls(**kw)

    @classmethod
    def from_args(cls, argv: list[str], env: dict[str, str] | None = None) -> AppSettings:
        """Settings from ``panel serve app/app.py --args --data X --store Y``; the environment
        gives the defaults."""
        base = cls.from_env(env)
        parser = argparse.ArgumentParser(prog="app.py", add_help=False)
        add_arguments(parser)
        args, _ = parser.parse_known_args(argv)
        return base.replace_from(args)

    def replace_from(self, args: argparse.Namespace) -> AppSettings:
        """A copy with the values given in parsed arguments (see :func:`add_arguments`)."""
        from dataclasses import replace

        kw: dict = {}
        if getattr(args, "data", None):
            kw["data"] = tuple(args.data)
        if getattr(args, "store", None):
            kw["stores"] = tuple(args.store)
        if getattr(args, "theme", None):
            kw["theme"] = args.theme
        return replace(self, **kw)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The data/store/theme arguments shared by ``satseg serve`` and ``app.py --args``."""
    parser.add_argument(
        "--data", action="append", metavar="PATH",
        help="a data set folder, a folder of data sets, or 'sample' (repeatable; default: sample)",
    )
    parser.add_argument(
        "--store", action="append", metavar="PATH",
        help=f"a study store file or a folder of *.db stores (repeatable; default: {DEFAULT_STORE})",
    )
    parser.add_argument("--theme", choices=("default", "dark"), help="initial theme")
