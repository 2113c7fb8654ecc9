"""Hyperspace tab: YAML parsing and field checks (no browser). The search itself is tested in
test_ui.py where satseg.search is installed."""

import pytest

pytest.importorskip("panel")

from app.spacefields import Field, check_field, dict_from_fields, fields_from_dict, parse_yaml  # noqa: E402
from satseg.errors import SpaceError  # noqa: E402


def test_parse_yaml_is_safe_and_located():
    assert parse_yaml("a: 1\nb: [1, 2]\n") == {"a": 1, "b": [1, 2]}
    with pytest.raises(SpaceError, match="line 1, column"):
        parse_yaml("learning_rate: low: 1")
    with pytest.raises(SpaceError, match="mapping"):
        parse_yaml("- 1\n- 2\n")
    with pytest.raises(SpaceError):  # python tags are refused by safe_load
        parse_yaml("a: !!python/object/apply:os.system ['true']")


def test_check_field_messages():
    assert check_field(Field(name="lr", kind="float", low=1e-4, high=1e-2, log=True)) == ""
    assert "below" in check_field(Field(name="lr", kind="float", low=1.0, high=0.5))
    assert "low > 0" in check_field(Field(name="lr", kind="float", low=0.0, high=1.0, log=True))
    assert "at least one" in check_field(Field(name="b", kind="choice", options=[1, 2], selected=[]))
    assert check_field(Field(name="b", kind="choice", options=[1], selected=[], enabled=False)) == ""


def test_fields_round_trip():
    doc = {"params": {
        "training.learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-2},
        "model.depth": {"type": "int", "low": 3, "high": 5},
        "model.block": {"type": "choice", "options": ["plain", "residual"]},
        "training.epochs": 1,
    }}
    fields = fields_from_dict(doc)
    assert [f.kind for f in fields] == ["float", "int", "choice", "fixed"]
    assert fields[0].log and fields[0].bounds[0] < 1e-4
    assert dict_from_fields(fields) == doc
    fields[2].selected = ["plain"]
    fields[3].enabled = False
    out = dict_from_fields(fields)
    assert out["params"]["model.block"] == {"type": "choice", "options": ["plain"],
                                            "offered": ["plain", "residual"]}
    assert out["_disabled"] == {"training.epochs": 1}
    assert [f.name for f in fields_from_dict(out)] == [f.name for f in fields]
    with pytest.raises(SpaceError, match="unknown type"):
        fields_from_dict({"params": {"x": {"type": "normal"}}})


def test_bad_yaml_changes_nothing(catalog, tmp_path):
    from app.studies import StudyState
    from app.views.hyperspace import HyperspaceView

    view = HyperspaceView(StudyState({"s.db": str(tmp_path / "s.db")}), catalog)
    before = (view.yaml_text, [f.name for f in view.fields], view.fields_version)
    assert view.set_yaml("a: b: c") is False
    assert "line 1" in view.yaml_error
    assert (view.yaml_text, [f.name for f in view.fields], view.fields_version) == before
    assert view.classes == [c.name for c in catalog.dataset(view.dataset).classes]
    view.class_mode = "one study per class"
    view.study_name = "s"
    plan = view.plan()
    assert len(plan) == len(view.classes) and plan[0][1] == [view.classes[0]]


def test_the_editor_keeps_a_space_initial_points(catalog, tmp_path):
    """The default space's initial points (not shown as widgets) survive a widget edit and are
    in the space a search is started with; one a widget edit would exclude is refused there."""
    from app.studies import StudyState
    from app.views.hyperspace import HyperspaceView

    view = HyperspaceView(StudyState({"s.db": str(tmp_path / "s.db")}), catalog)
    points = view.space_doc()["initial_points"]
    assert points and points[0]["model.depth"] == 4  # the default space's plain recipe
    assert view.update_field("model.dropout", high=0.3) is True
    assert parse_yaml(view.yaml_text)["initial_points"] == points
    assert view.space_doc()["initial_points"] == points
    # depth 4 is the first point's: a range without it is refused, and names the point
    assert view.update_field("model.depth", low=5, high=6) is False
    assert "model.depth" in view.field_errors and "initial" in view.field_errors["model.depth"]
    assert view.space_doc()["params"]["model.depth"]["low"] == 3  # the last valid state
