"""A prediction preview of one validation image (image | ground truth | prediction) as PNG,
so the dashboard can compare trials' outputs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

PANEL = 320  # px, longest side of each of the three panels


def _rgb(stack: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W, 3) uint8 with a 2-98 % stretch per band (first three bands)."""
    bands = stack[:3] if stack.shape[0] >= 3 else np.repeat(stack[:1], 3, axis=0)
    out = np.zeros(bands.shape[1:] + (3,), np.uint8)
    for k, b in enumerate(bands):
        finite = b[np.isfinite(b)]
        lo, hi = (np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0))
        out[..., k] = np.clip((np.nan_to_num(b, nan=lo) - lo) / max(hi - lo, 1e-9) * 255, 0, 255)
    return out


def colour_masks(masks: np.ndarray, colours: list[str]) -> np.ndarray:
    """(K, H, W) 0/1 -> (H, W, 3) uint8; overlapping classes: the later class is drawn on top."""
    out = np.zeros(masks.shape[1:] + (3,), np.uint8)
    for m, c in zip(masks, colours, strict=True):
        rgb = [int(c.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)]
        out[m.astype(bool)] = rgb
    return out


def write_preview(run_dir: Path, ds: Any, image_id: str, path: Path) -> Path:
    """Predict ``image_id`` with the run's model (1 view) and write the three panels to ``path``."""
    from PIL import Image

    from satseg.inference import predict_image
    from satseg.training import load_run

    run = load_run(run_dir)
    stack = ds.load_image(image_id)
    probs = np.asarray(predict_image(run, stack, tta=1).values)
    labels = ds.load_labels(image_id)
    names = list(run.class_names)
    cls = {c.name: c for c in labels.classes}
    colours = [cls[n].colour if n in cls else "#ffffff" for n in names]
    truth = np.stack([labels.masks[[c.name for c in labels.classes].index(n)] for n in names])
    panels = [_rgb(np.asarray(stack.values[:3])), colour_masks(truth, colours),
              colour_masks(probs >= 0.5, colours)]
    h, w = panels[0].shape[:2]
    scale = PANEL / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    imgs = [Image.fromarray(p).resize(size, Image.Resampling.NEAREST) for p in panels]
    canvas = Image.new("RGB", (size[0] * 3 + 8, size[1]), (255, 255, 255))
    for k, im in enumerate(imgs):
        canvas.paste(im, (k * (size[0] + 4), 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
