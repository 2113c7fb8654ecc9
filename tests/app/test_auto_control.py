"""`satseg auto` from the Hyperspace tab: bad input is refused next to the controls, a real run
(a `satseg auto` process on the sample) finishes with its report and its search's store offered
in the page, and Stop is Ctrl-C: the run stops resumable and Resume goes on."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("panel")

from app import auto_api  # noqa: E402
from app.studies import StudyState  # noqa: E402
from app.views.hyperspace import HyperspaceView  # noqa: E402


@pytest.fixture
def view(catalog, tmp_path):
    v = HyperspaceView(StudyState({"s.db": str(tmp_path / "s.db")}), catalog,
                       auto_root=tmp_path / "auto-runs")
    v.start_from = "quick"  # small nets: a trial in seconds
    yield v
    for name in auto_api.known_runs(tmp_path / "auto-runs"):
        auto_api.run_for(tmp_path / "auto-runs" / name).stop(wait_s=30)


def _wait(view, until, timeout: float) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        view.poll()
        if until():
            return
        time.sleep(1.0)
    raise AssertionError(f"timed out: {view.auto_status}\n{view.auto_log}")


def test_bad_names_and_budgets_are_refused_before_anything_runs(view, tmp_path):
    view.auto_name = "../elsewhere"
    assert view.start_auto() is None and "run name" in view.error and "folder" in view.error
    view.auto_name, view.auto_budget = "ok", "half an hour"
    assert view.start_auto() is None and "budget" in view.error and "30m" in view.error
    view.auto_budget = "20s"
    assert view.start_auto() is None and "too small" in view.error
    view.auto_budget = "3m"
    assert view.start_auto(resume=True) is None and "no `satseg auto` run to resume" in view.error
    view.stop_auto()
    assert "not running" in view.error
    assert not (tmp_path / "auto-runs" / "ok").exists()
    (tmp_path / "auto-runs" / "ok").mkdir(parents=True)
    assert view.start_auto() is None and "exists" in view.error and "Resume" in view.error


def test_a_view_without_a_run_folder_says_so(catalog):
    v = HyperspaceView(StudyState({}), catalog)
    assert "no folder" in v.auto_status
    assert v.start_auto() is None and "--store" in v.error


@pytest.mark.slow
@pytest.mark.xdist_group("sample_auto_run")  # one 3-minute run serves both (make test -n 2)
def test_a_finished_run_shows_its_report_and_offers_its_search_and_model(catalog,
                                                                           sample_auto_run):
    """A finished `satseg auto` run in the server's run folder (the session's 3-minute run of
    the sample, the same command the page starts; starting, stopping and resuming from the page
    are the tests below): the page shows it finished with its report, offers its search's store
    and, in the Results tab, its final model, which predicts there."""
    code, _, err, out = sample_auto_run
    assert code == 0, err[-2000:]
    view = HyperspaceView(StudyState({}), catalog, auto_root=out.parent, auto_name="e2e")
    assert "finished" in view.auto_status, view.auto_status
    assert "# satseg auto" in view.auto_report and "Time per stage" in view.auto_report
    assert "auto: e2e" in view.studies.param.store.objects
    view.studies.store = "auto: e2e"
    view.studies.poll(force=True)
    assert view.studies.study == "auto" and len(view.studies.trials) >= 1
    # its final model is offered in the Results tab and predicts there
    from app.views.results import ResultsView

    results = ResultsView(view.studies, view.catalog)
    assert "auto run e2e" in results.param.trial.objects
    info = results.info("auto run e2e")
    assert info["artifacts"]["run_dir"] == str(out)
    assert info["per_class"] == {}  # fit on every image: no honest validation score to show
    results.trial = "auto run e2e"
    job = results.predict("auto run e2e")
    assert job is not None and job.wait(300), results.error
    results.poll()
    probs, names = results.prediction("auto run e2e")
    assert probs.shape[0] == len(names) == 5 and "auto run e2e on" in results.status_text


@pytest.mark.slow
def test_stop_keeps_the_run_and_resume_goes_on(view, tmp_path):
    view.auto_name, view.auto_budget = "stopped", "3m"
    run = view.start_auto()
    assert run is not None, view.error
    out = tmp_path / "auto-runs" / "stopped"
    _wait(view, lambda: "stage search" in view.auto_status, timeout=120)
    time.sleep(5)
    view.stop_auto()
    assert "stop requested" in view.message
    _wait(view, lambda: not run.running, timeout=90)
    assert run.returncode == 130, run.log_tail(20)
    assert "stopped (Resume goes on)" in view.auto_status
    # Ctrl-C reached the trial process too: it ends without a traceback in the log (dask's
    # worker process still prints its own KeyboardInterrupt)
    assert "_child.py" not in run.log_path.read_text(), run.log_tail(40)
    assert auto_api.read_state(out)["stages"]["search"]["seconds"] > 0
    assert view.start_auto() is None and "exists" in view.error
    assert view.start_auto(resume=True) is not None, view.error
    assert "--resume" in run.log_path.read_text() and run.running
    time.sleep(15)  # past Python's start: the pipeline itself takes the Ctrl-C
    run.stop(wait_s=60)
    assert run.returncode == 130, run.log_tail(20)
    assert "--resume" in run.log_tail(3)  # the pipeline's own hint for going on


def test_a_run_that_fails_says_so_with_its_error(tmp_path):
    """A data set the pipeline cannot open: the process ends at once, the page says failed and
    shows the pipeline's own error line from the log."""
    from app.catalog import Catalog
    from app.settings import AppSettings

    cat = Catalog(AppSettings(data=()))
    cat.add("gone", object(), path=str(tmp_path / "no-such-data"))
    v = HyperspaceView(StudyState({}), cat, auto_root=tmp_path / "auto-runs",
                       auto_name="bad", auto_budget="3m")
    run = v.start_auto()
    assert run is not None, v.error
    _wait(v, lambda: not run.running, timeout=120)
    assert run.returncode not in (0, None)
    assert "failed (exit" in v.auto_status and "bad.log" in v.auto_status
    assert "no-such-data" in v.auto_log and "Traceback" not in v.auto_log


