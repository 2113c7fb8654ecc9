"""satseg: multispectral satellite image segmentation.

``import satseg`` is light on purpose: it loads no TensorFlow, dask or Panel. Import the
sub-packages (``satseg.io``, ``satseg.bands``, ``satseg.models`` ...) for the real work.
"""

from satseg.errors import (
    BandMismatchError,
    ConfigError,
    DataError,
    LabelError,
    ManifestError,
    MissingFileError,
    ModelError,
    OutputError,
    RasterReadError,
    SatsegError,
    SpaceError,
    StoreError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "SatsegError",
    "DataError",
    "MissingFileError",
    "RasterReadError",
    "ManifestError",
    "LabelError",
    "BandMismatchError",
    "ConfigError",
    "SpaceError",
    "StoreError",
    "ModelError",
    "OutputError",
]
