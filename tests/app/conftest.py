"""Fixtures of the dashboard tests: data sets, a study store, and (ui tests) a served app.

Browser tests drive Debian's chromium through Playwright (never ``playwright install``); the app
runs in a subprocess on a free 127.0.0.1 port, started once per session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SATSEG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(fn, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    """Poll ``fn`` until it returns a truthy value; fail with ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < end:
        try:
            value = fn()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the timeout
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}" +
                         (f" (last error: {last_exc})" if last_exc else ""))


def sample_available() -> bool:
    try:
        from satseg.io import open_dataset

        open_dataset("sample")
    except Exception:  # noqa: BLE001
        return False
    return True


class AppServer:
    """``satseg serve`` in a subprocess (or, without the bundled sample, the same server with the
    real Dubai tiles read directly: tests/app/serve_testapp.py)."""

    def __init__(self, data: list[str], stores: list[str], log_path: Path, env: dict | None = None,
                 dubai: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/app"
        if dubai is None:
            args = [sys.executable, "-m", "satseg", "serve", "--port", str(self.port)]
        else:
            args = [sys.executable, "-m", "tests.app.serve_testapp", "--port", str(self.port),
                    "--dubai", str(dubai)]
        for d in data:
            args += ["--data", d]
        for s in stores:
            args += ["--store", s]
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        full_env = {**os.environ, "SATSEG_REFRESH_MS": "1000", **(env or {})}
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO,
                                     env=full_env)

    def wait_ready(self, timeout: float = 90.0, request_timeout: float = 45.0) -> None:
        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()}")
            # A first page renders a whole session: 8-16 s on a loaded 2-core machine.
            with urllib.request.urlopen(self.url, timeout=request_timeout) as r:
                return r.status == 200

        wait_until(up, timeout, 0.5, f"the dashboard at {self.url}")

    def log(self) -> str:
        return self.log_path.read_text()[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


@pytest.fixture(scope="session")
def browser_type_launch_args():
    """pytest-playwright: Debian's chromium with the flags that work here."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    return {"executable_path": CHROMIUM, "args": CHROMIUM_FLAGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args():
    return {"viewport": {"width": 1600, "height": 1100}}


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the browser tests save their screenshots: test-results/screenshots (git-ignored),
    or the folder named by SATSEG_SCREENSHOTS. The README's pictures come from the demo instead
    (docs/screenshots/capture.py), so a test run never changes tracked files."""
    out = Path(os.environ.get("SATSEG_SCREENSHOTS", REPO / "test-results" / "screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def real_dataset(dubai_root: Path | None):
    """The bundled sample (``open_dataset("sample")``) or, where that reader is not installed,
    a few real Dubai tiles read directly (tests/data/dubai_direct.py)."""
    try:
        from satseg.io import open_dataset

        return "sample (Dubai)", open_dataset("sample")
    except Exception:  # noqa: BLE001 - fall back to the real tiles
        if dubai_root is None:
            pytest.skip("neither the bundled sample nor the real Dubai data is available")
        from tests.data.dubai_direct import DubaiDirect

        ids = ["tile_1/image_part_001", "tile_2/image_part_002"]
        return "dubai", DubaiDirect(dubai_root, ids, crop=192)


@pytest.fixture(scope="session")
def dataset(request):
    root = None
    try:
        root = request.getfixturevalue("dubai_path")
    except pytest.skip.Exception:
        root = None
    return real_dataset(root)


@pytest.fixture
def catalog(dataset):
    from app.catalog import Catalog
    from app.settings import AppSettings

    cat = Catalog(AppSettings(data=()))
    cat.add(*dataset)
    return cat
