"""Dashboard responsiveness in a real browser (headless chromium through Playwright).

Measures, on this machine:
- time to the first picture in the Bands plot after the page is opened (information),
- time to the first render of each tab (the page itself loaded once before),
- time from a mouse-wheel zoom on a full-size 20-band DSTL-like scene (3349 px, written by
  ``satseg.datasets.synth.write_synthetic_dstl``) to the re-rasterised image in the page,
- time from a band change to the updated image: the first band of a band group not computed
  before (DSTL: P, M1, A1), another band of a group computed before, and a band shown before,
- the first interactions after the page has loaded (image switch, overlay toggle, mode switch),
  and a data-set switch,
while a ``quick`` search of the bundled sample runs beside the server on the same machine
(``--no-search`` to leave it out; its trials run at a lower CPU priority, satseg.search._child).
Beside each figure: the CPU seconds the server's event loop spent on it.
Target: each under 1 s after the first load. Prints the figures and PASS/FAIL; exits 1 on FAIL.

``python benchmarks/bench_app.py [--size 3349] [--keep DIR] [--no-search]``
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 1.0
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: Any change the server sends to the page (every Bokeh document event).
DOC_HOOK = """() => { window.__upd = 0; window.__last = performance.now();
  if (!window.__doc_hooked) { window.__doc_hooked = true;
    for (const d of window.Bokeh.documents)
      d.on_change(() => { window.__upd += 1; window.__last = performance.now(); }); }
  return true; }"""

#: Whether the Bands plot shows an image (its placeholder is 2 x 2 pixels).
PICTURE = """() => { for (const d of window.Bokeh ? Bokeh.documents : [])
  for (const m of d.all_models) { if (m.glyph && m.glyph.type === 'Image') {
    const im = m.data_source.data.image;
    if (im && im.length && im[0].shape && im[0].shape[0] > 2) return true; } }
  return false; }"""

HOOK = """() => {
  window.__upd = 0; window.__last = 0; window.__times = [];
  for (const doc of window.Bokeh.documents) for (const m of doc.all_models) {
    if (m.glyph && m.glyph.type && m.glyph.type.startsWith('Image') && !m.__hooked) {
      m.__hooked = true;
      const kind = m.glyph.type + (m.name ? ':' + m.name : '') + '#' + m.id.slice(-4);
      m.data_source.change.connect(() => { window.__upd += 1; window.__last = performance.now();
                                           window.__times.push([window.__last, kind]); });
    }
  }
  return true;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fallback_dataset(size: int):
    """A lazy 20-band DSTL-like scene in memory, for checkouts without the synthetic DSTL writer:
    RGB and P at full size, M (8 bands) at 1/4 and A (8 bands) at 1/25 resolution, upsampled
    lazily per dask chunk as a registered DSTL stack would be. Ten overlapping classes."""
    import dask.array as da
    import numpy as np
    import xarray as xr

    from satseg.io.dataset import ClassInfo, Labels, SegDataset

    names = ["R", "G", "B", "P"] + [f"M{i}" for i in range(1, 9)] + [f"A{i}" for i in range(1, 9)]
    wl = [660, 545, 480, 600, 425, 480, 545, 605, 660, 725, 833, 950,
          1210, 1570, 1660, 1730, 2165, 2205, 2260, 2330]
    factor = [1] * 4 + [4] * 8 + [25] * 8
    h, w = size, size + 42

    def band(i: int):
        def block(block_info=None):
            (y0, y1), (x0, x1) = block_info[None]["array-location"]
            f = factor[i]
            yy = (np.arange(y0, y1) // f * f)[:, None].astype(np.float32)
            xx = (np.arange(x0, x1) // f * f)[None, :].astype(np.float32)
            v = (np.sin(yy / (60 + 7 * i)) * np.cos(xx / (85 - 3 * i)) + 0.3 * np.sin((xx + yy) / 23.0))
            return (1000 + 400 * v + 5 * i).astype(np.float32)

        return da.map_blocks(block, chunks=((1024,) * (h // 1024) + (h % 1024,),
                                            (1024,) * (w // 1024) + (w % 1024,)), dtype=np.float32)

    class Scene(SegDataset):
        kind = "generic"

        @property
        def band_names(self):
            return tuple(names)

        def ids(self):
            return ["6120_2_2"]

        def labelled_ids(self):
            return self.ids()

        def load_image(self, image_id):
            data = da.stack([band(i) for i in range(20)])
            return xr.DataArray(data, dims=("band", "y", "x"),
                                coords={"band": names, "wavelength": ("band", np.array(wl, float))})

        def load_labels(self, image_id):
            yy, xx = np.mgrid[0:h, 0:w]
            masks = np.stack([((np.sin(yy / (40 + 9 * k)) + np.cos(xx / (55 + 5 * k))) > 1.2)
                              for k in range(10)]).astype(np.uint8)
            return Labels(masks=masks, ignore=np.zeros((h, w), bool), classes=self.classes)

    colours = ["#ff0000", "#00ff00", "#0000ff", "#ffff00", "#00ffff", "#ff00ff", "#800000",
               "#008000", "#000080", "#808000"]
    classes = tuple(ClassInfo(name=f"class {k + 1}", colour=c, code=k + 1) for k, c in enumerate(colours))
    return Scene(Path("synthetic"), f"dstl-like-{size}", classes)


def serve_fallback(port: int, size: int, store: str) -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if os.environ.get("SATSEG_BENCH_DEBUG"):
        logging.getLogger("satseg.app").setLevel(logging.DEBUG)
    from app.catalog import Catalog
    from app.main import serve
    from app.settings import AppSettings

    try:
        from satseg.io import open_dataset

        open_dataset("sample")
        data: tuple[str, ...] = ("sample",)
    except Exception:  # noqa: BLE001 - the bundled sample is not in this checkout yet
        data = ()
    settings = AppSettings(data=data, stores=(store,))
    catalog = Catalog(settings)
    catalog.add(f"dstl-{size}", fallback_dataset(size))
    serve(settings, port=port, catalog=catalog)


def write_scene(folder: Path, size: int) -> Path:
    from satseg.datasets.synth import write_synthetic_dstl

    if not (folder / "grid_sizes.csv").is_file():
        t = time.perf_counter()
        write_synthetic_dstl(folder, scenes=1, size=size, seed=0)
        print(f"wrote a {size} px 20-band synthetic DSTL scene in {time.perf_counter() - t:.1f} s")
    return folder


def wait(fn, timeout=120.0, interval=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def settle(page, t0: float, quiet_ms: float = 400.0, timeout: float = 60.0) -> float:
    """Seconds from ``t0`` (page clock, ms) to the last image update once updates stop."""
    page.wait_for_function("window.__upd > 0", timeout=timeout * 1000)
    while True:
        now, last = page.evaluate("[performance.now(), window.__last]")
        if now - last > quiet_ms:
            return (last - t0) / 1000.0
        time.sleep(0.05)


def loop_cpu(pid: int | None) -> float:
    """CPU seconds of the server's main thread (its event loop); 0 where /proc is not there."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle(page, timeout: float = 120.0) -> None:
    """Until no pane shows its loading spinner."""
    wait(lambda: page.locator(".pn-loading").count() == 0, timeout, 0.05, "the page to be idle")


def interact(page, action, pid: int | None, quiet_ms: float = 700.0) -> tuple[float, float]:
    """Seconds from ``action()`` to the last update of an image in the page (no spinner left and
    no image update for ``quiet_ms``), and the server loop's CPU seconds meanwhile. Only image
    glyphs count: the Trials tab, refreshed while the search runs, changes the page meanwhile."""
    page.evaluate(HOOK)
    c0, t0 = loop_cpu(pid), page.evaluate("performance.now()")
    action()
    page.wait_for_function("window.__upd > 0", timeout=120_000)
    idle(page)
    while True:
        now, last = page.evaluate("[performance.now(), window.__last]")
        if now - last > quiet_ms and page.locator(".pn-loading").count() == 0:
            if os.environ.get("SATSEG_BENCH_TRACE"):  # every image update, s after the action
                times = page.evaluate("window.__times")
                print("   updates at", ", ".join(f"{(t - t0) / 1000:.2f} {k}" for t, k in times),
                      flush=True)
            return (last - t0) / 1000.0, loop_cpu(pid) - c0
        time.sleep(0.05)


def select_in(page, label: str):
    return page.locator(".bk-input-group", has_text=label).locator("select").first


def measure(url: str, dstl_label: str, pid: int | None = None) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    measure.cpu = cpu  # type: ignore[attr-defined]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("SATSEG_CHROMIUM", "/usr/bin/chromium"),
                                    args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.route("**/fonts.googleapis.com/**", lambda r: r.abort())
        t = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(".bands-plot canvas", timeout=120_000)
        out["first load (page + Bands)"] = [time.perf_counter() - t]
        # The plot's canvas comes with the page; the picture in it later (it came 9-18 s after
        # the page, behind the other tabs' builds, before they were built after it).
        wait(lambda: page.evaluate(PICTURE), 180, 0.05, "the first picture in the Bands plot")
        out["first load: first picture in the Bands plot"] = [time.perf_counter() - t]
        # The other tabs are built right after the page loads (deferred); wait for them.
        wait(lambda: page.locator(".pn-loading").count() == 0, 180, 0.1, "the deferred tabs")
        out["page fully loaded (all tabs built)"] = [time.perf_counter() - t]
        # The first interactions after the page has loaded: another image, the overlay off and
        # on, the RGB composite and back.
        images = select_in(page, "Image").locator("option").all_inner_texts()
        steps = [("first interaction: image switch", lambda: select_in(page, "Image").select_option(images[1])),
                 ("first interaction: overlay off", lambda: page.locator(".show-labels label").first.click()),
                 ("first interaction: overlay on", lambda: page.locator(".show-labels label").first.click()),
                 ("first interaction: RGB composite",
                  lambda: page.locator(".bk-btn", has_text="RGB composite").first.click()),
                 ("first interaction: single layer",
                  lambda: page.locator(".bk-btn", has_text="Single layer").first.click())]
        for name, action in steps:
            took, spent = interact(page, action, pid)
            out[name], cpu[name] = [took], [spent]
        for tab, sel in (("Hyperspace", "textarea"), ("Trials", ".bk-tab"), ("Results", ".results-grid canvas")):
            t = time.perf_counter()
            page.locator(".bk-tab", has_text=tab).first.click()
            page.wait_for_selector(sel, timeout=60_000)
            if tab == "Trials":
                wait(lambda: page.locator("canvas").count() > 2, what="Trials plots")
            out[f"first render of tab {tab}"] = [time.perf_counter() - t]
        t = time.perf_counter()
        page.locator(".bk-tab", has_text="Bands").first.click()
        page.wait_for_selector(".bands-plot canvas", timeout=60_000)
        out["back to tab Bands"] = [time.perf_counter() - t]

        # The large scene: pick it in the sidebar (its first band is computed once here).
        data_select = page.locator(".bk-input-group", has_text="Data set").locator("select").first
        if data_select.input_value() != dstl_label:
            took, spent = interact(page, lambda: data_select.select_option(dstl_label), pid)
            name = "data-set switch to the large scene (first band read)"
            out[name], cpu[name] = [took], [spent]
        else:
            out["first load (page + Bands)"][0] = out["first load (page + Bands)"][0]  # it opened first
        box = page.locator(".bands-plot canvas").first.bounding_box()
        assert box is not None, "the Bands plot has no canvas"
        cx, cy = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.45
        page.mouse.move(cx, cy)
        zooms, zoom_cpu = [], []
        for delta in (-300, -300, -300, 600, 300):
            page.evaluate(HOOK)
            c0, t0 = loop_cpu(pid), page.evaluate("performance.now()")
            page.mouse.wheel(0, delta)
            zooms.append(settle(page, t0))
            zoom_cpu.append(loop_cpu(pid) - c0)
        out["zoom -> updated image"], cpu["zoom -> updated image"] = zooms, zoom_cpu
        select = page.locator(".bk-input-group", has_text="Band or index").locator("select").first
        options = [o for o in select.locator("option").all_inner_texts()]
        # A band group (DSTL: RGB, P, 8 M, 8 A bands) is read and resampled in one task per row
        # block, and the app keeps every band of a group it computed. So: the first band of
        # groups not computed yet (P, M1, A1), another band of those groups (M2, A2, G), then
        # bands shown before.
        fresh: list[str] = [b for b in ("P", "M1", "A1") if b in options] or options[1:4]
        sibling: list[str] = [b for b in ("M2", "A2", "G") if b in options] or options[4:7]

        def change(name: str, bands: list[str]) -> None:
            for band in bands:
                took, spent = interact(page, lambda b=band: select.select_option(b), pid)
                out.setdefault(name, []).append(took)
                cpu.setdefault(name, []).append(spent)

        change("band change (first band of its group, P, M1, A1)", fresh)
        change("band change (another band of a group read, M2, A2, G)", sibling)
        change("band change (band shown before)", fresh)
        browser.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=3349, help="scene size in px (default 3349)")
    ap.add_argument("--keep", type=Path, help="folder for the scene (kept between runs)")
    ap.add_argument("--no-search", action="store_true",
                    help="no quick search of the bundled sample beside the server")
    ap.add_argument("--serve-fallback", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="satseg-bench-app-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.serve_fallback:
        serve_fallback(args.serve_fallback, args.size, str(work / "study.db"))
        return 0
    port = free_port()
    url = f"http://127.0.0.1:{port}/app"
    log = open(work / "server.log", "w")  # noqa: SIM115
    try:
        scene = write_scene(work / f"dstl-{args.size}", args.size)
        label = scene.name
        cmd = [sys.executable, "-m", "satseg", "serve", "--port", str(port), "--data", "sample",
               "--data", str(scene), "--store", str(work / "study.db")]
    except ImportError:
        print("satseg.datasets.synth is not available: using the bench's own lazy 20-band "
              "DSTL-like scene (same sizes and resolutions)")
        label = f"dstl-{args.size}"
        cmd = [sys.executable, __file__, "--serve-fallback", str(port), "--size", str(args.size),
               "--keep", str(work)]
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    search = None
    if not args.no_search:
        # At normal priority, as a user would start it; its trial subprocesses lower their own.
        search = subprocess.Popen(
            [sys.executable, "-m", "satseg", "search", "--data", "sample", "--space", "quick",
             "--trials", "50", "--store", str(work / "search.db"),
             "--study", f"bench-app-{int(time.time())}",
             "--runs-dir", str(work / "runs")],
            stdout=open(work / "search.log", "w"), stderr=subprocess.STDOUT, cwd=REPO)  # noqa: SIM115
    try:
        def up():
            if server.poll() is not None:
                raise RuntimeError(f"server exited; see {work / 'server.log'}")
            try:
                # A long timeout: each request builds a whole page (a session) on the server, and
                # abandoned ones pile up on a loaded machine.
                with urllib.request.urlopen(url, timeout=120) as r:
                    return r.status == 200
            except OSError:
                return False

        wait(up, 300, 0.5, "the server")
        if search is not None:
            # Measure while trials train: wait until the first one has started.
            wait(lambda: search.poll() is not None or (work / "runs").is_dir(), 300, 1.0, "the search")
        results = measure(url, label, server.pid)
        search_alive = search is None or search.poll() is None
    finally:
        if search is not None and search.poll() is None:
            search.send_signal(__import__("signal").SIGINT)  # stops cleanly, like Ctrl-C
            try:
                search.wait(60)
            except subprocess.TimeoutExpired:
                search.kill()
        server.terminate()
        server.wait(20)
        log.close()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    beside = "no search" if search is None else (
        "a quick search running beside it" if search_alive else "a search beside it (it ended early)")
    print(f"\nsatseg dashboard, {os.cpu_count()} cores, scene {args.size} px x 20 bands, {beside}, "
          f"load average {load:.1f}")
    cpu = getattr(measure, "cpu", {})
    ok = True
    for name, vals in results.items():
        judged = not name.startswith(("first load", "open the", "page fully"))
        worst = max(vals)
        status = ("PASS" if worst < TARGET_S else "FAIL") if judged else "info"
        ok &= status != "FAIL"
        figs = ", ".join(f"{v:.2f}" for v in vals)
        med = statistics.median(vals)
        loop = f"  loop CPU {max(cpu[name]):.2f} s" if name in cpu else ""
        print(f"  {name:52s} median {med:6.2f} s  max {worst:6.2f} s  [{figs}]{loop}  {status}")
    print(f"\n{'PASS' if ok else 'FAIL'}: every judged figure under {TARGET_S:.0f} s after the first load")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
