"""satseg.io.yamlfile: YAML 1.2 float spellings everywhere satseg reads YAML; one-line errors."""

from __future__ import annotations

import math

import pytest
import yaml

from satseg.errors import ConfigError, ManifestError
from satseg.io.yamlfile import as_number, load_yaml, load_yaml_file

SPELLINGS = {"1e-3": 1e-3, "1E5": 1e5, ".5": 0.5, "5.": 5.0, "-2.5e+3": -2500.0, "+1e0": 1.0,
             "2.0e-4": 2e-4, "1_000.5": 1000.5, ".inf": math.inf}


@pytest.mark.parametrize("text,value", SPELLINGS.items())
def test_float_spellings(text, value):
    got = load_yaml(f"x: {text}")["x"]
    assert isinstance(got, float) and got == value


def test_other_scalars_unchanged():
    doc = load_yaml("a: 12\nb: 0x10\nc: e5\nd: 1e\ne: 1.2.3\nf: yes\ng: '1e-3'\nh: null")
    assert doc == {"a": 12, "b": 16, "c": "e5", "d": "1e", "e": "1.2.3", "f": True,
                   "g": "1e-3", "h": None}
    assert isinstance(doc["a"], int)
    assert yaml.safe_load("x: 1e-3") == {"x": "1e-3"}  # PyYAML's own loader is not changed


def test_no_python_objects():
    with pytest.raises(yaml.YAMLError):
        load_yaml("x: !!python/object/apply:os.system ['true']")


def test_as_number():
    assert as_number("1e-3") == 1e-3 and as_number(" 7 ") == 7 and isinstance(as_number("7"), int)
    assert as_number("abc") == "abc" and as_number(True) is True and as_number("") == ""
    assert as_number("-inf") == -math.inf


def test_file_errors_are_one_line_with_line_and_column(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("training:\n  epochs: 2\n   bad: [\n")
    with pytest.raises(ConfigError) as err:
        load_yaml_file(p, what="training config")
    msg = str(err.value)
    assert "\n" not in msg and str(p) in msg and "line 3, column" in msg
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml_file(tmp_path / "nope.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_yaml_file(tmp_path / "bin.yaml")


def test_training_config_file_and_set_accept_exponents(tmp_path):
    from satseg.cli.train import _overrides
    from satseg.training import TrainConfig

    p = tmp_path / "c.yaml"
    p.write_text("training:\n  learning_rate: 1e-3\n  min_learning_rate: 1E-6\n"
                 "model:\n  l2: 1e-5\n")
    cfg = TrainConfig.from_yaml(p)
    assert cfg.training.learning_rate == 1e-3 and cfg.training.min_learning_rate == 1e-6
    assert cfg.model_config(3, 2).l2 == 1e-5
    cfg = cfg.updated(_overrides(["training.learning_rate=5e-4", "training.threshold=.4"]))
    assert cfg.training.learning_rate == 5e-4 and cfg.training.threshold == 0.4
    # numbers spelt as text (JSON from the dashboard, quoted YAML) are numbers too
    assert cfg.updated({"training.learning_rate": "2e-3"}).training.learning_rate == 2e-3
    with pytest.raises(ConfigError, match="must be a number"):
        cfg.updated({"training.learning_rate": "fast"})


def test_training_config_yaml_error_is_one_line(tmp_path, capsys):
    from satseg.cli import main

    p = tmp_path / "c.yaml"
    p.write_text("training:\n  epochs: 2\n learning_rate: [1\n")
    code = main(["train", "--config", str(p), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(p) in err and "line " in err and "column " in err


def test_space_and_manifest_read_exponents(tmp_path):
    from satseg.io.manifest import load_manifest
    from satseg.search.space import load_space

    space = load_space("params:\n  training.learning_rate: {type: loguniform, low: 1e-4, "
                       "high: 1E-2}\n  training.min_learning_rate: 1e-6\n")
    assert space.to_dict()["params"]["training.min_learning_rate"] == 1e-6
    m = tmp_path / "satseg.yaml"
    m.write_text("bands: [{name: r, wavelength: 6.6e2}]\nimages: {pattern: 'i/{name}.tif', "
                 "nodata: -1e4}\nclasses: [{name: a}]\n")
    man = load_manifest(m)
    assert man.image_nodata == -1e4 and man.bands[0].wavelength == 660.0


def test_manifest_absolute_pattern_is_refused(tmp_path):
    from satseg.io.manifest import load_manifest

    m = tmp_path / "satseg.yaml"
    m.write_text(f"images: {{pattern: '{tmp_path}/i/{{name}}.tif'}}\nclasses: [{{name: a}}]\n")
    with pytest.raises(ManifestError, match="absolute path") as err:
        load_manifest(m)
    assert "root:" in str(err.value) and "images.pattern" in str(err.value)
