"""Property tests: corrupted inputs (truncated, bytes flipped, blocks zeroed) never give a
traceback, a wrong exit code, a changed input or a half-written output.

For raster, mask, manifest, training-config, study-store and pickle bytes, Hypothesis damages one
file of a small data world and runs the command that reads it, in-process. The command either
succeeds (some damage is harmless, e.g. a flipped pixel value) or exits 2 with one line
``satseg: error: ...``; every file's bytes are what they were before the command, and only the
command's own output may appear, and only on success.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from satseg.cli import main
from tests.cli import sweep_world
from tests.io import makers

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])  # fmt: skip
# (capsys is drained before each example: run_damaged calls readouterr() first)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The undamaged world, copied for every example."""
    root = tmp_path_factory.mktemp("template")
    makers.code_dataset(root / "ds", n=2, size=32)
    (root / "cfg.yaml").write_text(
        "model:\n  depth: 2\n  base_filters: 8\ntraining:\n  epochs: 1\n  learning_rate: 1e-3\n"
        "  optimizer: adam\ndata:\n  val_fraction: 0.5\naugment:\n  d4: true\n"
    )
    (root / "trials.pkl").write_bytes(pickle.dumps(sweep_world.hyperopt_trials()))
    from satseg.search import StudyStore
    from satseg.search.transfer import import_hyperopt_trials

    import_hyperopt_trials(StudyStore(root / "store.db"), "s", root / "trials.pkl")
    for side in ("store.db-wal", "store.db-shm"):
        (root / side).unlink(missing_ok=True)
    return root


@st.composite
def damage(draw) -> Callable[[bytes], bytes]:
    """A function that damages bytes: truncate, flip bytes, or zero a block."""
    kind = draw(st.sampled_from(["truncate", "flip", "zero"]))
    if kind == "truncate":
        frac = draw(st.floats(0.0, 0.99))
        return lambda b: b[: int(len(b) * frac)]
    if kind == "flip":
        spots = draw(st.lists(st.tuples(st.floats(0.0, 0.999), st.integers(1, 255)),
                              min_size=1, max_size=8))  # fmt: skip

        def flip(b: bytes) -> bytes:
            out = bytearray(b)
            for frac, mask in spots:
                if out:
                    out[int(len(out) * frac)] ^= mask
            return bytes(out)

        return flip
    start, length = draw(st.floats(0.0, 0.99)), draw(st.integers(1, 4096))

    def zero(b: bytes) -> bytes:
        i = int(len(b) * start)
        return b[:i] + bytes(min(length, len(b) - i)) + b[i + length:]

    return zero


def run_damaged(template: Path, target: str, fn: Callable[[bytes], bytes], argv: list[str],
                outputs: tuple[str, ...] = (), capsys=None) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "w"
        shutil.copytree(template, world)
        path = world / target
        path.write_bytes(fn(path.read_bytes()))
        before = sweep_world.checksums(world)
        capsys.readouterr()
        code = main([a.replace("{w}", str(world)) for a in argv])
        _, err = capsys.readouterr()
        after = sweep_world.checksums(world)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert "Traceback" not in err, err
        assert code in (0, 2), (code, err)
        event(f"exit {code}")  # --hypothesis-show-statistics: how many examples were refused
        if code == 2:
            assert len(lines) == 1 and lines[0].startswith("satseg: error: "), err
        changed = sorted(k for k in before if after.get(k) != before[k])
        assert not changed, f"inputs changed: {changed}"
        added = set(after) - set(before)
        allowed = {o for o in outputs if code == 0}
        assert not {a for a in added if not any(a.startswith(o) for o in allowed)}, added
        assert not (world / "PWNED").exists()
        return code, err


@SETTINGS
@given(fn=damage())
def test_damaged_raster_stack(template, capsys, fn):
    run_damaged(template, "ds/images/scene0.tif", fn,
                ["data", "stack", "{w}/ds", "scene0", "--out", "{w}/out.tif"], ("out.tif",),
                capsys=capsys)


@SETTINGS
@given(fn=damage())
def test_damaged_mask_info(template, capsys, fn):
    run_damaged(template, "ds/masks/scene0_mask.tif", fn, ["data", "info", "{w}/ds", "--json"],
                capsys=capsys)


@SETTINGS
@given(fn=damage())
def test_damaged_manifest(template, capsys, fn):
    run_damaged(template, "ds/satseg.yaml", fn, ["data", "info", "{w}/ds", "--no-counts"],
                capsys=capsys)


@SETTINGS
@given(fn=damage())
def test_damaged_training_config(template, capsys, fn):
    # a config that survives is then refused for its missing data set: exit 2 either way, and
    # nothing is trained
    code, err = run_damaged(template, "cfg.yaml", fn, ["train", "--config", "{w}/cfg.yaml",
                                                       "--data", "{w}/nodata", "--out", "{w}/r"],
                            capsys=capsys)
    assert code == 2 and ("cfg.yaml" in err or "nodata" in err), err


@SETTINGS
@given(fn=damage(), action=st.sampled_from(["list", "show"]))
def test_damaged_store_read_only(template, capsys, fn, action):
    run_damaged(template, "store.db", fn, ["study", action, "s", "--store", "{w}/store.db"]
                if action == "show" else ["study", "list", "--store", "{w}/store.db"],
                capsys=capsys)


@SETTINGS
@given(fn=damage())
def test_damaged_trials_pickle(template, capsys, fn):
    run_damaged(template, "trials.pkl", fn, ["study", "import", "x", "--trials",
                                             "{w}/trials.pkl", "--store", "{w}/new.db"],
                ("new.db",), capsys=capsys)
