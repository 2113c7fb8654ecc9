"""``python -m satseg.search._child FD``: runs one trial in a fresh process (see worker.py).

Reads the task from stdin (one length-prefixed message), then watches stdin for ``stop`` lines
(the parent's cooperative stop); sends epoch rows and the outcome on file descriptor FD.

The child lowers its CPU priority first (``nice`` +10, ``SATSEG_TRIAL_NICE`` to change, 0 to
keep): on a machine shared with the driver and the dashboard, training yields to them.

TensorFlow's C++ start-up lines (oneDNN, CPU features, absl, CUDA probing on CPU machines) are
printed by every trial process and are not silenced by ``TF_CPP_MIN_LOG_LEVEL`` alone; file
descriptor 2 goes through a filter thread that drops those known lines and passes everything else
(Python tracebacks, TensorFlow errors, satseg's warnings) to the real stderr.
"""

from __future__ import annotations

import os
import re
import sys
import threading

#: start-up chatter of TensorFlow's C++ side (kept: anything else, errors included)
NOISE = re.compile(
    rb"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|"
    rb"To enable the following instructions|rebuild TensorFlow with the appropriate compiler|"
    rb"Unable to register cu(DNN|FFT|BLAS) factory|Could not find cuda drivers|"
    rb"computation_placer\.cc|TF-TRT Warning|failed call to cuInit|"
    rb"Attempting to register factory for plugin"
)


def filter_stderr() -> threading.Thread:
    """Route fd 2 through a thread that drops TensorFlow's start-up lines (see the docstring);
    :func:`restore_stderr` flushes and ends it."""
    real = os.dup(2)
    r, w = os.pipe()
    os.dup2(w, 2)
    os.close(w)

    def pump() -> None:
        with os.fdopen(r, "rb") as src:
            for line in src:
                if not NOISE.search(line):
                    os.write(real, line)

    t = threading.Thread(target=pump, daemon=True, name="stderr-filter")
    t.real_fd = real  # type: ignore[attr-defined]
    t.start()
    return t


def restore_stderr(t: threading.Thread) -> None:
    """Put the real stderr back on fd 2 and let the filter pass on what it still holds."""
    sys.stderr.flush()
    os.dup2(t.real_fd, 2)  # type: ignore[attr-defined]  # closes the pipe's write end
    t.join(timeout=2.0)


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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # before TensorFlow is imported
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
    quiet = filter_stderr()
    try:
        outcome = run_objective(task, ctx)
    finally:
        restore_stderr(quiet)
    send({"kind": "result", "outcome": outcome})
    out.close()
    return 0


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches every process of its group, this one too. The search's
        # driver records the stop and keeps the finished trials; the trial ends without a
        # traceback of TensorFlow's internals in the user's terminal or the dashboard's log.
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter shutdown: the stdin watcher thread may still be reading
