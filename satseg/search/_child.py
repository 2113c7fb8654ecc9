"""``python -m satseg.search._child FD``: runs one trial in a fresh process (see worker.py).

Reads the task from stdin (one length-prefixed message), then watches stdin for ``stop`` lines
(the parent's cooperative stop); sends epoch rows and the outcome on file descriptor FD.

The child lowers its CPU priority first (``nice`` +10, ``SATSEG_TRIAL_NICE`` to change, 0 to
keep): on a machine shared with the driver and the dashboard, training yields to them.
"""

from __future__ import annotations

import os
import sys
import threading


def _lower_priority() -> None:
    try:
        inc = int(os.environ.get("SATSEG_TRIAL_NICE", "10"))
    except ValueError:
        inc = 10
    if inc > 0 and hasattr(os, "nice"):
        try:
            os.nice(inc)
        except OSError:  # not permitted here: run at normal priority
            pass


def main(argv: list[str]) -> int:
    from satseg.search.worker import TrialContext, read_msg, run_objective, write_msg

    _lower_priority()
    out = os.fdopen(int(argv[0]), "wb")
    msg = read_msg(sys.stdin.buffer)
    if msg is None:
        return 2
    task = msg["task"]
    lock = threading.Lock()

    def send(m):
        with lock:
            write_msg(out, m)

    ctx = TrialContext(task, None, send, None)

    def watch_stdin() -> None:
        for line in sys.stdin.buffer:
            if line.strip() == b"stop":
                ctx.stop("requested")
        # stdin closed: the worker went away (killed, or Ctrl-C to the whole process group).
        # Nobody is left to take the result, so end now rather than at the next batch: a
        # trial still loading its data or importing TensorFlow would otherwise run on orphaned.
        sys.stderr.flush()
        os._exit(3)

    threading.Thread(target=watch_stdin, daemon=True).start()
    outcome = run_objective(task, ctx)
    send({"kind": "result", "outcome": outcome})
    out.close()
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter shutdown: the stdin watcher thread may still be reading
