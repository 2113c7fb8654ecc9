"""``satseg auto`` and ``satseg study train-best`` from the command line."""

from __future__ import annotations

import json

import pytest

from satseg.cli import main
from tests.conftest import AUTO_HELD_OUT as HELD_OUT


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_bad_budgets_are_one_line_errors(capsys, tmp_path):
    code, _, err = run(capsys, "auto", "--data", "sample", "--budget", "half an hour",
                       "--out", str(tmp_path / "r"))
    assert code == 2 and "--budget" in err and "30m" in err
    code, _, err = run(capsys, "auto", "--data", "sample", "--budget", "1m",
                       "--out", str(tmp_path / "r"))
    assert code == 2 and "too small for even one search trial" in err
    assert not (tmp_path / "r").exists()
    code, _, err = run(capsys, "search", "--budget", "5x", "--store", str(tmp_path / "s.db"))
    assert code == 2 and "--budget" in err


def test_a_search_share_outside_its_range_is_a_one_line_error(capsys, tmp_path):
    for share in ("0.95", "0.05", "nan"):
        code, _, err = run(capsys, "auto", "--data", "sample", "--budget", "30m",
                           "--search-share", share, "--out", str(tmp_path / "r"))
        assert code == 2 and "--search-share" in err and "[0.1, 0.9]" in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "r").exists()
    with pytest.raises(SystemExit) as e:  # not a number: argparse's own usage error
        main(["auto", "--data", "sample", "--budget", "30m", "--search-share", "half",
              "--out", str(tmp_path / "r")])
    assert e.value.code == 2 and "--search-share" in capsys.readouterr().err


def test_train_best_needs_minutes_and_out(capsys, tmp_path):
    from satseg.search import StudyStore

    StudyStore(tmp_path / "s.db").create_study("s", {"params": {"x": 1}}, data="sample")
    code, _, err = run(capsys, "study", "train-best", "s", "--store", str(tmp_path / "s.db"))
    assert code == 2 and "--minutes" in err
    code, _, err = run(capsys, "study", "train-best", "s", "--store", str(tmp_path / "s.db"),
                       "--minutes", "1", "--out", str(tmp_path / "run"))
    assert code == 2 and "no finished trial" in err


@pytest.mark.slow
@pytest.mark.xdist_group("sample_auto_run")  # one 3-minute run serves both (make test -n 2)
def test_auto_end_to_end_on_the_sample(capsys, tmp_path, sample_auto_run):
    """A 3-minute `satseg auto` on the bundled sample (one image held out; the session's
    ``sample_auto_run``), then `satseg predict` and `satseg evaluate` on the held-out image
    with the run it wrote."""
    code, stdout, err, out = sample_auto_run
    assert code == 0, err[-2000:]
    assert "# satseg auto" in stdout and "Time per stage" in stdout
    state = json.loads((out / "auto.json").read_text())
    assert all(state["stages"][s]["done"] for s in ("search", "final", "tune", "report"))
    report = json.loads((out / "report.json").read_text())
    assert set(report["per_class"]) == {"Building", "Land", "Road", "Vegetation", "Water"}
    assert set(report["seconds"]) == {"search", "final", "tune", "report"}
    assert sum(report["seconds"].values()) < 3 * 60 + 60  # the budget, with a minute's slack
    meta = json.loads((out / "meta.json").read_text())
    assert HELD_OUT not in meta["train_ids"]
    # --fit-on all (the default): the validation images trained too, nothing was tuned on them
    assert set(meta["val_ids"]) <= set(meta["train_ids"]) and report["fit_on"] == "all"
    assert not (out / "postprocess.json").exists() and (out / "report.md").is_file()
    assert "Post-processing not tuned" in stdout and state["stages"]["tune"]["skipped"]
    # the run folder is refused again without --resume, and --resume of a done run is quick
    code, _, err = run(capsys, "auto", "--data", "sample", "--budget", "3m", "--out", str(out))
    assert code == 2 and "--resume" in err
    code, stdout, _ = run(capsys, "auto", "--data", "sample", "--budget", "3m", "--out",
                          str(out), "--resume", "--no-progress")
    assert code == 0 and "# satseg auto" in stdout
    pred = tmp_path / "pred"
    code, _, err = run(capsys, "predict", "--model", str(out), "--data", "sample", "--scenes",
                       HELD_OUT, "--out", str(pred), "--tta", "1", "--format", "tif",
                       "--no-progress")
    assert code == 0, err[-2000:]
    code, stdout, err = run(capsys, "evaluate", "--pred", str(pred), "--data", "sample",
                            "--json", "--no-progress")
    assert code == 0, err[-2000:]
    scores = json.loads(stdout[stdout.index("{"):])
    assert 0.0 <= scores["mean"] <= 1.0
