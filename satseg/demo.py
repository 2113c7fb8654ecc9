"""The one-command demo behind ``make demo``.

It prepares the demo data (the bundled real Dubai sample and a synthetic DSTL-format scene), prints
``satseg data info`` for both, starts a small live search on a local dask cluster in the background,
and serves the dashboard on 127.0.0.1. A second run reuses what exists (the synthetic scene, the
study, which it resumes) and starts in seconds. Ctrl-C stops the server and the search; the study
stays in its SQLite store and resumes on the next run.

Settings come from environment variables so ``make demo`` stays one command:
``SATSEG_DEMO_DIR`` (default ``.satseg-demo``), ``SATSEG_DEMO_TRIALS`` (default 6),
``SATSEG_DEMO_PORT`` (default 5006), ``SATSEG_DEMO_SEARCH=0`` to skip the search.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from satseg.errors import OutputError


def _default_sigint() -> None:
    """In the demo's children: Ctrl-C's SIGINT acts even when the demo was started from a
    script, whose background jobs inherit SIGINT ignored (so Python would not raise
    KeyboardInterrupt and the search could not clean up)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "satseg", *args]


def _run(*args: str) -> None:
    print(f"$ satseg {' '.join(args)}", flush=True)
    subprocess.run(_cli(*args), check=True)


def prepare(demo_dir: Path) -> Path:
    """Write the synthetic DSTL scene once and print ``data info`` for it and the sample."""
    dstl = demo_dir / "dstl-synthetic"
    if not (dstl / "grid_sizes.csv").is_file():
        # --overwrite: a run killed while writing left part of the folder; write it again
        _run("data", "synth", str(dstl), "--scenes", "1", "--size", "800", "--seed", "0",
             "--overwrite")
    else:
        print(f"reusing synthetic DSTL scene in {dstl}", flush=True)
    _run("data", "info", "sample")
    _run("data", "info", str(dstl))
    return dstl


def _shown(path: Path) -> str:
    """``path`` relative to the current folder where it is inside it (shorter commands)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _stop(proc: subprocess.Popen | None, name: str) -> None:
    if proc is None or proc.poll() is not None:
        return
    print(f"stopping {name} ...", flush=True)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # see _default_sigint
    demo_dir = Path(os.environ.get("SATSEG_DEMO_DIR", ".satseg-demo")).resolve()
    try:
        demo_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create the demo folder {demo_dir} ({exc}); set SATSEG_DEMO_DIR to a writable path"
        ) from exc
    trials = os.environ.get("SATSEG_DEMO_TRIALS", "6")
    port = os.environ.get("SATSEG_DEMO_PORT", "5006")
    store = demo_dir / "study.db"
    dstl = prepare(demo_dir)

    search = None
    if os.environ.get("SATSEG_DEMO_SEARCH", "1") != "0":
        log = open(demo_dir / "search.log", "a")  # noqa: SIM115 - lives as long as the process
        args = [
            "search", "--data", "sample", "--store", str(store), "--study", "demo",
            "--space", "quick", "--trials", trials, "--parallel", "1", "--resume",
            "--no-progress",
        ]
        print(f"$ satseg {' '.join(args)} > {log.name} (background)", flush=True)
        search = subprocess.Popen(_cli(*args), stdout=log, stderr=subprocess.STDOUT,
                                  preexec_fn=_default_sigint)
    serve = subprocess.Popen(
        _cli("serve", "--data", "sample", "--data", str(dstl), "--store", str(store),
             "--port", port, "--address", "127.0.0.1"), preexec_fn=_default_sigint)
    print(f"\nDashboard: http://127.0.0.1:{port}/app   (Ctrl-C stops everything)", flush=True)
    print(f"The study from a terminal: satseg study list --store {_shown(store)}\n"
          f"  (or export SATSEG_STORE={_shown(store)} once, then satseg study list)\n", flush=True)
    try:
        while serve.poll() is None:
            time.sleep(1)
            if search is not None and search.poll() is not None:
                # Reaped here (poll waits on it): a finished search leaves no zombie behind.
                print(f"search ended (exit code {search.returncode}); the study is in {_shown(store)}",
                      flush=True)
                search = None
        return serve.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(search, "search (the study stays resumable)")
        _stop(serve, "dashboard")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
