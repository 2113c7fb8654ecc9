"""The dashboard page: a template with a data set / store / study picker and four tabs."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import holoviews as hv
import panel as pn
import param

from app.catalog import Catalog
from app.settings import AppSettings

log = logging.getLogger("satseg.app")

TABS = ("Bands", "Hyperspace", "Trials", "Results")
#: The Results tab's body waits out of sight while another tab is shown, laid out and drawn, so
#: showing it only moves it back (0.66-0.70 s to a visible Results grid on an idle machine
#: before, 0.22-0.37 s after). Inline styles: a change of ``css_classes`` re-renders a root.
OFFSCREEN = {"position": "absolute", "left": "-20000px", "top": "0px", "width": "1300px",
             "visibility": "hidden"}
ONSCREEN = {"position": "relative", "left": "0px", "top": "0px", "width": "auto",
            "visibility": "visible"}
#: The other tabs are built at the latest this long after the page has loaded, even while the
#: Bands tab still waits for its first picture.
BUILD_LATER_AFTER_MS = 5000
#: Set once a page has built all its tabs: the warm-up's prefetch (registering large scenes,
#: Python-heavy, holding the GIL much of the time) waits for it, up to PREFETCH_WAIT_S.
PAGE_BUILT = threading.Event()
PREFETCH_WAIT_S = 30.0
_CATALOGS: dict[AppSettings, Catalog] = {}


def shared_catalog(settings: AppSettings) -> Catalog:
    """One :class:`Catalog` per settings per process, shared by all sessions (layers are cached)."""
    if settings not in _CATALOGS:
        _CATALOGS[settings] = Catalog(settings)
    return _CATALOGS[settings]


def init_extensions() -> None:
    """Load the Panel/HoloViews extensions once (idempotent)."""
    from app import serverfix

    pn.extension("tabulator", notifications=True, sizing_mode="stretch_width")
    hv.extension("bokeh", logo=False)
    # Canvas, not WebGL: the plots are rasterised images and small charts, and a browser without
    # GPU (remote desktops, headless chromium) ran WebGL in software: 0.4 s per image update.
    hv.renderer("bokeh").webgl = False
    pn.config.loading_indicator = True
    serverfix.apply()  # no traceback when a tab closes, no warning per empty image


def warm_up(catalog: Catalog | None = None, max_datasets: int = 8) -> None:
    """Run in a background thread at server start: compile
    datashader's numba kernels (raster, points, lines) once per process, so the first page does
    not wait for the JIT; import what registering a DSTL scene needs; then
    :meth:`Catalog.prefetch` the first ``max_datasets`` data sets, so that picking one in the
    sidebar answers from memory (a 3349 px DSTL scene took 7-12 s to register and read there)."""
    _compile_kernels()
    try:
        import scipy.optimize  # noqa: F401 - registration's refinement
        import skimage.registration  # noqa: F401 - 1 s on first use, inside a data-set switch
    except ImportError:
        pass
    if catalog is None:
        return
    # The first page draws before the prefetch competes with it for the GIL (a first picture
    # came 9-18 s after the page while a 3349 px scene registered); a server nobody visits
    # prefetches after PREFETCH_WAIT_S anyway.
    PAGE_BUILT.wait(PREFETCH_WAIT_S)
    for name in catalog.names()[:max_datasets]:
        try:
            catalog.prefetch(name)
        except Exception:  # noqa: BLE001 - only a speed-up; the view reports real errors
            log.warning("prefetch of data set %s failed", name, exc_info=True)


def _compile_kernels() -> None:
    import numpy as np
    from holoviews.operation.datashader import rasterize

    try:
        rng = np.random.default_rng(0)
        for n in (4, 96):  # up- and down-sampling paths, whole view and a zoomed view
            xs = np.arange(n) + 0.5
            img = rng.random((n, n)).astype(np.float32)
            img[0, 0] = np.nan
            for x_range in (None, (n / 4, n / 2)):
                kw = dict(dynamic=False, width=24, height=20, x_range=x_range, y_range=x_range)
                rasterize(hv.Image((xs, xs, img)), **kw)
                rasterize(hv.RGB((xs, xs, img, img, img, img), vdims=list("RGBA")), **kw)
        xs = np.arange(4) + 0.5
        rasterize(hv.Points((xs, xs)), aggregator="count", dynamic=False, width=8, height=8)
        import datashader as ds

        path = hv.Path([np.column_stack([xs, xs, xs])], vdims=["objective"])
        rasterize(path, aggregator=ds.mean("objective"), dynamic=False, width=8, height=8)
    except Exception:  # noqa: BLE001 - only a speed-up
        log.exception("warm-up failed")


class Dashboard(param.Parameterized):
    """All views of one browser session, and the page built from them."""

    def __init__(self, settings: AppSettings, catalog: Catalog | None = None, **params):
        super().__init__(**params)
        from app.studies import StudyState
        from app.views.bands import BandsView
        from app.views.hyperspace import HyperspaceView
        from app.views.results import ResultsView
        from app.views.trials import TrialsView

        self.settings = settings
        self.catalog = catalog or shared_catalog(settings)
        self.studies = StudyState(settings.store_paths())
        self.bands = BandsView(self.catalog)
        self.hyperspace = HyperspaceView(self.studies, self.catalog,
                                         auto_root=settings.auto_root())
        self.trials = TrialsView(self.studies)
        self.results = ResultsView(self.studies, self.catalog)

    def refresh(self) -> None:
        """Periodic: poll the store and background jobs (runs on the session's thread)."""
        for view in (self.bands, self.studies, self.hyperspace, self.trials, self.results):
            try:
                view.poll()
            except Exception:  # noqa: BLE001 - a failing poll must not stop the others
                log.exception("refresh of %s failed", type(view).__name__)

    def page(self) -> pn.template.BaseTemplate:
        from app.views.bands_ui import bands_layout
        from app.views.hyperspace_ui import hyperspace_layout
        from app.views.results_ui import results_layout
        from app.views.trials_ui import trials_layout

        w = pn.widgets
        data_select = w.Select.from_param(self.bands.param.dataset, name="Data set")
        store_select = w.Select.from_param(self.studies.param.store, name="Study store")
        study_select = w.Select.from_param(self.studies.param.study, name="Study")

        # The tab bar holds empty panels; each tab's content is a root of its own in the page,
        # shown while its tab is active. In one pn.Tabs every change in any tab (the Trials
        # refresh while a search runs, a Bands redraw) made the browser lay out and repaint
        # all four tabs: 1-3 s per Bands update beside a search. Separate roots are laid out
        # alone, and switching tabs only shows what is already in the browser.
        later = [(hyperspace_layout, self.hyperspace), (trials_layout, self.trials),
                 (results_layout, self.results)]
        holders = [pn.Column(sizing_mode="stretch_width", min_height=240, loading=True)
                   for _ in later]
        bodies = [bands_layout(self.bands), *holders]
        self._build_later(later, holders)
        tabs = pn.Tabs(*((name, pn.Spacer(height=0, sizing_mode="stretch_width"))
                         for name in TABS), sizing_mode="stretch_width", name="tabs")
        results_tab = TABS.index("Results")

        def place(i: int, shown: bool) -> None:
            if i == results_tab:  # drawn while hidden: showing it is instant (OFFSCREEN)
                bodies[i].styles = dict(ONSCREEN if shown else OFFSCREEN)
            else:
                bodies[i].visible = shown

        for i in range(len(bodies)):
            place(i, i == 0)

        def show(event) -> None:
            for i in range(len(bodies)):
                place(i, i == event.new)

        tabs.param.watch(show, "active")
        self.tabs = tabs
        # The Results and Hyperspace tabs follow the data set picked in the sidebar; Results only
        # once it is shown (its full-size composites are not computed for a hidden tab).

        def follow(*_):
            self.hyperspace.dataset = self.bands.dataset
            shown = tabs.active == results_tab
            if shown and self.results.dataset != self.bands.dataset:
                self.results.dataset = self.bands.dataset
            # Drawn while hidden too (built right after page load, like the other tabs).
            self.results.active = True

        self.bands.param.watch(follow, "dataset")
        tabs.param.watch(follow, "active")
        follow()
        template = pn.template.FastListTemplate(
            title=self.settings.title,
            sidebar=[data_select, store_select, study_select,
                     pn.pane.Markdown(self._help(), sizing_mode="stretch_width")],
            main=[tabs, *bodies],
            theme=self.settings.theme,
            theme_toggle=True,
            sidebar_width=280,
            accent="#0072B2",
            # no card around each root: a hidden tab's card stayed as an empty bar
            main_layout=None,
        )
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.add_periodic_callback(self.refresh, period=self.settings.refresh_ms)
        return template

    def _build_later(self, later: list, holders: list[pn.Column]) -> None:
        """Build the other tabs into ``holders`` once the Bands tab has drawn its first
        picture, one tab per event-loop turn, then keep them: switching tabs only shows what
        is already in the browser.

        Why: built as soon as the page had loaded (Panel's ``defer_load``), the three tabs
        and their first renders ran on the event loop before the Bands image's own refresh,
        queued behind them: the first picture came 9-18 s after the page on a loaded machine
        (issue 12). One tab per turn lets a click between two builds be served."""
        doc = pn.state.curdoc
        served = doc is not None and doc.session_context is not None
        session_doc: Any = doc

        def build(i: int) -> None:
            fn, view = later[i]
            try:
                holders[i].objects = [fn(view)]
            except Exception as exc:  # noqa: BLE001 - one broken tab must not stop the others
                log.exception("building tab %s failed", TABS[i + 1])
                from app.jobs import readable_error

                holders[i].objects = [pn.pane.Alert(
                    f"this tab could not be built: {readable_error(exc)}", alert_type="danger")]
            holders[i].loading = False
            if i + 1 < len(later):
                schedule(lambda: build(i + 1))
            else:
                PAGE_BUILT.set()

        def schedule(fn) -> None:
            if not served:  # a notebook or a test: no event loop to share
                fn()
                return
            from app.serverfix import next_tick

            next_tick(session_doc, fn)

        if not served:
            build(0)
            return

        def start(since: float) -> None:
            # The picture is in the plot (rasterised in a refresh that waits for the page's
            # websocket, then for the loop), or there will be none (no data set, an error),
            # or it takes long (a large scene registering first): the tabs need not wait.
            bands = self.bands
            if (bands.painted or bands.error or not self.catalog.names()
                    or time.monotonic() - since > BUILD_LATER_AFTER_MS / 1000):
                schedule(lambda: build(0))
            else:
                session_doc.add_timeout_callback(lambda: start(since), 100)

        pn.state.onload(lambda: start(time.monotonic()))

    def _help(self) -> str:
        return (
            "Data sets and stores are those found under the folders the server was started with "
            "(`satseg serve --data ... --store ...`)."
        )


def create_app(settings: AppSettings | None = None, catalog: Catalog | None = None
               ) -> pn.template.BaseTemplate:
    """Build the page for one session."""
    init_extensions()
    return Dashboard(settings or AppSettings.from_env(), catalog).page()


def serve(settings: AppSettings, *, port: int = 5006, address: str = "127.0.0.1",
          origins: tuple[str, ...] = (), show: bool = False, catalog: Catalog | None = None) -> None:
    """Serve the dashboard at ``http://address:port/app`` until interrupted (blocks)."""
    catalog = catalog or shared_catalog(settings)
    log.info("data sets: %s", ", ".join(catalog.names()) or "none found")
    log.info("stores: %s", ", ".join(settings.store_paths().values()) or "none")
    threading.Thread(target=warm_up, args=(catalog,), name="satseg-app-warm-up",
                     daemon=True).start()
    allowed = [f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}", *origins]
    # Callbacks run on the server's event loop, one at a time (HoloViews' plot callbacks are not
    # thread-safe); long work (labels, predictions, searches) runs in background jobs instead.
    pn.serve({"app": lambda: create_app(settings, catalog)}, port=port, address=address,
             websocket_origin=allowed if port else "*", show=show, title=settings.title)
