"""Patch augmentation in numpy: dihedral views, 45-degree rotations, zoom, elastic, gain/offset.

Every geometric transform is applied to the image and to the target alike; the target is the
int8 ``(H, W, classes)`` array of the IGNORE CONTRACT (``satseg.models``): 0/1 per class and -1 in
every channel where a pixel is ignored, so the ignore mask follows the classes through nearest-
neighbour resampling.

- D4: the 8 symmetries of the square (4 rotations x optional transpose), exact index permutations.
  The 3rd-place DSTL solution trained with the full group (Iglovikov et al. 2017, arXiv:1706.06169).
- D8: D4 followed by an optional 45-degree rotation (the seed pipeline), resampled with
  reflection at the borders.
- zoom: isotropic scale in ``[1 - zoom, 1 + zoom]`` about the patch centre, reflected borders.
- elastic: Simard, Steinkraus & Platt 2003 ("Best practices for CNNs applied to visual document
  analysis"): a random displacement field smoothed by a Gaussian of ``sigma`` px, scaled by
  ``alpha`` px.
- gain/offset: per patch and channel ``x' = g x + o``, ``g ~ U(1 - gain, 1 + gain)``,
  ``o ~ U(-offset, offset)`` in normalised units (the seed pipeline's random linear transforms).

Rotation, zoom and elastic share one coordinate map and one ``map_coordinates`` call per channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

D4_SIZE = 8


def dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """Apply element ``k`` (0..7) of D4 to the first two axes of ``a``.

    ``k % 4`` quarter turns (``np.rot90``) after a transpose when ``k >= 4``; ``k = 0`` is the
    identity. Returns a view where possible.
    """
    if not 0 <= k < D4_SIZE:
        raise ValueError(f"dihedral index k={k} must be in 0..7")
    if k >= 4:
        a = np.swapaxes(a, 0, 1)
    return np.rot90(a, k % 4, axes=(0, 1))


def dihedral_inverse(a: np.ndarray, k: int) -> np.ndarray:
    """Undo :func:`dihedral` ``k``: ``dihedral_inverse(dihedral(a, k), k) == a``."""
    a = np.rot90(a, -(k % 4), axes=(0, 1))
    if k >= 4:
        a = np.swapaxes(a, 0, 1)
    return a


@dataclass(frozen=True, kw_only=True)
class AugmentConfig:
    """Which augmentations run on each training patch (all fields validated by TrainConfig)."""

    d4: bool = True
    rotate45: bool = False
    zoom: float = 0.0
    elastic_alpha: float = 0.0
    elastic_sigma: float = 8.0
    gain: float = 0.0
    offset: float = 0.0

    @property
    def warps(self) -> bool:
        """True when a resampling step (rotation, zoom, elastic) is on."""
        return self.rotate45 or self.zoom > 0 or self.elastic_alpha > 0


def _warp_coords(rng: np.random.Generator, size: int, cfg: AugmentConfig) -> np.ndarray | None:
    """Sampling coordinates ``(2, size, size)`` for rotation/zoom/elastic, or None if identity."""
    angle = 0.0
    if cfg.rotate45 and rng.random() < 0.5:
        angle = np.pi / 4
    scale = 1.0
    if cfg.zoom > 0:
        scale = float(rng.uniform(1.0 - cfg.zoom, 1.0 + cfg.zoom))
    elastic = cfg.elastic_alpha > 0
    if angle == 0.0 and scale == 1.0 and not elastic:
        return None
    c = (size - 1) / 2.0
    yy, xx = np.meshgrid(
        np.arange(size, dtype=np.float32) - c, np.arange(size, dtype=np.float32) - c, indexing="ij"
    )
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    ys = cos * yy - sin * xx + c
    xs = sin * yy + cos * xx + c
    if elastic:
        from scipy.ndimage import gaussian_filter

        for arr in (ys, xs):
            d = rng.uniform(-1.0, 1.0, (size, size)).astype(np.float32)
            d = gaussian_filter(d, cfg.elastic_sigma, mode="reflect")
            peak = float(np.abs(d).max()) or 1.0
            arr += d / peak * cfg.elastic_alpha
    return np.stack([ys, xs])


def _resample(a: np.ndarray, coords: np.ndarray, order: int) -> np.ndarray:
    from scipy.ndimage import map_coordinates

    out = np.empty(coords.shape[1:] + a.shape[2:], dtype=a.dtype)
    for ch in range(a.shape[2]):
        map_coordinates(a[:, :, ch], coords, output=out[:, :, ch], order=order, mode="mirror")
    return out


def augment_into(
    rng: np.random.Generator,
    image: np.ndarray,
    target: np.ndarray,
    cfg: AugmentConfig,
    x_out: np.ndarray,
    y_out: np.ndarray,
    margin: int = 0,
) -> None:
    """Augment one square patch straight into preallocated outputs (one copy per array).

    ``image`` float32 ``(S, S, C)`` and ``target`` int8 ``(S, S, K)`` are read only; ``x_out``
    ``(S, S, C)`` receives the image, ``y_out`` ``(S - 2m, S - 2m, K)`` the centre of the
    target (any numeric dtype). Geometric transforms act on both alike (bilinear for the image,
    nearest for the target, so 0/1/-1 stay exact); gain/offset act on the image only.
    """
    if cfg.d4:
        k = int(rng.integers(D4_SIZE))
        image, target = dihedral(image, k), dihedral(target, k)
    if cfg.warps:
        coords = _warp_coords(rng, image.shape[0], cfg)
        if coords is not None:
            image = _resample(np.ascontiguousarray(image), coords, order=1)
            target = _resample(np.ascontiguousarray(target), coords, order=0)
    x_out[...] = image
    if cfg.gain > 0 or cfg.offset > 0:
        ch = image.shape[2]
        x_out *= np.asarray(rng.uniform(1.0 - cfg.gain, 1.0 + cfg.gain, ch), np.float32)
        x_out += np.asarray(rng.uniform(-cfg.offset, cfg.offset, ch), np.float32)
    o = target.shape[0] - 2 * margin
    y_out[...] = target[margin : margin + o, margin : margin + o]


def augment_patch(
    rng: np.random.Generator, image: np.ndarray, target: np.ndarray, cfg: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Augment one square patch: image float32 ``(S, S, C)``, target int8 ``(S, S, K)``.

    Returns new arrays (see :func:`augment_into` for the rules).
    """
    x = np.empty(image.shape, np.float32)
    y = np.empty(target.shape, target.dtype)
    augment_into(rng, image, target, cfg, x, y)
    return x, y
