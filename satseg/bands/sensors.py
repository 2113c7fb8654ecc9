"""Sensor specifications as data: band names, wavelengths, groups, resolution and bit depth.

A sensor lists its band groups (files of one resolution); each band has a name and a centre
wavelength in nm (``range`` keeps the published band edges). Spectral indices find bands by role
through these wavelengths (:mod:`satseg.bands.indices`). Sources: DOMAIN.md section 1 (DSTL /
WorldView-3), Landsat 8 OLI band table (USGS), plain RGB cameras.
"""

from __future__ import annotations

from dataclasses import dataclass

from satseg.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class BandInfo:
    """One band: ``name``, centre ``wavelength`` (nm) and the published ``range`` (nm)."""

    name: str
    range: tuple[float, float]
    description: str = ""

    @property
    def wavelength(self) -> float:
        return (self.range[0] + self.range[1]) / 2


@dataclass(frozen=True, kw_only=True)
class BandGroup:
    """Bands stored together at one resolution (one file in DSTL)."""

    name: str
    bands: tuple[BandInfo, ...]
    resolution_m: float
    bit_depth: int
    file_pattern: str = ""

    @property
    def max_value(self) -> float:
        """The largest raw value (``2**bit_depth - 1``), used to scale to reflectance-like 0..1."""
        return float(2**self.bit_depth - 1)


@dataclass(frozen=True, kw_only=True)
class SensorSpec:
    """A sensor: its band groups in stacking order."""

    name: str
    groups: tuple[BandGroup, ...]
    description: str = ""

    @property
    def bands(self) -> tuple[BandInfo, ...]:
        return tuple(b for g in self.groups for b in g.bands)

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)

    def group(self, name: str) -> BandGroup:
        for g in self.groups:
            if g.name == name:
                return g
        raise ConfigError(
            f"sensor {self.name!r} has no band group {name!r}; groups: "
            f"{[g.name for g in self.groups]}"
        )


def _b(name: str, lo: float, hi: float, desc: str = "") -> BandInfo:
    return BandInfo(name=name, range=(lo, hi), description=desc)


WORLDVIEW3 = SensorSpec(
    name="worldview3",
    description="WorldView-3 as delivered in the DSTL competition (RGB, P, M, A files)",
    groups=(
        BandGroup(
            name="RGB",
            bands=(_b("R", 630, 690, "red"), _b("G", 510, 580, "green"), _b("B", 450, 510, "blue")),
            resolution_m=0.31,
            bit_depth=11,
            file_pattern="three_band/{id}.tif",
        ),
        BandGroup(
            name="P",
            bands=(_b("P", 450, 800, "panchromatic"),),
            resolution_m=0.31,
            bit_depth=11,
            file_pattern="sixteen_band/{id}_P.tif",
        ),
        BandGroup(
            name="M",
            bands=(
                _b("M1", 400, 450, "coastal"),
                _b("M2", 450, 510, "blue"),
                _b("M3", 510, 580, "green"),
                _b("M4", 585, 625, "yellow"),
                _b("M5", 630, 690, "red"),
                _b("M6", 705, 745, "red edge"),
                _b("M7", 770, 895, "near-IR1"),
                _b("M8", 860, 1040, "near-IR2"),
            ),
            resolution_m=1.24,
            bit_depth=11,
            file_pattern="sixteen_band/{id}_M.tif",
        ),
        BandGroup(
            name="A",
            bands=(
                _b("A1", 1195, 1225, "SWIR1"),
                _b("A2", 1550, 1590, "SWIR2"),
                _b("A3", 1640, 1680, "SWIR3"),
                _b("A4", 1710, 1750, "SWIR4"),
                _b("A5", 2145, 2185, "SWIR5"),
                _b("A6", 2185, 2225, "SWIR6"),
                _b("A7", 2235, 2285, "SWIR7"),
                _b("A8", 2295, 2365, "SWIR8"),
            ),
            resolution_m=7.5,
            bit_depth=14,
            file_pattern="sixteen_band/{id}_A.tif",
        ),
    ),
)

RGB = SensorSpec(
    name="rgb",
    description="a plain 8-bit RGB camera (JPEG/PNG aerial photos)",
    groups=(
        BandGroup(
            name="RGB",
            bands=(
                _b("red", 620, 700, "red"),
                _b("green", 500, 580, "green"),
                _b("blue", 440, 510, "blue"),
            ),
            resolution_m=float("nan"),
            bit_depth=8,
        ),
    ),
)

LANDSAT8 = SensorSpec(
    name="landsat8",
    description="Landsat 8/9 OLI reflective bands (30 m multispectral, 15 m pan; 12-bit)",
    groups=(
        BandGroup(
            name="MS",
            bands=(
                _b("coastal", 433, 453, "coastal aerosol"),
                _b("blue", 450, 515),
                _b("green", 525, 600),
                _b("red", 630, 680),
                _b("nir", 845, 885, "near-IR"),
                _b("swir1", 1560, 1660),
                _b("swir2", 2100, 2300),
            ),
            resolution_m=30.0,
            bit_depth=12,
        ),
        BandGroup(name="PAN", bands=(_b("pan", 500, 680),), resolution_m=15.0, bit_depth=12),
    ),
)

SENSORS: dict[str, SensorSpec] = {s.name: s for s in (WORLDVIEW3, RGB, LANDSAT8)}
ALIASES = {"dstl": "worldview3", "wv3": "worldview3", "landsat": "landsat8"}


def list_sensors() -> list[str]:
    """The names of the registered sensors."""
    return sorted(SENSORS)


def get_sensor(name: str) -> SensorSpec:
    """The sensor spec called ``name`` (aliases: dstl, wv3, landsat); unknown names list the rest."""
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key not in SENSORS:
        raise ConfigError(
            f"unknown sensor {name!r}; valid sensors: {', '.join(list_sensors())} "
            f"(aliases: {', '.join(sorted(ALIASES))})"
        )
    return SENSORS[key]
