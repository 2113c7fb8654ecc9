"""Band stacks: sensor specs, alignment + registration onto one grid, spectral indices.

Light at import time: numpy and the sensor/indices modules only; rasterio, dask, xarray and
scikit-image load inside the functions that use them.
"""

from satseg.bands.indices import add_indices, compute_index, find_band, list_indices, valid_mask
from satseg.bands.sensors import SensorSpec, get_sensor, list_sensors

__all__ = [
    "SensorSpec",
    "add_indices",
    "build_stack",
    "compute_index",
    "find_band",
    "get_sensor",
    "list_indices",
    "list_sensors",
    "open_stack",
    "valid_mask",
    "write_stack",
]


def __getattr__(name: str):  # lazy: building/writing stacks needs rasterio, dask, scipy
    if name in ("build_stack", "open_stack", "write_stack"):
        from satseg.bands import stack

        return getattr(stack, name)
    raise AttributeError(f"module 'satseg.bands' has no attribute {name!r}")
