"""The search driver's lease on its study: who drives it, and whether that process still lives.

A driver (:func:`satseg.search.run_search`) claims its study in the store (process id, host,
process start time) and renews a heartbeat every :data:`HEARTBEAT_S` seconds from a thread. A
study whose state says a search is on (``created``, ``running``, ``paused``, ``stopping``) but
whose driver is gone reads as ``interrupted``: gone means, on the same host (and pid
namespace), that its process no longer exists (a pid reused by another program is told apart by
its start time); elsewhere, that its heartbeat is older than :data:`LEASE_S` seconds. ``satseg study stop`` ends such a study at
once, ``satseg search --resume`` continues it. A store without a recorded driver (an older
store, a study made by hand) keeps its stored state.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

log = logging.getLogger("satseg.search.lease")

HEARTBEAT_S = 2.0
LEASE_S = 30.0
#: Study states in which a driver should be alive.
LIVE_STATES = ("created", "running", "paused", "stopping")
#: Trial statuses that only a live driver keeps true.
LIVE_STATUSES = ("queued", "running", "stopping")


def _host() -> str:
    """This host's name, with the pid namespace (containers on one machine share a hostname
    only rarely, but then their process ids mean different processes)."""
    try:
        ns = f"#{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        ns = ""
    return socket.gethostname() + ns


def host_name(host: str | None) -> str:
    """The host of a lease as shown to users (without the pid namespace)."""
    return (host or "?").split("#", 1)[0]


def identity() -> tuple[int, str, float | None]:
    """``(pid, host, process start time)`` of this process."""
    pid = os.getpid()
    try:
        import psutil

        started: float | None = psutil.Process(pid).create_time()
    except Exception:  # noqa: BLE001 - without psutil the heartbeat alone decides
        started = None
    return pid, _host(), started


def _process_gone(pid: int, started: float | None) -> bool:
    """Whether the process ``pid`` (started at ``started``) has ended on this host."""
    try:
        import psutil
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        return started is not None and abs(proc.create_time() - started) > 1.0
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # access denied: it exists
        return False


def driver_alive(lease: dict[str, Any], now: float | None = None) -> bool | None:
    """True/False for a recorded driver, None when no driver was ever recorded (a released
    lease keeps its release time in ``heartbeat_at``: no driver any more)."""
    pid, beat = lease.get("driver_pid"), lease.get("heartbeat_at")
    if beat is None:
        return None
    if pid is None:
        return False
    if lease.get("driver_host") == _host():  # the process table tells, at once
        return not _process_gone(int(pid), lease.get("driver_started"))
    now = time.time() if now is None else now
    return now - float(beat) <= LEASE_S


def effective_state(state: str, lease: dict[str, Any]) -> str:
    """The study state as users should see it: ``interrupted`` when the driver is gone."""
    if state in LIVE_STATES and driver_alive(lease) is False:
        return "interrupted"
    return state


class Heartbeat:
    """A daemon thread renewing the driver's lease every ``interval`` seconds until ``stop``.

    ``lost`` turns True when the lease was taken over (another driver resumed the study after
    this one was declared gone): the search then ends without touching the study further."""

    def __init__(self, store: Any, study: str, interval: float = HEARTBEAT_S):
        self.store, self.study, self.interval = store, study, interval
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"satseg-lease-{study}",
                                        daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.store.beat(self.study):
                    self.lost = True
                    log.warning("study %s: another process took over the search", self.study)
                    return
            except Exception as exc:  # noqa: BLE001 - a busy store: try again next beat
                log.warning("study %s: heartbeat not written (%s)", self.study, exc)

    def stop(self) -> None:
        """Stop renewing (the caller releases the lease)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
