"""``satseg auto`` from the dashboard: the command line's pipeline in a process the page watches.

The page starts ``python -m satseg auto --data D --budget B --out RUN --space RUN.space.yaml
--no-progress`` (the same ``satseg.auto.run_auto`` as the terminal) at a lower CPU priority, in a
session of its own, with its output in ``RUN.log``. Why a process and not a thread: the final fit
trains in the process that runs the pipeline, and TensorFlow in the server's process would hold
its GIL and cores against the page. Stop sends the process group SIGINT, exactly what Ctrl-C in a
terminal does: finished stages and trials stay, and Resume (``--resume``) goes on. When the
server ends (Ctrl-C, a normal exit or SIGTERM) it interrupts its runs the same way.

Runs live under one folder per server (``auto-runs`` beside the first study store) and are kept
in a registry per server process, so a reloaded page, or a second browser tab, sees and controls
the same run. A run of an earlier server is found from its ``auto.json`` and can be resumed.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from satseg.auto import pipeline
from satseg.errors import ConfigError, OutputError

log = logging.getLogger("satseg.app")

#: A run name: a folder name, no path.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: CPU priority of the pipeline process (the server keeps the cores it needs for the page).
NICE = 10
#: a run still going this long after Stop gets the Ctrl-C again: once, on a loaded machine, a
#: run's pipeline went on into its final fit after the first (the cause is not known)
STOP_REPEAT_S = 20.0
#: log lines not shown in the page: the command line, TensorFlow's and absl's C++ start-up lines
NOISE = re.compile(r"^(\$ |[IWEF]\d{4} |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |"
                   r"WARNING: All log messages before absl|To enable the following instructions)")
_RUNS: dict[Path, AutoRun] = {}
_LOCK = threading.Lock()


def drop_interrupt_tracebacks(lines: list[str]) -> list[str]:
    """``lines`` without the tracebacks that end in ``KeyboardInterrupt``: Stop is Ctrl-C to the
    run's process group, and dask's worker processes print one each (the pipeline's own line
    after them says what was kept and how to go on). Other tracebacks stay: they are errors."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith(("Traceback (most recent call last)", "Process ")):
            out.append(lines[i])
            i += 1
            continue
        j = i + 1  # the block: frames, chained tracebacks, up to its last exception line
        while j < len(lines):
            ln = lines[j]
            if ln[:1].isspace() or ln.startswith(("Traceback (most recent call last)",
                                                  "During handling of the above exception")):
                j += 1
            elif j + 1 < len(lines) and lines[j + 1].startswith("During handling"):
                j += 1  # an exception line that another one's handling followed
            else:
                break
        last = lines[j] if j < len(lines) else ""
        if last.strip() != "KeyboardInterrupt":
            out.extend(lines[i:j + 1])
        i = j + 1
    return out


def check_name(name: str) -> str:
    """The run name, or a ConfigError saying what a name may hold."""
    name = (name or "").strip()
    if not NAME.match(name):
        raise ConfigError(f"run name {name!r}: use 1-64 letters, digits, '.', '_' or '-' "
                          "(it becomes a folder), e.g. auto-30m")
    return name


def check_budget(budget: str) -> float:
    """Seconds of ``budget``; a ConfigError when it is not a duration or is too small for the
    pipeline (the same rule and message as ``satseg auto --budget``)."""
    from satseg.search.budget import parse_duration

    secs = parse_duration(budget, option="budget")
    pipeline.AutoPlan.split(secs)
    return secs


def read_state(out: Path) -> dict[str, Any]:
    """``out/auto.json`` (the pipeline's plan and stages), {} when absent or unreadable (a
    page polls it while the pipeline rewrites it)."""
    try:
        return pipeline.read_state(out)
    except (OSError, ValueError):
        return {}


