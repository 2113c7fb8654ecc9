"""Long work off the page's thread: a job runs in a thread and reports progress and errors.

The page never waits on a job. The job only touches plain Python attributes; the view polls it
(``pn.state.add_periodic_callback``) and copies progress, result or error into its widgets, so no
Bokeh model is changed from a foreign thread.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

log = logging.getLogger("satseg.app.jobs")


def readable_error(exc: BaseException) -> str:
    """One line for the page: satseg errors already say what to do; others get their type."""
    from satseg.errors import SatsegError

    if isinstance(exc, SatsegError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Job:
    """One background task. ``fn(job)`` may call ``job.report(fraction, message)`` and should
    return early when ``job.cancelled`` is set."""

    def __init__(self, name: str, fn: Callable[[Job], Any]):
        self.name = name
        self._fn = fn
        self.status = "pending"  # pending | running | done | failed | cancelled
        self.progress = 0.0
        self.message = ""
        self.result: Any = None
        self.error: str | None = None
        self.started = 0.0
        self.finished = 0.0
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    # -- used by the task
    def report(self, fraction: float, message: str = "") -> None:
        """Record progress in [0, 1] and a short message."""
        self.progress = float(min(max(fraction, 0.0), 1.0))
        if message:
            self.message = message

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # -- used by the view
    def start(self) -> Job:
        """Run the task in a daemon thread."""
        self.status, self.started = "running", time.time()
        self._thread = threading.Thread(target=self._run, name=f"satseg-app-{self.name}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (tests and the CLI only); True when it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    @property
    def done(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    def _run(self) -> None:
        try:
            self.result = self._fn(self)
            self.status = "cancelled" if self.cancelled else "done"
            self.progress = 1.0 if self.status == "done" else self.progress
        except BaseException as exc:  # noqa: BLE001 - shown in the page, logged in full
            self.error = readable_error(exc)
            self.status = "failed"
            log.error("job %s failed: %s\n%s", self.name, self.error, traceback.format_exc())
        finally:
            self.finished = time.time()

    def __repr__(self) -> str:
        return f"<Job {self.name} {self.status} {self.progress:.0%}>"
