"""Writing outputs safely: never replace an existing result silently, never leave half a file.

Every command that writes a user-named output goes through :func:`atomic_output`:

* an existing output is refused (:class:`~satseg.errors.OutputError`, exit 2) unless the user
  passed ``--overwrite`` (:func:`refuse_existing`);
* the writer gets a temporary path *in the same folder* with the same suffix (so GDAL, zarr or
  Keras pick the right format from it); it is renamed onto the real name only when the writer
  finished without an exception. On an error or Ctrl-C the temporary file or folder is removed and
  an existing output keeps its bytes.

A rename within one folder is atomic for files (``os.replace``). A folder output (``.zarr``, a run
folder) that replaces an old one is swapped in two renames: the old folder is moved aside, the new
one moved in, then the old one deleted; a crash between the two renames leaves the old one under a
``.<name>.old-*`` name next to it rather than losing it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from satseg.errors import OutputError

__all__ = [
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "refuse_existing",
    "refuse_nonempty_dir",
]


def refuse_existing(path: str | Path, overwrite: bool, option: str = "--out") -> None:
    """Raise :class:`OutputError` when ``path`` exists and ``overwrite`` is false.

    ``option`` names the command-line option (or setting) that chose ``path``, for the message.
    """
    path = Path(path)
    if overwrite or not (path.exists() or path.is_symlink()):
        return
    what = "folder" if path.is_dir() else "file"
    raise OutputError(
        f"{option} {path}: the {what} exists; pass --overwrite to replace it, or choose another name"
    )


def refuse_nonempty_dir(path: str | Path, overwrite: bool, option: str = "--out") -> None:
    """For an output *folder* that receives several files: raise :class:`OutputError` when
    ``path`` is a file, or a folder holding anything, and ``overwrite`` is false. An absent or
    empty folder is fine (the usual ``--out results/``)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path}: this is a file, not a folder; choose a folder path")
    if overwrite or not path.is_dir():
        return
    held = sorted(p.name for p in path.iterdir())
    if held:
        shown = ", ".join(held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
        raise OutputError(
            f"{option} {path}: the folder already holds {shown}; pass --overwrite to replace "
            "files of the same name, or choose a new folder"
        )


def _remove(path: Path) -> None:
    """Delete a file, link or folder tree if it is there (best effort, never raises)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except OSError:
        pass


def _make_parent(parent: Path, option: str) -> list[Path]:
    """Create ``parent`` (and missing ancestors); return the folders created, deepest first."""
    created: list[Path] = []
    p = parent
    while not p.exists():
        created.append(p)
        if p.parent == p:
            break
        p = p.parent
    if p.exists() and not p.is_dir():
        raise OutputError(f"{option} {parent}: {p} is a file, not a folder; choose another path")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{option} {parent}: cannot create the folder ({exc.strerror or exc}); "
            "choose a writable location"
        ) from None
    return created


def _temp_name(path: Path, tag: str) -> Path:
    # Hidden, unique, same suffix (".tif", ".zarr", ".keras") so format drivers see the real type.
    suffix = "".join(path.suffixes[-1:])
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    return path.with_name(f".{stem}.{tag}-{secrets.token_hex(4)}{suffix}")


@contextlib.contextmanager
def atomic_output(
    path: str | Path, *, overwrite: bool = False, option: str = "--out"
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only if the block succeeds.

    The temporary path does not exist yet: the block creates a file or a folder there. An
    existing ``path`` is refused unless ``overwrite`` (see :func:`refuse_existing`). On any
    exception (including ``KeyboardInterrupt``) the temporary file or folder is deleted and the
    exception propagates; ``path`` is untouched. Missing parent folders are created, and removed
    again on failure.
    """
    path = Path(path)
    refuse_existing(path, overwrite, option)
    created = _make_parent(path.parent, option)
    tmp = _temp_name(path, "partial")
    try:
        yield tmp
        if not (tmp.exists() or tmp.is_symlink()):
            raise OutputError(f"{option} {path}: nothing was written; this is a bug in satseg")
        _move_into_place(tmp, path, option)
    except BaseException:
        _remove(tmp)
        for folder in created:  # deepest first; only folders we made and that stayed empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _move_into_place(tmp: Path, path: Path, option: str) -> None:
    try:
        replacing_folder = path.is_dir() and not path.is_symlink()
        if replacing_folder or (tmp.is_dir() and (path.exists() or path.is_symlink())):
            # os.replace cannot put anything over a non-empty folder, nor a folder over a file:
            # move the old output aside first, and back if the second rename fails.
            old = _temp_name(path, "old")
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            _remove(old)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(
            f"{option} {path}: cannot move the finished output into place "
            f"({exc.strerror or exc}); check the folder's permissions"
        ) from None


def atomic_write_bytes(
    path: str | Path, data: bytes, *, overwrite: bool = False, option: str = "--out"
) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_output`; return ``path``."""
    path = Path(path)
    with atomic_output(path, overwrite=overwrite, option=option) as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise OutputError(
                f"{option} {path}: cannot write ({exc.strerror or exc}); "
                "check free space and permissions"
            ) from None
    return path


def atomic_write_text(
    path: str | Path, text: str, *, overwrite: bool = False, option: str = "--out"
) -> Path:
    """Write UTF-8 ``text`` to ``path`` through :func:`atomic_output`; return ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite, option=option)
