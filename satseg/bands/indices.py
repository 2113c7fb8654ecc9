"""Spectral indices on a band stack, bands found by role through their wavelengths.

Literature formulas (DOMAIN.md section 4):

- NDVI = (NIR - R) / (NIR + R)                     Rouse et al. 1974
- NDWI = (G - NIR) / (G + NIR)                     McFeeters 1996
- SAVI = (1 + L)(NIR - R) / (NIR + R + L), L=0.5   Huete 1988
- EVI  = 2.5 (NIR - R) / (NIR + 6 R - 7.5 B + 1)   Huete et al. 2002
- NDRE = (NIR - RE) / (NIR + RE)                   Barnes et al. 2000
- CCCI = NDRE / NDVI                               Barnes et al. 2000

Reflectance scaling: SAVI and EVI have additive constants (L, 1) meant for reflectance in 0..1.
Each band is divided by its ``max_value`` coordinate (``2**bit_depth - 1`` of its sensor group,
written by :func:`satseg.bands.stack.build_stack`; 2047 for DSTL RGB/P/M, 16383 for A) or by the
``scale`` argument; a stack without either is assumed to hold reflectance already. Normalised
differences are scale-free when their two bands share a scale, so they use raw values.

Zero guards: where a denominator is 0 (or not finite) the index is NaN, never inf.

``variant="dstl3rd"`` reproduces the 3rd-place DSTL code on raw values: EVI without the 2.5
gain, "SAVI" equal to NDVI, CCCI = NDRE * NDVI; other indices equal the literature ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from satseg.errors import BandMismatchError, ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

# role -> (lowest, highest, preferred centre) wavelength in nm
ROLES: dict[str, tuple[float, float, float]] = {
    "blue": (440.0, 515.0, 480.0),
    "green": (500.0, 600.0, 550.0),
    "red": (600.0, 700.0, 660.0),
    "red_edge": (700.0, 760.0, 725.0),
    "nir": (760.0, 1000.0, 842.0),
}
VARIANTS = ("literature", "dstl3rd")
SAVI_L = 0.5


def _wavelengths(stack: xr.DataArray) -> np.ndarray:
    if "wavelength" not in stack.coords:
        raise BandMismatchError(
            "the stack has no 'wavelength' coordinate on 'band': indices find bands by "
            "wavelength; build it with satseg.bands.build_stack or a manifest listing wavelengths"
        )
    return np.asarray(stack.coords["wavelength"].values, dtype=float)


def find_band(stack: xr.DataArray, role: str, index: str = "") -> str:
    """The name of the band playing ``role`` (nearest to the role's centre; ties: stack order)."""
    if role not in ROLES:
        raise ConfigError(f"unknown band role {role!r}; roles: {', '.join(ROLES)}")
    lo, hi, centre = ROLES[role]
    wl = _wavelengths(stack)
    names = [str(n) for n in stack.coords["band"].values]
    inside = [i for i, w in enumerate(wl) if np.isfinite(w) and lo <= w <= hi]
    if not inside:
        what = f"index {index!r} needs" if index else "needs"
        raise BandMismatchError(
            f"{what} a {role} band ({lo:g}-{hi:g} nm); the stack has "
            f"{', '.join(f'{n} ({w:g} nm)' for n, w in zip(names, wl, strict=True))}. "
            "Use data with that band or pick another index"
        )
    best = min(inside, key=lambda i: (abs(wl[i] - centre), i))
    return names[best]


def _band(stack: xr.DataArray, role: str, index: str, scaled: bool, scale: float | None) -> Any:
    name = find_band(stack, role, index)
    band = stack.sel(band=name).astype(np.float32)
    if scaled:
        if scale is not None:
            band = band / np.float32(scale)
        elif "max_value" in stack.coords:
            mv = float(stack.coords["max_value"].sel(band=name))
            if np.isfinite(mv) and mv > 0:
                band = band / np.float32(mv)
    return band.drop_vars([c for c in band.coords if c not in ("y", "x")])


def _ratio(num: Any, den: Any) -> Any:
    ok = np.isfinite(den) & (den != 0)
    return (num / den.where(ok)).astype(np.float32)


def _nd(a: Any, b: Any) -> Any:
    """Normalised difference (a - b) / (a + b), NaN where a + b == 0."""
    return _ratio(a - b, a + b)


def _ndvi(g: Callable[..., Any], variant: str) -> Any:
    return _nd(g("nir"), g("red"))


def _ndwi(g: Callable[..., Any], variant: str) -> Any:
    return _nd(g("green"), g("nir"))


def _ndre(g: Callable[..., Any], variant: str) -> Any:
    return _nd(g("nir"), g("red_edge"))


def _savi(g: Callable[..., Any], variant: str) -> Any:
    if variant == "dstl3rd":
        return _ndvi(g, variant)
    nir, red = g("nir", scaled=True), g("red", scaled=True)
    return _ratio((1 + SAVI_L) * (nir - red), nir + red + SAVI_L)


def _evi(g: Callable[..., Any], variant: str) -> Any:
    if variant == "dstl3rd":
        nir, red, blue = g("nir"), g("red"), g("blue")
        return _ratio(nir - red, nir + 6 * red - 7.5 * blue + 1)
    nir, red, blue = g("nir", scaled=True), g("red", scaled=True), g("blue", scaled=True)
    return _ratio(2.5 * (nir - red), nir + 6 * red - 7.5 * blue + 1)


def _ccci(g: Callable[..., Any], variant: str) -> Any:
    ndre, ndvi = _ndre(g, variant), _ndvi(g, variant)
    if variant == "dstl3rd":
        return (ndre * ndvi).astype(np.float32)
    return _ratio(ndre, ndvi)


INDICES: dict[str, tuple[Callable[..., Any], tuple[str, ...], str]] = {
    "ndvi": (_ndvi, ("nir", "red"), "(NIR - R) / (NIR + R)"),
    "ndwi": (_ndwi, ("green", "nir"), "(G - NIR) / (G + NIR)  (McFeeters)"),
    "savi": (_savi, ("nir", "red"), "1.5 (NIR - R) / (NIR + R + 0.5)"),
    "evi": (_evi, ("nir", "red", "blue"), "2.5 (NIR - R) / (NIR + 6R - 7.5B + 1)"),
    "ndre": (_ndre, ("nir", "red_edge"), "(NIR - RE) / (NIR + RE)"),
    "ccci": (_ccci, ("nir", "red_edge", "red"), "NDRE / NDVI"),
}


def list_indices(stack: xr.DataArray | None = None) -> list[str]:
    """Index names; with ``stack``, only those whose bands the stack has."""
    if stack is None:
        return list(INDICES)
    out = []
    for name, (_, roles, _) in INDICES.items():
        try:
            for r in roles:
                find_band(stack, r, name)
        except BandMismatchError:
            continue
        out.append(name)
    return out


def compute_index(
    stack: xr.DataArray,
    name: str,
    variant: str = "literature",
    *,
    scale: float | None = None,
) -> xr.DataArray:
    """One index as a float32 ``(y, x)`` DataArray (lazy when the stack is), NaN where undefined.

    ``name`` is one of :func:`list_indices`; ``variant`` is ``"literature"`` or ``"dstl3rd"``;
    ``scale`` overrides the per-band ``max_value`` used to scale SAVI/EVI bands to 0..1.
    """
    key = str(name).lower()
    if key not in INDICES:
        raise ConfigError(f"unknown index {name!r}; valid indices: {', '.join(INDICES)}")
    if variant not in VARIANTS:
        raise ConfigError(f"unknown variant {variant!r} for {key}; valid: {', '.join(VARIANTS)}")
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise ConfigError(f"scale={scale}: give a positive number (e.g. 2047 for 11-bit data)")
    fn, roles, formula = INDICES[key]
    for r in roles:  # fail before any arithmetic, naming the index and the band
        find_band(stack, r, key)

    def get(role: str, scaled: bool = False) -> Any:
        return _band(stack, role, key, scaled, scale)

    out = fn(get, variant)
    out.name = key
    out.attrs = {"index": key, "variant": variant, "formula": formula}
    return out.astype(np.float32)


def add_indices(
    stack: xr.DataArray, names: Sequence[str], variant: str = "literature"
) -> xr.DataArray:
    """``stack`` with one extra band per index, named as the index (wavelength NaN)."""
    import xarray as xr

    if isinstance(names, str):
        names = [names]
    have = [str(b) for b in stack.coords["band"].values]
    parts = []
    for n in names:
        key = str(n).lower()
        if key in have:
            raise BandMismatchError(f"add_indices: the stack already has a band named {key!r}")
        band = compute_index(stack, key, variant).expand_dims(band=[key])
        parts.append(band)
    if not parts:
        return stack
    extra = xr.concat(parts, dim="band")
    extra = extra.assign_coords(
        {c: ("band", [_fill(stack.coords[c].dtype)] * len(parts)) for c in _band_coords(stack)}
    )
    out = xr.concat([stack, extra], dim="band", coords="minimal", compat="override")
    out.attrs = dict(stack.attrs)
    return out.astype(np.float32)


def _band_coords(stack: xr.DataArray) -> list[str]:
    return [str(c) for c, v in stack.coords.items() if v.dims == ("band",) and c != "band"]


def _fill(dtype: np.dtype) -> Any:
    return np.nan if np.issubdtype(dtype, np.floating) else ""


def valid_mask(stack: xr.DataArray, all_bands: bool = False) -> xr.DataArray:
    """Per-band validity (``band, y, x`` bool): True where the pixel is finite (not NaN/inf).

    With ``all_bands=True``, one ``(y, x)`` mask: True where every band is valid.
    """
    import xarray as xr

    ok = xr.apply_ufunc(np.isfinite, stack, dask="allowed")
    return ok.all("band") if all_bands else ok
