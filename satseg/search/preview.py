"""A prediction preview of one validation image (image | ground truth | prediction) as PNG,
so trials' outputs can be compared side by side.

Only a window of the image is predicted (:data:`WINDOW` px, the one of a 3 x 3 grid of
candidates where the most classes are present): on the Dubai tiles a whole-image preview cost
5.9 s of a 372 s trial (docs/search.md), and its 320 px panels showed a whole tile too small to
judge the prediction by anyway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

PANEL = 320  # px, longest side of each of the three panels
WINDOW = 512  # px, side of the predicted window (native resolution, shown at PANEL px)


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


def preview_window(truth: np.ndarray, size: int = WINDOW) -> tuple[slice, slice]:
    """The ``size`` x ``size`` window (rows, columns) of ``truth`` (K, H, W) to preview: of the
    3 x 3 grid of windows from corner to corner, the one where the most classes cover at least
    0.5% of the pixels; ties go to the window nearest the centre."""
    _, h, w = truth.shape
    sh, sw = min(size, h), min(size, w)
    best: tuple[float, float] | None = None
    win = (slice(0, sh), slice(0, sw))
    for fy in (0.5, 0.0, 1.0):
        for fx in (0.5, 0.0, 1.0):
            y0, x0 = round((h - sh) * fy), round((w - sw) * fx)
            cover = truth[:, y0:y0 + sh, x0:x0 + sw].mean(axis=(1, 2))
            key = (float((cover >= 0.005).sum()), -abs(fy - 0.5) - abs(fx - 0.5))
            if best is None or key > best:
                best, win = key, (slice(y0, y0 + sh), slice(x0, x0 + sw))
    return win


def write_preview(run_dir: Path, ds: Any, image_id: str, path: Path) -> Path:
    """Predict a window of ``image_id`` (:func:`preview_window`) with the run's model and write the three panels (image, ground truth, prediction) to ``path``."""
    from PIL import Image

    from satseg.inference import predict_image
    from satseg.training import load_run

    run = load_run(run_dir)
    labels = ds.load_labels(image_id)
    names = list(run.class_names)
    cls = {c.name: c for c in labels.classes}
    colours = [cls[n].colour if n in cls else "#ffffff" for n in names]
    truth = np.stack([labels.masks[[c.name for c in labels.classes].index(n)] for n in names])
    rows, cols = preview_window(truth)
    truth = truth[:, rows, cols]
    stack = ds.load_image(image_id)[:, rows, cols]
    # one view, windows side by side (no overlap): at 320 px a seam does not show, and the
    # preview costs a quarter of the smooth blend's windows
    probs = np.asarray(predict_image(run, stack, tta=1, subdivisions=1).values)
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
