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


def free_port(address: str) -> int:
    """A TCP port free on ``address`` now (the OS picks it; closed again for the server)."""
    import socket

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((address, 0))
            return int(sock.getsockname()[1])
    except OSError as exc:
        raise ConfigError(
            f"--address {address}: cannot bind there ({exc.strerror or exc}); give an address "
            "of this machine, e.g. 127.0.0.1"
        ) from None


def handler(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be in 0..65535, got {args.port}")
    from app.main import serve
    from app.settings import AppSettings

    settings = AppSettings.from_env().replace_from(args)
    # --port 0: pick the free port here, so the address printed is the real one and websocket
    # connections are allowed from that host:port only (never from any origin).
    port = args.port or free_port(args.address)
    print(f"satseg dashboard: http://{args.address}:{port}/app", flush=True)
    serve(settings, port=port, address=args.address,
          origins=tuple(args.allow_websocket_origin or ()), show=args.show)
    return 0
