"""Fixes for the terminal of ``satseg serve``: no traceback when a browser tab closes, and no
warning per empty placeholder image or write to a closed tab's socket. :func:`next_tick` hands a background result to a session
that may have ended meanwhile.

1. Bokeh's ``WSHandler.on_close`` reads ``connection.session``, which asserts the session is
   still attached. The server's keep-alive job detaches it first (``client_lost`` after the ping
   of a closed tab fails with ``WebSocketClosedError``); then ``on_close`` raised AssertionError
   and tornado printed "Uncaught exception GET /app/ws" with a traceback. It happened on a busy
   server (a search training beside it), where the ping often runs before the close frame is
   read. The guarded ``on_close`` skips the session part when the session is already gone.
2. The panes show an all-NaN RGBA image until there is something to draw; HoloViews' range
   computation warns "All-NaN slice encountered" for it on every redraw.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

log = logging.getLogger("satseg.app")


def guard_websocket_close() -> None:
    """Patch ``bokeh.server.views.ws.WSHandler.on_close`` once (idempotent)."""
    from bokeh.server.views.ws import WSHandler

    original = WSHandler.on_close
    if getattr(original, "_satseg_guarded", False):
        return

    def on_close(self: WSHandler) -> None:
        log.info("a browser tab closed its connection")
        connection = getattr(self, "connection", None)
        if connection is not None and getattr(connection, "_session", None) is None:
            # The keep-alive job already called client_lost: nothing is left to clean up.
            log.debug("websocket closed after its session was released")
            application: Any = self.application  # bokeh's BokehTornado
            application.client_lost(connection)  # idempotent: discard + detach
            return
        original(self)

    on_close._satseg_guarded = True  # type: ignore[attr-defined]
    WSHandler.on_close = on_close  # type: ignore[method-assign]


def quiet_placeholders() -> None:
    """Ignore HoloViews' "All-NaN slice" RuntimeWarning of the empty placeholder images."""
    warnings.filterwarnings("ignore", message="All-NaN slice encountered", category=RuntimeWarning,
                            module=r"holoviews\.core\.data\.grid")


def next_tick(doc: Any, fn: Any) -> bool:
    """``doc.add_next_tick_callback(fn)`` from any thread, unless the session has ended: a
    background read that finishes after its tab closed finds the Document destroyed (its
    callback manager's attributes deleted, so bokeh raised AttributeError '_change_callbacks'
    in a concurrent.futures callback). Returns whether ``fn`` was scheduled."""
    if doc is None or doc.session_context is None:  # Document.destroy sets it to None
        return False
    from bokeh.io import doc as bokeh_doc

    patched = len(bokeh_doc._PATCHED_CURDOCS)
    try:
        doc.add_next_tick_callback(fn)
    except AttributeError:  # destroyed between the check and the call
        # bokeh raised inside its patch_curdoc() block, which has no finally: drop the dead
        # document it left as every later curdoc() ("Patched curdoc has been destroyed").
        del bokeh_doc._PATCHED_CURDOCS[patched:]
        log.debug("session ended before a background result arrived")
        return False
    return True


def quiet_closed_sockets() -> None:
    """On the server's event loop: drop "Task exception was never retrieved ...
    WebSocketClosedError" reports. Panel writes document patches to a tab's websocket as
    futures; when the tab has closed meanwhile, the write fails and, if the session is being
    torn down, nobody awaits it, so asyncio printed a traceback. Nothing is lost (the tab is
    gone); every other exception goes to the loop's previous handler. Idempotent."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop here (tests, a script): nothing to do
        return
    previous = loop.get_exception_handler()
    if getattr(previous, "_satseg_quiet", False):
        return
    from tornado.iostream import StreamClosedError
    from tornado.websocket import WebSocketClosedError

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), (WebSocketClosedError, StreamClosedError)):
            log.debug("a write to a closed tab's websocket was dropped")
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler._satseg_quiet = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


def apply() -> None:
    guard_websocket_close()
    quiet_placeholders()
    quiet_closed_sockets()
