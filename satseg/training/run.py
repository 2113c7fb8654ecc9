"""Run folders: atomic writes, ``meta.json``, and :func:`load_run` -> :class:`RunModel`.

Layout (docs/ARCHITECTURE.md)::

    run_dir/config.yaml            the TrainConfig used
    run_dir/meta.json              satseg version, bands, indices, channel order, mean/std,
                                   classes (name, colour, code), sizes, margin, split ids, mode
    run_dir/model.keras            softmax/multiclass: the best model (by validation Jaccard)
    run_dir/models/<class>.keras   one_vs_all: one best model per class
    run_dir/history.csv|json       one row per epoch (and class for one_vs_all)
    run_dir/jaccard.json           per-class and mean validation Jaccard (JaccardReport.to_dict)
    run_dir/checkpoints/           last.keras + state.json per model, for --resume

Every file is written to a temporary name in the same folder and renamed into place, so a crash
never leaves a half-written model or JSON behind, and an earlier good model survives a later failure.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from satseg.errors import ModelError, OutputError
from satseg.io.dataset import ClassInfo

log = logging.getLogger("satseg.training.run")

META = "meta.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc}; check the folder is writable") from exc


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default, allow_nan=False))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def atomic_save_model(model: Any, path: Path) -> None:
    """``model.save`` to a temporary ``.keras`` file, then rename over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.keras")
    try:
        with warnings.catch_warnings():
            # TF tensors' __array__ lacks numpy 2's copy keyword; harmless, raised per variable
            warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept")
            model.save(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot save model {path}: {exc}") from exc


def class_slug(name: str) -> str:
    """A file-name-safe form of a class name (``models/<slug>.keras``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "class"


def load_keras_model(path: Path, compile: bool = False) -> Any:
    """Load a satseg ``.keras`` model with the custom layers/losses registered."""
    import zipfile

    import keras

    from satseg.models import custom_objects

    not_model = (
        f"{path} is not a readable Keras model (a .keras file is a zip archive; this one is "
        "truncated, damaged or another kind of file): copy the run folder again, or train again"
    )
    if path.is_file() and not zipfile.is_zipfile(path):
        raise ModelError(not_model)  # keras would say "File not found" for an existing file
    try:
        return keras.saving.load_model(path, custom_objects=custom_objects(), compile=compile)
    except Exception as exc:  # keras raises many types for a bad archive
        detail = " ".join(str(exc).split())[:300]
        if "File not found" in detail and path.is_file():
            raise ModelError(not_model) from None
        raise ModelError(
            f"cannot load model {path}: {detail}; copy the run folder again, or train again"
        ) from None


def predict_fn(model: Any) -> Any:
    """A compiled ``x -> probabilities`` numpy function for ``model`` (inference mode).

    One ``tf.function`` per model, traced once per batch shape; cheaper per call than
    ``model.predict`` and free of its per-call set-up.
    """
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def predict(x: np.ndarray) -> np.ndarray:
        return call(tf.convert_to_tensor(np.asarray(x, np.float32))).numpy()

    return predict


class RunModel:
    """A trained run loaded from its folder: metadata, normalisation and the model(s).

    Attributes: ``band_names`` (source bands the stack must hold, in order), ``indices``
    (computed after loading), ``channel_names`` (= band_names + indices, the model's input order),
    ``classes`` (ClassInfo tuple), ``input_size``, ``output_size``, ``margin``, ``mean``, ``std``,
    ``config`` (TrainConfig), ``meta`` (the raw meta.json dict), ``mode``.
    """

    def __init__(self, run_dir: Path, meta: dict[str, Any], models: Sequence[Any], config: Any):
        self.run_dir = Path(run_dir)
        self.meta = meta
        self.models = list(models)
        self._fns = [predict_fn(m) for m in self.models]
        self.config = config
        self.band_names: tuple[str, ...] = tuple(meta["bands"])
        self.indices: tuple[str, ...] = tuple(meta.get("indices", ()))
        self.channel_names: tuple[str, ...] = tuple(meta["channels"])
        self.classes = tuple(ClassInfo(**c) for c in meta["classes"])
        self.input_size = int(meta["input_size"])
        self.output_size = int(meta["output_size"])
        self.margin = int(meta["margin"])
        self.mean = np.asarray(meta["mean"], np.float32)
        self.std = np.asarray(meta["std"], np.float32)
        self.mode = meta.get("mode", "multiclass")
        self.val_ids = tuple(meta.get("val_ids", ()))

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def prepare(self, stack: Any) -> np.ndarray:
        """float32 ``(H, W, C)`` normalised input in the saved channel order.

        ``stack`` is an xarray ``(band, y, x)`` DataArray (as ``SegDataset.load_image`` returns);
        missing indices are computed with ``satseg.bands.add_indices``; a missing band raises
        BandMismatchError naming it.
        """
        from satseg.data.arrays import normalise, stack_to_hwc

        have = {str(b) for b in stack.coords["band"].values}
        todo = [i for i in self.indices if i not in have]
        if todo:
            missing = [b for b in self.band_names if b not in have]
            if missing:
                from satseg.errors import BandMismatchError

                raise BandMismatchError(
                    f"run {self.run_dir} needs band(s) {missing}; the stack has {sorted(have)}"
                )
            from satseg.bands import add_indices

            stack = add_indices(stack, todo)
        return normalise(stack_to_hwc(stack, self.channel_names), self.mean, self.std)

    def predict_patches(self, x: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """Per-class scores ``(N, out, out, n_classes)`` float32 in [0, 1] for inputs
        ``(N, in, in, C)``.

        Multiclass: the sigmoid probabilities. One-vs-all runs concatenate their per-class models
        in class order. Softmax runs give ``satseg.data.exclusive.exclusive_scores`` of the
        softmax (a class against its strongest rival): ``>= 0.5`` exactly at the arg-max, so the
        usual per-class thresholding gives mutually exclusive masks.
        """
        x = np.asarray(x, dtype=np.float32)
        expect = (self.input_size, self.input_size, len(self.channel_names))
        if x.ndim != 4 or x.shape[1:] != expect:
            raise ModelError(
                f"predict_patches needs inputs shaped (N, {expect[0]}, {expect[1]}, {expect[2]}), "
                f"got {x.shape}"
            )
        outs = []
        for fn in self._fns:
            parts = [
                np.asarray(fn(x[i : i + batch_size]), np.float32)
                for i in range(0, len(x), batch_size)
            ]
            if not parts:
                o = self.output_size
                parts = [
                    np.zeros(
                        (0, o, o, 1 if self.mode == "one_vs_all" else len(self.classes)), np.float32
                    )
                ]
            outs.append(np.concatenate(parts))
        out = np.concatenate(outs, axis=-1)
        if self.mode == "softmax" and len(out):
            from satseg.data.exclusive import exclusive_scores

            out = exclusive_scores(out)
        return out

    @property
    def exclusive(self) -> bool:
        """True for a softmax run: every pixel gets at most one class."""
        return self.mode == "softmax"

    def __repr__(self) -> str:
        return (
            f"<RunModel {self.run_dir} mode={self.mode} classes={list(self.class_names)} "
            f"channels={list(self.channel_names)} in={self.input_size} out={self.output_size}>"
        )


def load_run(run_dir: str | Path) -> RunModel:
    """Load a run folder written by :func:`satseg.training.train`."""
    from satseg._tensorflow import require_tensorflow

    require_tensorflow(f"loading the model in {run_dir}")
    from satseg.training.config import TrainConfig

    root = Path(run_dir)
    meta_path = root / META
    if not meta_path.is_file():
        raise ModelError(
            f"{root} is not a satseg run folder (no {META}); pass the --out folder of `satseg train`"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{meta_path} is not valid JSON: {exc}") from None
    config = (
        TrainConfig.from_yaml(root / "config.yaml") if (root / "config.yaml").is_file() else None
    )
    damaged = f"{meta_path} is damaged or not written by satseg"
    try:
        names = [str(c["name"]) for c in meta["classes"]]
    except (KeyError, TypeError, IndexError) as exc:
        raise ModelError(
            f"{damaged} (its 'classes' list of {{name, ...}} is unreadable: {exc!r}); copy the "
            "run folder again or train again"
        ) from None
    if meta.get("mode") == "one_vs_all":
        paths = [root / "models" / f"{class_slug(n)}.keras" for n in names]
    else:
        paths = [root / "model.keras"]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ModelError(
            f"run {root} lacks model file(s) {missing}: training did not finish a validated "
            "epoch; resume it with `satseg train --resume --out` or train again"
        )
    models = [load_keras_model(p) for p in paths]
    try:
        return RunModel(root, meta, models, config)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelError(f"{damaged} ({type(exc).__name__}: {exc}); copy the run folder again "
                         "or train again") from None
