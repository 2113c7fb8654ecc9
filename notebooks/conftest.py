"""The notebooks are tests: nbmake (``--nbmake`` in pyproject's addopts) executes each one top to
bottom in a fresh kernel with its small settings (``SATSEG_NOTEBOOK_FULL`` unset). They train
models and run a search, so they are marked ``slow``: ``make test-fast`` skips them."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m deselection sees the items
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb" and HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.slow)
