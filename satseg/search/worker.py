"""What runs on a dask worker for one trial: :func:`execute_trial`.

A trial calls the objective with its flat parameters, ``fn(params)`` or ``fn(params, ctx)``
where ``ctx`` is a :class:`TrialContext`: ``ctx.report(row)`` sends a per-epoch history row to the
driver (store, pruning) and ``ctx.is_set()`` / ``ctx.should_stop()`` says when the trial should
stop (the driver set its dask ``Event``: pruned, study stopped; or its time limit passed), so a
``ctx`` can be handed to ``satseg.training.train(stop_flag=ctx)`` as is.

With ``isolate=True`` the objective runs in a fresh Python subprocess of the worker
(``python -m satseg.search._child``): TensorFlow's memory is returned after every trial, and a
trial past its time limit is first asked to stop, then killed. Messages travel to the driver as
worker events (``Worker.log_event``, read with ``Client.subscribe_topic``): cheap, and they
work across machines. The result goes back as the task's return value.

Every trial gets a private scratch folder on its worker (``ctx.run_dir`` is the run folder to
train into). When the trial ends, a run folder inside it is packed
(:func:`satseg.search.artifacts.pack_run`) into the result as ``bundle`` (bytes through dask),
its worker-local paths are dropped from ``artifacts``, and the scratch folder is deleted: the
driver writes the bundle where the store says (workers need no disk shared with the driver).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("satseg.search.worker")
STOP_POLL_S = 0.2  # at most one scheduler round trip per this many seconds per trial
KILL_GRACE_S = 30.0  # after asking a child to stop at its time limit


@dataclass
class TrialTask:
    """Everything a worker needs to run one trial (pickled to the worker)."""

    study: str
    trial_id: int
    params: dict[str, Any]
    objective: Any
    topic: str = ""
    stop_event: str = ""
    time_limit: float | None = None
    isolate: bool = False
    stop_grace: float = KILL_GRACE_S
    env: dict[str, str] = field(default_factory=dict)
    scratch: str = ""  # set on the worker: the trial's private folder
    #: multi-fidelity (satseg.search.asha): rung, budget, from_budget, keep_checkpoint and
    #: ``resume`` (the promoted trial's packed run folder, or None); empty for a plain search
    fidelity: dict[str, Any] = field(default_factory=dict)


def _worker():
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


def worker_name() -> str:
    w = _worker()
    return str(w.address) if w is not None else f"{socket.gethostname()}:{os.getpid()}"


def send_event(topic: str, msg: dict[str, Any], worker: Any = None) -> None:
    """Send ``msg`` to the driver on ``topic`` (no-op outside a dask worker). Thread-safe when
    ``worker`` (captured in the task thread) is given."""
    import json

    from satseg.search.store import _json

    w = worker if worker is not None else _worker()
    if w is not None and topic:
        w.log_event(topic, json.loads(_json(msg)))  # plain types only (msgpack)


class TrialContext:
    """The objective's link to the search: report epochs, ask whether to stop."""

    def __init__(self, task: TrialTask, deadline: float | None = None, send=None,
                 stop_check=None):
        self.study, self.trial_id, self.params = task.study, task.trial_id, task.params
        #: the folder to train into (inside the worker's private scratch; None outside a search)
        self.run_dir = Path(task.scratch) / "run" if task.scratch else None
        #: ASHA: the rung this run of the trial trains to, its budget (epochs for the satseg
        #: objective; None = the objective's own) and ``fidelity`` (see TrialTask)
        self.fidelity = dict(getattr(task, "fidelity", None) or {})
        self.rung = int(self.fidelity.get("rung") or 0)
        self.budget = self.fidelity.get("budget")
        self.deadline = deadline
        self._send = send
        self._stop_check = stop_check
        self._stopped = threading.Event()
        self.stop_reason: str | None = None
        self._next_poll = 0.0

    def report(self, row: dict[str, Any]) -> bool:
        """Send one per-epoch history row; returns True when the trial should stop."""
        if self._send is not None:
            self._send({"kind": "epoch", "trial_id": self.trial_id, "row": dict(row)})
        self._next_poll = 0.0  # epoch ends are rare: always ask the driver
        return self.should_stop()

    def stop(self, reason: str = "stop") -> None:
        if not self._stopped.is_set():
            self.stop_reason = reason
            self._stopped.set()

    def should_stop(self) -> bool:
        """True when the driver asked this trial to stop or its time limit passed."""
        if self._stopped.is_set():
            return True
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            self.stop("time_limit")
        elif self._stop_check is not None and now >= self._next_poll:
            self._next_poll = now + STOP_POLL_S
            try:
                if self._stop_check():
                    self.stop("requested")
            except Exception:  # noqa: BLE001 - scheduler unreachable: keep training
                log.debug("stop check failed", exc_info=True)
        return self._stopped.is_set()

    is_set = should_stop  # so a context is a ``stop_flag`` for satseg.training.train

    def __call__(self, epoch: int, logs: dict[str, Any]) -> bool:
        """A training callback ``fn(epoch, logs)``: reports the row, True means stop."""
        return self.report({"epoch": epoch, **logs})


