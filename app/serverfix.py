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
3. Every HoloViews plot update runs inside ``doc.models.freeze()``, and bokeh (3.9) walks the
   whole document graph when the outermost freeze ends, whether or not a reference changed.
   With four tabs built, that walk was the largest cost on the event loop (0.3-0.5 s per image
   update on 2 cores beside a search, py-spy): :func:`recompute_only_when_changed`.
4. HoloViews re-schedules a plot refresh on the next tick for as long as its session's websocket
   is not connected. A session whose page never connects (a readiness probe's GET, a tab closed
   while loading) or has not connected yet span the event loop: every stream trigger started
   one more endless chain (py-spy: 10,000-20,000 refreshes a second after a minute, seconds of
   delay on every click of the real tab). :func:`no_refresh_spin` waits for the connection.
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


def recompute_only_when_changed() -> None:
    """Patch bokeh's ``DocumentModelManager`` so that the end of a freeze recomputes the
    document's model set only when something could have changed it: a reference property was
    set while frozen (bokeh's ``Model.trigger`` calls ``invalidate`` exactly then) or the roots
    changed. Without a freeze ``invalidate`` recomputes at once, as before. Idempotent."""
    from bokeh.document.models import DocumentModelManager

    if getattr(DocumentModelManager._pop_freeze, "_satseg_lazy", False):
        return
    original_recompute = DocumentModelManager.recompute

    def roots_of(self: Any) -> tuple[int, ...]:
        doc = self._document()
        return () if doc is None else tuple(id(r) for r in doc.roots)

    def recompute(self: Any) -> None:
        original_recompute(self)
        self._satseg_dirty = False
        self._satseg_roots = roots_of(self)

    def invalidate(self: Any) -> None:
        if self._freeze_count == 0:
            self.recompute()
        else:
            self._satseg_dirty = True

    def _pop_freeze(self: Any) -> None:
        self._freeze_count -= 1
        if self._freeze_count == 0 and (getattr(self, "_satseg_dirty", True)
                                        or getattr(self, "_satseg_roots", None) != roots_of(self)):
            self.recompute()

    _pop_freeze._satseg_lazy = True  # type: ignore[attr-defined]
    DocumentModelManager.recompute = recompute  # type: ignore[method-assign]
    DocumentModelManager.invalidate = invalidate  # type: ignore[method-assign]
    DocumentModelManager._pop_freeze = _pop_freeze  # type: ignore[method-assign]


#: seconds between two looks at whether a waiting plot's session has connected
CONNECT_POLL_S = 0.1


def no_refresh_spin() -> None:
    """Patch ``holoviews.plotting.plot.Plot.refresh``: while the plot's session exists but its
    websocket is not connected, keep the triggering streams (as HoloViews does) and look again
    in :data:`CONNECT_POLL_S`, with one pending look per plot; every other case is HoloViews'
    own. Idempotent."""
    from holoviews.plotting.plot import Plot
    from panel.io.state import state

    original = Plot.refresh
    if getattr(original, "_satseg_no_spin", False):
        return

    def refresh(self: Any, **kwargs: Any) -> None:
        doc = self.document
        ctx = getattr(doc, "session_context", None) if doc is not None else None
        waiting = (self.renderer.mode == "server" and ctx is not None
                   and getattr(ctx, "session", None) is not None
                   and not state._connected.get(doc))
        if not waiting:
            original(self, **kwargs)
            return
        self._triggering += [(s, dict(s._metadata))
                             for p in self.traverse(lambda x: x, [Plot])
                             for s in getattr(p, "streams", []) if s._triggering]
        if getattr(self, "_satseg_waiting", False):
            return

        def look_again() -> None:
            self._satseg_waiting = False
            if doc.session_context is not None:  # not destroyed meanwhile
                refresh(self)

        self._satseg_waiting = True
        doc.add_timeout_callback(look_again, int(CONNECT_POLL_S * 1000))

    refresh._satseg_no_spin = True  # type: ignore[attr-defined]
    Plot.refresh = refresh  # type: ignore[method-assign]


def apply() -> None:
    guard_websocket_close()
    no_refresh_spin()
    recompute_only_when_changed()
    quiet_placeholders()
    quiet_closed_sockets()
