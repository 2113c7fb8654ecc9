"""``satseg serve --port 0``: the printed address is the real one, and the dashboard's websocket
accepts connections from that host:port only (a page on another origin cannot drive it)."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from satseg.cli import main

REPO = Path(__file__).resolve().parents[2]


def _handshake(port: int, origin: str) -> int:
    """Status of a websocket upgrade request to the app from ``origin``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/app/ws", headers={
        "Origin": origin, "Connection": "Upgrade", "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    })  # fmt: skip
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.mark.timeout(180)
def test_port_zero_prints_real_port_and_limits_origins(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "satseg", "serve", "--port", "0"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/app", line)
        assert m, line
        port = int(m.group(1))
        assert port > 0
        deadline = time.monotonic() + 120
        while True:
            try:
                status = _handshake(port, "http://evil.example:8080")
                break
            except OSError:
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.5)
        assert status == 403  # another origin is refused
        assert _handshake(port, f"http://127.0.0.1:{port}") == 101  # the served origin is not
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_bad_address_is_one_line(capsys):
    assert main(["serve", "--port", "0", "--address", "203.0.113.77"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--address 203.0.113.77" in err
