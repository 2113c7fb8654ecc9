"""Take the README's dashboard screenshots from a running dashboard (normally ``make demo``).

    make demo                       # in one terminal; wait until a few trials have finished
    .venv/bin/python docs/screenshots/capture.py http://127.0.0.1:5006/app

Drives Debian's chromium (``SATSEG_CHROMIUM`` for another binary) through Playwright and writes
bands.png, hyperspace.png, trials.png and results.png next to this file. On the Results tab it
compares the two best trials and predicts the first image with both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def tab(page, name: str) -> None:
    page.locator(".bk-tab", has_text=name).first.click()
    page.wait_for_timeout(4000)


def select_index(page, label: str, index: int) -> None:
    sel = page.locator(".bk-input-group", has_text=label).locator("select").first
    values = sel.locator("option").evaluate_all("os => os.map(o => o.value)")
    if len(values) > index:
        sel.select_option(values[index])


def main(url: str) -> int:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("SATSEG_CHROMIUM", "/usr/bin/chromium"), args=FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.route("**/fonts.googleapis.com/**", lambda route: route.abort())
        page.goto(url)
        page.wait_for_selector(".bands-plot canvas", timeout=120_000)
        page.wait_for_timeout(5000)
        box = page.locator(".bands-plot canvas").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
        page.wait_for_timeout(3000)
        page.screenshot(path=str(OUT / "bands.png"))
        tab(page, "Hyperspace")
        page.screenshot(path=str(OUT / "hyperspace.png"))
        tab(page, "Trials")
        page.screenshot(path=str(OUT / "trials.png"))
        tab(page, "Results")
        select_index(page, "Second trial", 2)  # the first option is "none"
        page.locator(".predict-button button").first.click()
        message = page.locator(".predict-message").first
        for _ in range(360):  # the panes live in shadow roots: poll through Playwright's locator
            if "done in" in message.inner_text():
                break
            page.wait_for_timeout(500)
        page.wait_for_timeout(6000)
        page.screenshot(path=str(OUT / "results.png"))
        browser.close()
    print(f"wrote bands.png, hyperspace.png, trials.png, results.png in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5006/app"))