def test_the_log_tail_leaves_out_the_tracebacks_of_a_stop_but_not_errors():
    """Stop is Ctrl-C to the run's processes: dask's worker process prints a KeyboardInterrupt
    traceback (chained to a CancelledError); the page leaves it out. A real error's traceback
    stays, and so does an ordinary line starting with "Process"."""
    log = """INFO satseg.search.runner: study auto: trial 0 submitted (rung 0, budget 1)
Process Dask Worker process (from Nanny):
Traceback (most recent call last):
  File "asyncio/runners.py", line 118, in run
    return self._loop.run_until_complete(task)
asyncio.exceptions.CancelledError
During handling of the above exception, another exception occurred:
Traceback (most recent call last):
  File "multiprocessing/process.py", line 314, in _bootstrap
    self.run()
KeyboardInterrupt
interrupted: what is done stays in runs/a; continue with: satseg auto ... --resume
Traceback (most recent call last):
  File "x.py", line 1, in <module>
ValueError: a real error
Processed 3 images""".splitlines()
    kept = auto_api.drop_interrupt_tracebacks(log)
    assert kept[0].startswith("INFO") and kept[1].startswith("interrupted:")
    assert not any("CancelledError" in ln or ln == "KeyboardInterrupt" for ln in kept)
    assert kept[2:] == log[-4:]


def test_a_runs_model_is_read_once_until_its_report_changes(tmp_path, monkeypatch):
    """Every page asks every run on disk for its model every 2 s: the answer is kept while
    report.json and meta.json are unchanged, read again when the run writes them anew, and a
    run whose model file is gone offers nothing."""
    import json
    import os

    out = tmp_path / "auto-runs" / "r"
    out.mkdir(parents=True)
    (out / "model.keras").write_bytes(b"x")
    (out / "meta.json").write_text(json.dumps({"classes": [{"name": "Water"}]}))
    (out / "report.json").write_text(json.dumps({"fit_on": "train", "per_class": {"Water": 0.5}}))
    run = auto_api.AutoRun(out)
    reads = []
    real = auto_api.AutoRun._read_model_info
    monkeypatch.setattr(auto_api.AutoRun, "_read_model_info",
                        lambda self: reads.append(1) or real(self))
    first = run.model_info()
    assert first["objective"] == 0.5 and first["classes"] == ["Water"]
    assert run.model_info() is first and len(reads) == 1
    (out / "report.json").write_text(json.dumps({"fit_on": "train", "per_class": {"Water": 0.7}}))
    os.utime(out / "report.json", ns=(1, 10**18))  # a new mtime even on a coarse clock
    assert run.model_info()["objective"] == 0.7 and len(reads) == 2
    (out / "model.keras").unlink()
    assert run.model_info() == {}


def test_a_stop_not_taken_is_sent_again(tmp_path, monkeypatch):
    """A run still going STOP_REPEAT_S after Stop gets the Ctrl-C again from the page's poll
    (a process here that lets its first SIGINT pass, as a run once did on a loaded machine)."""
    import subprocess
    import sys

    monkeypatch.setattr(auto_api, "STOP_REPEAT_S", 3.0)
    code = ("import signal, sys, time\n"
            "seen = []\n"
            "signal.signal(signal.SIGINT, lambda *a: seen.append(1) or (len(seen) > 1 and "
            "sys.exit(130)))\n"
            "print('ready', flush=True)\n"
            "while True: time.sleep(0.05)\n")
    run = auto_api.AutoRun(tmp_path / "r")
    run.proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                start_new_session=True, text=True)
    try:
        assert run.proc.stdout is not None and run.proc.stdout.readline().strip() == "ready"
        assert not run.repeat_stop()  # no Stop pressed: nothing is sent
        run.stop(wait_s=0.5)
        assert run.running  # the first Ctrl-C was let pass
        assert not run.repeat_stop()  # not yet STOP_REPEAT_S after it
        time.sleep(3.0)
        assert run.repeat_stop()
        run.proc.wait(10)
        assert not run.running and run.returncode == 130
        assert not run.repeat_stop()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
