"""Results tab state: overlays and error maps from a prediction, readable errors (no browser)."""

import numpy as np
import pytest

pytest.importorskip("panel")

from app.render import ERROR_COLOURS, hex_to_rgb  # noqa: E402
from app.studies import StudyState  # noqa: E402
from app.views.results import BUNDLED, ResultsView, run_dir_of  # noqa: E402


@pytest.fixture
def view(catalog, tmp_path):
    return ResultsView(StudyState({"none.db": str(tmp_path / "none.db")}), catalog)


def _inject(view, trial_id, probs):
    names = [c.name for c in view.catalog.dataset(view.dataset).classes]
    view.predictions[view.key(trial_id)] = ((probs * 255).astype(np.uint8), names)


def test_selections_follow_dataset(view):
    ds = view.catalog.dataset(view.dataset)
    assert view.image in ds.labelled_ids()
    assert view.error_class == ds.classes[0].name
    # no study: only the shipped demo model (when the data set has its classes), else nothing
    assert view.trial in (None, BUNDLED) and view.jaccard_table([]).empty


def test_predict_without_trial_is_a_message(view):
    view.trial = None  # the shipped demo model is selected by default on the sample
    assert view.predict() is None
    assert "finished trial" in view.error


def test_overlay_and_error_map_from_prediction(view):
    labels = view.catalog.labels(view.dataset, view.image)
    truth = labels.masks.astype(np.float32)
    # A prediction equal to the truth except one class shifted by 3 px: TP, FP and FN all occur.
    probs = truth.copy()
    probs[0] = np.roll(truth[0], 3, axis=1)
    _inject(view, 7, probs)
    assert view.prediction(7) is not None and view.prediction(8) is None
    ov = view.overlay(7)
    assert ov.shape == (*labels.shape, 4)
    view.error_class = labels.classes[0].name
    em = view.error_map(7)
    colours = {k: hex_to_rgb(c) for k, c in ERROR_COLOURS.items()}
    pred0, true0, ign = probs[0] > 0.5, truth[0] > 0.5, labels.ignore
    for key, sel in (("TP", pred0 & true0), ("FP", pred0 & ~true0), ("FN", ~pred0 & true0)):
        sel = sel & ~ign
        assert sel.any()
        assert np.allclose(em[sel][:, :3], colours[key])
    # A class predicted exactly: no FP or FN pixels in its error map.
    view.error_class = labels.classes[1].name
    em1 = view.error_map(7)
    fp_fn = [hex_to_rgb(ERROR_COLOURS[k]) for k in ("FP", "FN")]
    visible = em1[..., 3] > 0
    assert not any(np.allclose(px, c) for px in em1[visible][:50, :3] for c in fp_fn)


def test_threshold_changes_masks(view):
    labels = view.catalog.labels(view.dataset, view.image)
    probs = np.full(labels.masks.shape, 0.4, np.float32)
    _inject(view, 1, probs)
    view.threshold = 0.5
    assert not view.masks(1)[0].any()
    view.threshold = 0.3
    assert view.masks(1)[0].all()


def test_run_dir_of_artifacts(tmp_path):
    assert run_dir_of({"artifacts": {"run_dir": str(tmp_path)}}) == tmp_path
    assert run_dir_of({"artifacts": {"model": str(tmp_path / "model.keras")}}) == tmp_path
    assert run_dir_of({"artifacts": {}}) is None


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A real run folder: a tiny U-Net trained for one short epoch on the bundled sample."""
    from satseg.training import train

    cfg = {"model": {"input_size": 64, "crop_margin": 0, "depth": 2, "base_filters": 4},
           "training": {"epochs": 1, "steps_per_epoch": 2, "batch_size": 2, "workers": 1}}
    out = tmp_path_factory.mktemp("run") / "run"
    return train(cfg, data="sample", out_dir=out, progress=False)


@pytest.mark.slow
def test_predict_in_background_with_a_real_run(tiny_run, tmp_path):
    from app.catalog import Catalog
    from app.settings import AppSettings

    catalog = Catalog(AppSettings(data=("sample",)))
    view = ResultsView(StudyState({"none.db": str(tmp_path / "none.db")}), catalog)
    # What StudyStore.trial returns for a finished trial (artifacts point at its run folder).
    view._infos[view.studies.store, view.studies.study, 3] = {
        "per_class": tiny_run.per_class, "artifacts": {"run_dir": str(tiny_run.run_dir)}}
    assert list(view.jaccard_table([3])["class"]) == list(tiny_run.per_class)
    job = view.predict(3)
    assert job is not None and view.progress == 0
    assert job.wait(300), "prediction did not finish"
    view.poll()
    assert view.error == "" and view.progress == -1 and view.version == 1
    probs, names = view.prediction(3)
    assert names == [c.name for c in catalog.dataset(view.dataset).classes]
    assert probs.shape == (len(names), *catalog.shape(view.dataset, view.image))
    assert view.overlay(3).shape[:2] == probs.shape[1:]
    assert view.error_map(3) is not None
    assert view.predict(3) is None  # cached: nothing to do


@pytest.mark.slow
def test_predict_failure_is_readable(tiny_run, tmp_path):
    from app.catalog import Catalog
    from app.settings import AppSettings

    view = ResultsView(StudyState({"none.db": str(tmp_path / "none.db")}),
                       Catalog(AppSettings(data=("sample",))))
    view._infos[view.studies.store, view.studies.study, 4] = {"artifacts": {"run_dir": str(tmp_path)}}
    job = view.predict(4)  # an empty folder: load_run fails
    job.wait(120)
    view.poll()
    assert view.error.startswith("prediction of trial 4 failed:") and "Traceback" not in view.error
