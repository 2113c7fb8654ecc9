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
def test_auto_runs_to_its_report_and_offers_its_search(view, tmp_path):
    view.auto_name, view.auto_budget = "quick", "2m"
    run = view.start_auto()
    assert run is not None, view.error
    assert "running" in view.auto_status
    assert "auto: quick" in view.studies.param.store.objects
    _wait(view, lambda: view.auto_report and not run.running, timeout=300)
    assert run.returncode == 0 and "finished" in view.auto_status
    assert "# satseg auto" in view.auto_report and "Time per stage" in view.auto_report
    assert (tmp_path / "auto-runs" / "quick" / "model.keras").is_file()
    # the space in the editor is the one searched
    assert "model.base_filters" in (tmp_path / "auto-runs" / "quick.space.yaml").read_text()
    view.studies.store = "auto: quick"
    view.studies.poll(force=True)
    assert view.studies.study == "auto" and len(view.studies.trials) >= 1
    # another page of the same server sees the finished run
    other = HyperspaceView(StudyState({}), view.catalog, auto_root=tmp_path / "auto-runs",
                           auto_name="quick")
    assert "finished" in other.auto_status and other.auto_report
    # its final model is offered in the Results tab and predicts there
    from app.views.results import ResultsView

    results = ResultsView(view.studies, view.catalog)
    assert "auto run quick" in results.param.trial.objects
    info = results.info("auto run quick")
    assert info["artifacts"]["run_dir"] == str(tmp_path / "auto-runs" / "quick")
    assert info["per_class"] == {}  # fit on every image: no honest validation score to show
    results.trial = "auto run quick"
    job = results.predict("auto run quick")
    assert job is not None and job.wait(300), results.error
    results.poll()
    probs, names = results.prediction("auto run quick")
    assert probs.shape[0] == len(names) == 5 and "auto run quick on" in results.status_text


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
