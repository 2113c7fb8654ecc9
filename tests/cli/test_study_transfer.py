"""``satseg study import`` never runs code from a pickle; ``study export`` never overwrites."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from satseg.cli import main


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("INFO", "DEBUG"))]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


class _Payload:
    """Unpickling this object calls os.system (the classic pickle exploit)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def trials_pickle(tmp_path_factory) -> Path:
    """A real hyperopt Trials from fmin (numpy values, datetimes, a choice), pickled."""
    from hyperopt import STATUS_OK, Trials, fmin, hp, tpe

    def objective(p):
        return {"loss": float((p["x"] - 1) ** 2), "status": STATUS_OK, "x": np.float64(p["x"])}

    trials = Trials()
    fmin(objective, {"x": hp.uniform("x", -3, 3), "c": hp.choice("c", ["a", "b"])},
         algo=tpe.suggest, max_evals=4, trials=trials, rstate=np.random.default_rng(0),
         show_progressbar=False)
    path = tmp_path_factory.mktemp("pk") / "trials.pkl"
    path.write_bytes(pickle.dumps(trials))
    return path


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_real_trials_pickle_imports(tmp_path, capsys, trials_pickle, protocol):
    pk = tmp_path / "t.pkl"
    pk.write_bytes(pickle.dumps(pickle.loads(trials_pickle.read_bytes()), protocol=protocol))
    store = tmp_path / "s.db"
    code, out, err = run(capsys, "study", "import", "old", "--trials", str(pk), "--store",
                         str(store))
    assert code == 0, err
    assert "imported 4 trial(s)" in out
    from satseg.search import StudyStore

    df = StudyStore(store).trials("old")
    assert len(df) == 4 and df["objective"].notna().all()


@pytest.mark.parametrize("wrap", ["bare", "inside_trials"])
def test_malicious_pickle_does_not_run(tmp_path, capsys, trials_pickle, wrap):
    marker = tmp_path / "pwned"
    if wrap == "bare":
        payload: object = _Payload(marker)
    else:  # hidden in a result of an otherwise real Trials
        payload = pickle.loads(trials_pickle.read_bytes())
        payload.trials[0]["result"]["evil"] = _Payload(marker)  # type: ignore[attr-defined]
    pk = tmp_path / "evil.pkl"
    pk.write_bytes(pickle.dumps(payload))
    before = _sha(pk)
    store = tmp_path / "s.db"
    code, _, err = run(capsys, "study", "import", "x", "--trials", str(pk), "--store", str(store))
    line = one_line(err)
    assert code == 2 and not marker.exists()
    assert str(pk) in line and ("posix.system" in line or "os.system" in line), line
    assert "--trust-pickle" in line
    assert not store.exists()  # refused before the store is created
    assert _sha(pk) == before


def test_trust_pickle_uses_the_full_unpickler(tmp_path, capsys):
    """--trust-pickle is what it says: the file's code runs (documented); shown with a payload
    that is harmless here."""
    marker = tmp_path / "ran"
    pk = tmp_path / "p.pkl"
    pk.write_bytes(pickle.dumps(_Payload(marker)))
    code, _, err = run(capsys, "study", "import", "x", "--trials", str(pk), "--store",
                       str(tmp_path / "s.db"), "--trust-pickle")
    assert marker.exists()  # the code ran, as documented
    assert code == 2 and "not a hyperopt Trials" in one_line(err)


@pytest.mark.parametrize("blob", [b"", b"\x80\x04garbage", b"not a pickle at all"])
def test_garbage_pickle_is_one_line(tmp_path, capsys, blob):
    pk = tmp_path / "g.pkl"
    pk.write_bytes(blob)
    code, _, err = run(capsys, "study", "import", "x", "--trials", str(pk), "--store",
                       str(tmp_path / "s.db"))
    assert code == 2 and str(pk) in one_line(err)


def test_truncated_trials_pickle(tmp_path, capsys, trials_pickle):
    pk = tmp_path / "t.pkl"
    pk.write_bytes(trials_pickle.read_bytes()[:200])
    code, _, err = run(capsys, "study", "import", "x", "--trials", str(pk), "--store",
                       str(tmp_path / "s.db"))
    assert code == 2 and "not a readable hyperopt Trials pickle" in one_line(err)


def test_export_refuses_existing_unless_overwrite(tmp_path, capsys, trials_pickle):
    store = tmp_path / "s.db"
    assert run(capsys, "study", "import", "old", "--trials", str(trials_pickle), "--store",
               str(store))[0] == 0
    for suffix in (".csv", ".json"):
        out = tmp_path / f"old{suffix}"
        out.write_text("precious")
        code, _, err = run(capsys, "study", "export", "old", "--store", str(store), "--out",
                           str(out))
        line = one_line(err)
        assert code == 2 and "--overwrite" in line and str(out) in line
        assert out.read_text() == "precious"
        code, _, err = run(capsys, "study", "export", "old", "--store", str(store), "--out",
                           str(out), "--overwrite")
        assert code == 0, err
        assert out.read_text() != "precious" and "trial" in out.read_text()
    names = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("s.db"))
    assert names == ["old.csv", "old.json"]  # no temporary file left behind
