"""The server fixes: a closed tab's websocket and a destroyed session's next-tick callback do not
raise (real bokeh Document and ServerConnection objects)."""

from __future__ import annotations

import pytest

pytest.importorskip("panel")

from bokeh.document import Document  # noqa: E402

from app import serverfix  # noqa: E402


class _Context:  # a session context is all Document.session_context needs to be non-None
    id = "s"


def test_next_tick_on_a_destroyed_document_is_skipped():
    doc = Document()
    doc._session_context = lambda: _Context()  # what a server session sets (a weakref)
    assert serverfix.next_tick(doc, lambda: None)
    def listener(_event):  # the session's change listener, as a server session adds it
        pass

    doc.on_change(listener)
    doc.destroy(listener)  # what bokeh does when the tab's session is discarded
    # bokeh itself raises AttributeError '_change_callbacks' here, and leaves the destroyed
    # document patched in as curdoc() (its patch_curdoc has no finally): undo that for the
    # tests that follow
    from bokeh.io import doc as bokeh_doc

    patched = len(bokeh_doc._PATCHED_CURDOCS)
    try:
        with pytest.raises(AttributeError):
            doc.add_next_tick_callback(lambda: None)
    finally:
        del bokeh_doc._PATCHED_CURDOCS[patched:]
    assert serverfix.next_tick(doc, lambda: None) is False
    assert serverfix.next_tick(None, lambda: None) is False


def test_websocket_close_after_the_keep_alive_released_the_session():
    from bokeh.server.connection import ServerConnection
    from bokeh.server.views.ws import WSHandler

    serverfix.guard_websocket_close()
    serverfix.guard_websocket_close()  # idempotent
    assert getattr(WSHandler.on_close, "_satseg_guarded", False)

    class _Session:
        def subscribe(self, _c):
            pass

        def unsubscribe(self, _c):
            pass

    class _App:
        lost: list = []

        def client_lost(self, c):
            self.lost.append(c)
            c.detach_session()

    conn = ServerConnection(None, None, None, _Session())
    conn.detach_session()  # what BokehTornado._keep_alive does when the ping fails
    with pytest.raises(AssertionError):
        conn.session  # noqa: B018 - what the unguarded on_close read
    handler = WSHandler.__new__(WSHandler)
    handler.connection, handler.application = conn, _App()
    handler.close_code, handler.close_reason = 1001, None
    WSHandler.on_close(handler)  # no AssertionError
    assert _App.lost == [conn]


def test_a_failed_write_to_a_closed_socket_is_not_reported():
    import asyncio

    from tornado.websocket import WebSocketClosedError

    reported = []

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx.get("exception")))
        serverfix.quiet_closed_sockets()
        serverfix.quiet_closed_sockets()  # idempotent
        handler = loop.get_exception_handler()
        handler(loop, {"message": "Task exception was never retrieved",
                       "exception": WebSocketClosedError()})
        handler(loop, {"message": "other", "exception": ValueError("kept")})

    # In a thread of its own: Playwright's sync API (the browser tests) keeps a loop running in
    # the main thread, where asyncio.run would refuse to start.
    import threading

    worker = threading.Thread(target=lambda: asyncio.run(main()))
    worker.start()
    worker.join(30)
    assert [type(e) for e in reported] == [ValueError]


def test_document_recomputes_its_models_only_when_references_change(monkeypatch):
    """Bokeh walked the whole document after every freeze (every HoloViews plot update); the
    patch keeps the walk for freezes that changed a reference or the roots, and the document
    still finds every model it holds."""
    from bokeh.document import Document
    from bokeh.document.models import DocumentModelManager
    from bokeh.models import Column, Div

    serverfix.recompute_only_when_changed()
    serverfix.recompute_only_when_changed()  # idempotent
    calls = []
    patched = DocumentModelManager.recompute
    monkeypatch.setattr(DocumentModelManager, "recompute",
                        lambda self: (calls.append(1), patched(self))[-1])
    doc = Document()
    col = Column(children=[])
    doc.add_root(col)
    assert calls, "adding a root recomputes"
    div = Div(text="a")
    with doc.models.freeze():
        col.children = [div]
    assert doc.get_model_by_id(div.id) is div, "a model referenced inside a freeze is found"
    calls.clear()
    with doc.models.freeze():
        div.text = "b"  # not a reference: nothing to recompute
    assert calls == []
    other = Div(text="root")
    with doc.models.freeze():
        with doc.models.freeze():
            doc.add_root(other)
        assert calls == [], "nested freezes wait for the outermost"
    assert calls and doc.get_model_by_id(other.id) is other
    calls.clear()
    col.children = []  # outside a freeze: at once, as before
    assert calls and doc.get_model_by_id(div.id) is None
