"""Errors raised by satseg.

Every error a user can cause derives from :class:`SatsegError` and also from the matching
built-in exception, so ``except ValueError`` keeps working for callers that do not know satseg.
A message states the rule, shows the bad value (file, parameter) and says how to fix it.
"""

from __future__ import annotations


class SatsegError(Exception):
    """Root of every error satseg raises on purpose."""


class DataError(SatsegError, ValueError):
    """A data set, raster or label file breaks a rule (size, band count, values)."""


class MissingFileError(SatsegError, FileNotFoundError):
    """A file or folder that satseg needs is not there."""


class RasterReadError(DataError):
    """A raster exists but cannot be decoded."""


class ManifestError(DataError):
    """A ``satseg.yaml`` manifest is malformed or contradicts the files."""


class LabelError(DataError):
    """Labels (WKT, masks, GeoJSON) are invalid or do not match their image."""


class BandMismatchError(DataError):
    """Bands asked for are missing, or a model is used on data with other bands."""


class ConfigError(SatsegError, ValueError):
    """A model, training, prediction or search configuration is invalid."""


class SpaceError(ConfigError):
    """A search space file is invalid."""


class StoreError(SatsegError, RuntimeError):
    """The study store cannot be opened, read or written."""


class ModelError(SatsegError, ValueError):
    """A saved model or run folder is missing pieces or does not fit the data."""


class OutputError(SatsegError, OSError):
    """An output location cannot be written."""
