"""The default ``--store`` of the commands that read or write a study store."""

from __future__ import annotations

import os

#: Environment variable naming the study store when ``--store`` is not given (``make demo``'s
#: store is ``.satseg-demo/study.db``; ``export SATSEG_STORE=.satseg-demo/study.db`` makes
#: ``satseg study list`` find it). ``satseg serve`` reads it too (app/settings.py).
STORE_ENV = "SATSEG_STORE"
FALLBACK = "satseg-study.db"


def default_store() -> str:
    """``$SATSEG_STORE`` if set (and not empty), else ``satseg-study.db`` in the current folder."""
    return os.environ.get(STORE_ENV, "").strip() or FALLBACK


def store_help(what: str = "study store file") -> str:
    return f"{what} (default: $SATSEG_STORE if set, else ./satseg-study.db; now {default_store()})"
