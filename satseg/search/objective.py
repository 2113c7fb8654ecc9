"""The satseg objective: train one model per trial and return its validation Jaccard.

``SatsegObjective(params, ctx)`` turns the flat trial parameters (``model.depth``, ...) into a
``TrainConfig``, trains with :func:`satseg.training.train` on the study's fixed validation images
(``val_ids``, chosen once per study and never used for anything else; ``exclude_ids``, a test
set, are never loaded), reports every epoch to the driver and stops when asked (``ctx``), and
writes a prediction preview PNG of one validation image next to the run folder's model.

In a search the run folder is the trial's private ``ctx.run_dir`` on its worker; the worker
ships it to the driver when the trial ends (see :mod:`satseg.search.artifacts`). Called without
a context (a plain ``fn(params)``), the run goes to a new temporary folder.
"""

from __future__ import annotations

import copy
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("satseg.search.objective")


class SubsetDataset:
    """A data set without some images (held-out test ids): every other attribute delegates."""

    def __init__(self, ds: Any, exclude: Sequence[str]):
        self._ds, self._exclude = ds, set(exclude)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ds, name)

    def ids(self) -> list[str]:
        return [i for i in self._ds.ids() if i not in self._exclude]

    def labelled_ids(self) -> list[str]:
        return [i for i in self._ds.labelled_ids() if i not in self._exclude]


def open_search_data(data: Any, exclude_ids: Sequence[str] = ()) -> Any:
    from satseg.training.prepare import open_data

    ds = open_data(data)
    return SubsetDataset(ds, exclude_ids) if exclude_ids else ds


def choose_val_ids(data: Any, *, classes: Sequence[str] | None = None, seed: int = 0,
                   exclude_ids: Sequence[str] = (), val_fraction: float = 0.2,
                   by: str = "group") -> list[str]:
    """The study's validation images: the training split rule (by scene/folder group, every class
    present where possible; ``by="image"`` for a data set of one group) applied once, then fixed
    for every trial."""
    import numpy as np

    from satseg.data.split import split_ids
    from satseg.training.prepare import select_classes

    ds = open_search_data(data, exclude_ids)
    idx = select_classes(ds, list(classes) if classes else None)
    pixels = {}
    for i in ds.labelled_ids():
        masks = ds.load_labels(i).masks
        pixels[i] = np.asarray([int(masks[k].sum()) for k in idx])
    split = split_ids(pixels, val_fraction=val_fraction, seed=seed, kind=ds.kind, by=by)
    return list(split.val)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for sec, vals in over.items():
        out.setdefault(sec, {}).update(vals)
    return out


def _apply_fidelity(cfg: Any, fid: dict[str, Any], run_dir: Path) -> tuple[Any, bool]:
    """ASHA (satseg.search.asha): ``training.epochs`` = the rung's budget, and for a promoted
    trial its packed run folder (``fid['resume']``) unpacked into ``run_dir`` to continue from
    its checkpoint (weights, optimiser, epochs). ``(config, resume)``."""
    from pathlib import PurePosixPath

    if fid.get("budget") is not None:
        cfg = cfg.updated({"training.epochs": max(1, int(round(float(fid["budget"]))))})
    bundle = fid.get("resume")
    if not fid.get("rung") or bundle is None or not getattr(bundle, "files", None):
        return cfg, False
    for rel, data in bundle.files.items():
        part = PurePosixPath(rel)
        if part.is_absolute() or ".." in part.parts:
            raise ValueError(f"refusing bundle path {rel!r} outside the run folder")
        dest = run_dir.joinpath(*part.parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    return cfg, True


@dataclass
class SatsegObjective:
    """Picklable objective for :func:`satseg.search.run_search` (see the module doc)."""

    data: str
    val_ids: tuple[str, ...]
    classes: tuple[str, ...] | None = None
    exclude_ids: tuple[str, ...] = ()
    base: dict[str, Any] = field(default_factory=dict)
    preview: bool = True

    def config(self, params: dict[str, Any]):
        """The TrainConfig of a trial (ConfigError for an invalid combination)."""
        from satseg.search.fields import nested
        from satseg.training import TrainConfig

        d = _merge(self.base, nested(params))
        d.setdefault("data", {})
        d["data"]["classes"] = list(self.classes) if self.classes else None
        d["data"]["val_ids"] = list(self.val_ids)
        return TrainConfig.from_dict(d)

    def __call__(self, params: dict[str, Any], ctx: Any = None) -> dict[str, Any]:
        from satseg.training import train

        cfg = self.config(params)
        if getattr(ctx, "run_dir", None) is not None:
            run_dir = Path(ctx.run_dir)  # private to this attempt: shipped, then deleted
        else:
            run_dir = Path(tempfile.mkdtemp(prefix="satseg-trial-"))
            shutil.rmtree(run_dir)
        fid = dict(getattr(ctx, "fidelity", None) or {})
        cfg, resume = _apply_fidelity(cfg, fid, run_dir)
        ds = open_search_data(self.data, self.exclude_ids)
        res = train(cfg, data=ds, out_dir=run_dir, progress=False,
                    callbacks=(ctx,) if ctx is not None else (), stop_flag=ctx,
                    val_ids=list(self.val_ids), resume=resume)
        out: dict[str, Any] = {
            "objective": res.val_jaccard, "per_class": dict(res.per_class),
            "history": list(res.history), "artifacts": {"run_dir": str(run_dir)},
        }
        if fid.get("keep_checkpoint"):  # ASHA may promote it: its checkpoint travels back
            out["ship_checkpoints"] = True
        if self.preview and res.val_jaccard == res.val_jaccard:  # not NaN: a model exists
            try:
                from satseg.search.preview import write_preview

                out["artifacts"]["preview"] = str(
                    write_preview(run_dir, ds, self.val_ids[0], run_dir / "preview.png"))
            except Exception as exc:  # noqa: BLE001 - the trial's result stands without it
                log.warning("no preview for %s: %s", run_dir, exc)
        return out
