"""Serve the dashboard for the browser tests where ``open_dataset("sample")`` is not available:
the real Dubai tiles are read directly (tests/data/dubai_direct.py) and added to the catalog.

``python -m tests.app.serve_testapp --port P --dubai ROOT [--store S] [--data PATH]``
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from app.catalog import Catalog
from app.main import serve
from app.settings import AppSettings


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dubai", required=True)
    p.add_argument("--store", action="append", default=[])
    p.add_argument("--data", action="append", default=[])
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    from tests.data.dubai_direct import DubaiDirect

    settings = AppSettings(data=tuple(args.data), stores=tuple(args.store) or ("study.db",))
    catalog = Catalog(settings)
    ids = ["tile_1/image_part_001", "tile_2/image_part_002", "tile_3/image_part_003"]
    catalog.add("dubai", DubaiDirect(Path(args.dubai), ids, crop=None))
    serve(settings, port=args.port, catalog=catalog)


if __name__ == "__main__":
    main()
