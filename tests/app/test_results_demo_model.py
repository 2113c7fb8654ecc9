"""Results tab: the shipped demo model beside a study's trials, both trials' status lines, class
palettes (no browser; the demo model predicts for real with TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("panel")

from app.studies import StudyState  # noqa: E402
from app.views.results import BUNDLED, DISTINCT, PALETTES, ResultsView  # noqa: E402
from satseg.datasets.demo_model import demo_model_info, demo_model_path  # noqa: E402

needs_model = pytest.mark.skipif(demo_model_path() is None, reason="demo model not installed")


@pytest.fixture
def view(tmp_path):
    from app.catalog import Catalog
    from app.settings import AppSettings

    return ResultsView(StudyState({"none.db": str(tmp_path / "none.db")}),
                       Catalog(AppSettings(data=("sample",))))


@needs_model
def test_the_demo_model_is_offered_first_with_its_jaccard(view):
    info = demo_model_info()
    assert info["objective"] > 0.35  # clearly better than the quick trials (0.08-0.25)
    assert view.trial == BUNDLED and view.param.trial.objects == [BUNDLED]
    table = view.jaccard_table()
    assert set(table["class"]) == {"Building", "Land", "Road", "Vegetation", "Water"}
    assert table["jaccard"].mean() == pytest.approx(info["objective"])


@needs_model
@pytest.mark.slow
def test_the_demo_model_predicts_and_the_status_reports_both_trials(view):
    view.other = BUNDLED
    job = view.predict(BUNDLED)
    assert job is not None and job.wait(300), "prediction did not finish"
    view.poll()
    assert view.error == ""
    probs, names = view.prediction(BUNDLED)
    labels = view.catalog.labels(view.dataset, view.image)
    truth = labels.masks
    pred = probs >= 128
    inter = (pred & truth).sum(axis=(1, 2))
    union = (pred | truth).sum(axis=(1, 2))
    assert float(np.mean(inter / np.maximum(union, 1))) > 0.3  # a useful map, not noise
    view._status(7, "trial 7 on x: predicting (tiled, blended)")
    view.other = 7
    view._status(7, "trial 7 on x: predicting (tiled, blended)")
    lines = view.status_text.split("  \n")
    assert lines[0].startswith("the demo model on") and lines[0].endswith(("predicted", " s"))
    assert lines[1].startswith("trial 7")


def test_distinct_palette_tells_water_from_vegetation(view):
    names = [c.name for c in view.catalog.dataset(view.dataset).classes]
    own = dict(view.legend())
    assert set(own) == set(names)
    view.palette = PALETTES[1]
    distinct = dict(view.legend())
    assert len(set(distinct.values())) == len(names) and set(distinct.values()) <= set(DISTINCT)

    def rgb(h):
        return np.array([int(h[i:i + 2], 16) for i in (1, 3, 5)], float)

    assert np.abs(rgb(distinct["Water"]) - rgb(distinct["Vegetation"])).max() > 100