def _dask_stop_check(name: str):
    if not name or _worker() is None:
        return None
    from distributed import Event, get_client

    event = Event(name, client=get_client())
    return event.is_set


def _error_text(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def normalise_result(value: Any) -> dict[str, Any]:
    """An objective's return value as ``{objective, status, history, per_class, artifacts}``:
    a number is the objective; a dict may hold those keys (``loss`` = minimised objective)."""
    if isinstance(value, dict):
        out = dict(value)
        if "objective" not in out and "loss" in out:
            out["objective"] = out.pop("loss")
    elif hasattr(value, "val_jaccard"):  # a satseg TrainResult
        out = {"objective": value.val_jaccard, "per_class": dict(value.per_class),
               "history": list(value.history), "artifacts": {"run_dir": str(value.run_dir)}}
    else:
        out = {"objective": value}
    obj = out.get("objective")
    try:
        obj = None if obj is None else float(obj)
    except (TypeError, ValueError):
        return {"status": "fail", "error": f"the objective returned {value!r}, not a number"}
    status = out.get("status", "ok")
    if status not in ("ok", "fail"):
        status = "fail"
    if status == "ok" and (obj is None or not math.isfinite(obj)):
        status, out["error"] = "fail", out.get("error") or f"objective is {obj}"
    out.update(objective=obj if obj is not None and math.isfinite(obj) else None, status=status)
    return out


def run_objective(task: TrialTask, ctx: TrialContext) -> dict[str, Any]:
    """Call the objective in this process; never raises (errors become failed outcomes)."""
    fn = task.objective
    try:
        n_pos = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
                    for p in inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        n_pos = 1
    try:
        value = fn(task.params, ctx) if n_pos >= 2 else fn(task.params)
        out = normalise_result(value)
    except Exception as exc:  # noqa: BLE001 - a failed trial, recorded
        out = {"status": "fail", "objective": None, "error": _error_text(exc)}
    if ctx.stop_reason is not None:
        out["stop_reason"] = ctx.stop_reason
    return out


def execute_trial(task: TrialTask) -> dict[str, Any]:
    """Run one trial (the dask task); returns the outcome dict that the driver records."""
    start_wall, t0 = time.time(), time.monotonic()
    deadline = t0 + task.time_limit if task.time_limit else None
    name, w = worker_name(), _worker()
    send_event(task.topic, {"kind": "start", "trial_id": task.trial_id, "worker": name,
                            "started": start_wall, "pid": os.getpid()}, w)
    stop_check = _dask_stop_check(task.stop_event)

    def send(msg):
        send_event(task.topic, msg, w)

    task = dataclasses.replace(task, scratch=_scratch(w, task.trial_id))
    try:
        ctx = TrialContext(task, deadline, send, stop_check)
        if task.isolate:
            out = _run_isolated(task, ctx)
        else:
            out = run_objective(task, ctx)
        out.update(worker=name, started=start_wall, finished=time.time(),
                   duration=time.monotonic() - t0)
        _pack(out, Path(task.scratch))
    finally:
        shutil.rmtree(task.scratch, ignore_errors=True)
    return out


def _scratch(w: Any, trial_id: int) -> str:
    """A private folder for one trial attempt: in the dask worker's local directory (cleaned
    with the worker), else the system's temporary folder."""
    base = getattr(w, "local_directory", None) if w is not None else None
    return tempfile.mkdtemp(prefix=f"satseg-trial-{int(trial_id):04d}-",
                            dir=base if base and os.path.isdir(base) else None)


def _pack(out: dict[str, Any], scratch: Path) -> None:
    """Move a run folder written inside ``scratch`` into the outcome as ``bundle`` bytes;
    drop every artifact path that only exists on this worker."""
    checkpoints = bool(out.pop("ship_checkpoints", False))
    arts = out.get("artifacts")
    if not isinstance(arts, dict):
        return
    inside = {k: v for k, v in arts.items()
              if isinstance(v, str) and Path(v).resolve().is_relative_to(scratch.resolve())}
    run_dir = inside.get("run_dir")
    if run_dir and Path(run_dir).is_dir():
        from satseg.search.artifacts import pack_run

        try:
            bundle = pack_run(run_dir, checkpoints=checkpoints)
        except OSError as exc:  # the result stands without its files
            out["error"] = out.get("error") or f"its run folder could not be packed: {exc}"
        else:
            out["bundle"] = bundle
            log.info("trial artifacts packed: %d file(s), %.1f MB in %.3f s",
                     len(bundle.files), bundle.size / 1e6, bundle.pack_s)
    out["artifacts"] = {k: v for k, v in arts.items() if k not in inside}


# ---------------------------------------------------------------------- isolated (subprocess)
def write_msg(stream, obj: Any) -> None:
    """Length-prefixed cloudpickle message."""
    import cloudpickle

    data = cloudpickle.dumps(obj)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def read_msg(stream) -> Any:
    """One message of :func:`write_msg`, or None at end of stream."""
    import pickle

    head = stream.read(8)
    if len(head) < 8:
        return None
    (n,) = struct.unpack("<Q", head)
    data = stream.read(n)
    return pickle.loads(data) if len(data) == n else None


def _run_isolated(task: TrialTask, ctx: TrialContext) -> dict[str, Any]:
    r_fd, w_fd = os.pipe()
    env = {**os.environ, **task.env}
    proc = subprocess.Popen([sys.executable, "-m", "satseg.search._child", str(w_fd)],
                            stdin=subprocess.PIPE, pass_fds=(w_fd,), env=env)
    os.close(w_fd)
    result: dict[str, Any] = {}

    def reader() -> None:
        with os.fdopen(r_fd, "rb") as stream:
            while (msg := read_msg(stream)) is not None:
                if msg.get("kind") == "result":
                    result.update(msg["outcome"])
                elif ctx._send is not None:
                    ctx._send(msg)

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    assert proc.stdin is not None  # stdin=PIPE
    write_msg(proc.stdin, {"task": task, "time_limit": None})
    asked_at = None
    while proc.poll() is None:
        th.join(0.2)
        if asked_at is None and ctx.should_stop():
            asked_at = time.monotonic()
            try:
                proc.stdin.write(b"stop\n")
                proc.stdin.flush()
            except OSError:
                pass
        elif asked_at is not None and time.monotonic() - asked_at > task.stop_grace:
            proc.kill()
    th.join(5.0)
    if not result:
        why = ("killed after its time limit" if ctx.stop_reason == "time_limit"
               else f"its subprocess exited with code {proc.returncode}")
        return {"status": "fail", "objective": None, "error": f"trial {why}",
                "stop_reason": ctx.stop_reason}
    if ctx.stop_reason is not None:
        result["stop_reason"] = ctx.stop_reason
    return result
