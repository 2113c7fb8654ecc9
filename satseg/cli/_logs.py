"""Quiet the loggers of the libraries a search drives, so the terminal shows satseg's progress."""

from __future__ import annotations

import logging

NOISY = ("distributed", "hyperopt", "tornado")


def quiet_search_loggers() -> None:
    """Raise dask's, hyperopt's and tornado's loggers to WARNING unless ``-v`` asked for debug.

    Their loggers only exist once the packages are imported, so they are imported first."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        return
    import distributed  # noqa: F401
    import hyperopt.tpe  # noqa: F401

    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in NOISY:
            logging.getLogger(name).setLevel(logging.WARNING)