def known_runs(root: Path) -> list[str]:
    """Names of the ``satseg auto`` runs under ``root`` (folders holding ``auto.json``)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / pipeline.STATE).is_file())


class AutoRun:
    """One ``satseg auto`` run folder ``out`` and, while it runs, its process."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.stop_requested = False
        self._t0, self._spent_before, self._stop_sent = 0.0, 0.0, 0.0
        # model_info's answer, kept while report.json and meta.json keep their mtimes: every
        # page polls every run on disk each 2 s
        self._model_key: tuple[int, int] | None = None
        self._model: dict[str, Any] = {}

    @property
    def log_path(self) -> Path:
        return self.out.with_name(self.out.name + ".log")

    @property
    def space_path(self) -> Path:
        return self.out.with_name(self.out.name + ".space.yaml")

    @property
    def store_path(self) -> Path:
        return self.out / "search" / "search.db"

    @property
    def running(self) -> bool:
        if self.proc is None:
            return False
        rc = self.proc.poll()
        if rc is None:
            return True
        self.returncode = rc
        return False

    def start(self, data: str, budget: str, space: dict[str, Any] | None, *,
              resume: bool = False) -> None:
        """Start the pipeline (``resume``: continue the run in :attr:`out`)."""
        import yaml

        if self.running:
            raise OutputError(f"the run {self.out.name!r} is already running")
        if resume and not read_state(self.out):
            raise OutputError(f"{self.out} holds no `satseg auto` run to resume; press Run")
        if not resume and self.out.exists():
            raise OutputError(f"a run named {self.out.name!r} exists in {self.out.parent}: "
                              "press Resume to continue it, or choose another name")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "satseg", "auto", "--data", str(data), "--budget",
               str(budget), "--out", str(self.out), "--no-progress"]
        if space is not None and not resume:
            self.space_path.write_text(yaml.safe_dump(space, sort_keys=False))
        if self.space_path.is_file():
            cmd += ["--space", str(self.space_path)]
        if resume:
            cmd.append("--resume")
        nice = shutil.which("nice")
        if nice:
            cmd = [nice, "-n", str(NICE), *cmd]
        with open(self.log_path, "a") as log:
            log.write(f"\n$ {' '.join(cmd)}\n")
            log.flush()
            # a session of its own: Stop signals the pipeline and its dask workers together,
            # and a Ctrl-C of the server does not reach them by accident
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.returncode, self.stop_requested, self._stop_sent = None, False, 0.0
        self._t0 = time.monotonic()
        self._spent_before = pipeline.spent_seconds(read_state(self.out).get("stages") or {})
        _watch_sigterm()

    def stop(self, wait_s: float = 0.0) -> None:
        """Ctrl-C for the run: SIGINT to its process group (finished work stays)."""
        if not self.running or self.proc is None:
            return
        self.stop_requested = True
        if not self._interrupt():
            return
        if wait_s:
            try:
                self.returncode = self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                pass

    def repeat_stop(self) -> bool:
        """Send the Ctrl-C again when Stop was pressed :data:`STOP_REPEAT_S` ago or more and
        the run still goes on (the page's poll calls this); True when it was sent."""
        if not (self.stop_requested and self.running):
            return False
        if time.monotonic() - self._stop_sent < STOP_REPEAT_S:
            return False
        log.warning("run %s still going %.0f s after Stop: Ctrl-C again", self.out.name,
                    time.monotonic() - self._stop_sent)
        return self._interrupt()

    def _interrupt(self) -> bool:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            return False
        self._stop_sent = time.monotonic()
        return True

    def log_tail(self, lines: int = 6) -> str:
        """The last lines of the run's log: the pipeline's own, not the command line nor the
        start-up lines of TensorFlow's C++ logging."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 16384))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        keep = [ln for ln in text.strip().splitlines() if ln.strip() and not NOISE.match(ln)]
        return "\n".join(drop_interrupt_tracebacks(keep)[-lines:])

    def trials_done(self, study: str = "auto") -> int | None:
        """Finished trials of the run's search ``study`` (None before its store exists)."""
        from satseg.search import StudyStore

        if not self.store_path.is_file():
            return None
        try:
            store = StudyStore(self.store_path, read_only=True)
            return len(store.trial_ids(study, "ok")) if store.has_study(study) else 0
        except Exception:  # noqa: BLE001 - a store being created: no count this time
            return None

    def summary(self) -> str:
        """One line: state, stage and time spent of the budget."""
        state = read_state(self.out)
        stages = state.get("stages") or {}
        plan = state.get("plan") or {}
        spent = pipeline.spent_seconds(stages)
        if self.running:
            # stages record their seconds when they end: count this process's time meanwhile
            spent = max(spent, self._spent_before + time.monotonic() - self._t0)
            current = next((s for s in pipeline.STAGES if not stages.get(s, {}).get("done")),
                           None)
            what = ("stopping" if self.stop_requested else "finishing" if current is None
                    else f"running: stage {current}")
            n = self.trials_done(state.get("study", "auto")) if current == "search" else None
            if n is not None:
                what += f" ({n} trial{'' if n == 1 else 's'} finished)"
        elif (self.out / "report.md").is_file() and stages.get("report", {}).get("done"):
            what = "finished"
        elif self.returncode is not None and self.returncode != 0:
            what = ("stopped (Resume goes on)" if self.stop_requested or self.returncode == 130
                    else f"failed (exit {self.returncode}; see {self.log_path.name})")
        elif state:
            what = "interrupted (Resume goes on)"
        else:
            what = "not started"
        done = ", ".join(f"{s} {float(v.get('seconds', 0.0)):.0f} s" for s, v in stages.items()
                         if v.get("done"))
        budget = float(plan.get("budget_s") or 0.0)
        out = f"{self.out.name}: {what}"
        if budget:
            out += f", {spent / 60:.1f} of {budget / 60:.1f} min spent"
        return out + (f" (done: {done})" if done else "")

    def model_info(self) -> dict[str, Any]:
        """The run's final model as a trial record (``StudyStore.trial`` keys: ``artifacts``,
        ``classes``, ``per_class``, ``objective``) once the run has finished, else {}. The
        per-class Jaccard is given only when the final fit kept the validation images out
        (``--fit-on train``): with ``all`` it trained on them."""
        try:
            key = ((self.out / "report.json").stat().st_mtime_ns,
                   (self.out / "meta.json").stat().st_mtime_ns)
        except OSError:
            return {}
        if key != self._model_key:
            self._model, self._model_key = self._read_model_info(), key
        if not self._model:
            return {}
        if not (self.out / "model.keras").is_file() and not (self.out / "models").is_dir():
            return {}
        return self._model

    def _read_model_info(self) -> dict[str, Any]:
        try:
            report = json.loads((self.out / "report.json").read_text())
            meta = json.loads((self.out / "meta.json").read_text())
        except (OSError, ValueError):
            return {}
        per_class = (report.get("per_class") or {}) if report.get("fit_on") == "train" else {}
        per_class = {str(k): float("nan") if v is None else float(v) for k, v in per_class.items()}
        return {"artifacts": {"run_dir": str(self.out)}, "per_class": per_class,
                "objective": (sum(per_class.values()) / len(per_class)) if per_class else None,
                "classes": [c["name"] if isinstance(c, dict) else str(c)
                            for c in meta.get("classes", [])]}

    def report(self) -> str:
        """``report.md`` of a finished run, else ''."""
        try:
            return (self.out / "report.md").read_text()
        except OSError:
            return ""


def run_for(out: Path) -> AutoRun:
    """The server's one :class:`AutoRun` of the folder ``out``."""
    key = Path(out).resolve()
    with _LOCK:
        if key not in _RUNS:
            _RUNS[key] = AutoRun(key)
        return _RUNS[key]


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM ends the server without atexit: interrupt the runs first, then end as before."""
    _stop_all()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _watch_sigterm() -> None:
    """Stop the runs also when the server is terminated (where it has no handler of its own)."""
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set a handler; Ctrl-C and normal exits use atexit
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)


@atexit.register
def _stop_all() -> None:
    """The server is ending: interrupt its runs (they stay resumable), wait a little for them."""
    runs = [r for r in list(_RUNS.values()) if r.running]
    for r in runs:
        r.stop()
    deadline = time.monotonic() + 20.0
    for r in runs:
        if r.proc is not None:
            try:
                r.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
