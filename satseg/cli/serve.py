"""``satseg serve``: start the Panel dashboard (binds to 127.0.0.1 unless told otherwise)."""

from __future__ import annotations

import argparse
import logging

from satseg.errors import ConfigError

log = logging.getLogger("satseg.cli.serve")


def register(parser: argparse.ArgumentParser) -> None:
    from app.settings import add_arguments

    add_arguments(parser)
    parser.add_argument("--port", type=int, default=5006, help="port (default 5006; 0 picks a free one)")
    parser.add_argument("--address", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it on the network)")
    parser.add_argument("--allow-websocket-origin", action="append", metavar="HOST[:PORT]",
                        help="extra origins allowed to connect (when served behind a proxy)")
    parser.add_argument("--show", action="store_true", help="open a browser tab")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be in 0..65535, got {args.port}")
    from app.main import serve
    from app.settings import AppSettings

    settings = AppSettings.from_env().replace_from(args)
    print(f"satseg dashboard: http://{args.address}:{args.port}/app", flush=True)
    serve(settings, port=args.port, address=args.address,
          origins=tuple(args.allow_websocket_origin or ()), show=args.show)
    return 0
