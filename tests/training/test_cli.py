"""``satseg train`` through the CLI dispatcher."""

from __future__ import annotations

import json

import pytest
import yaml

from satseg.cli import main
from tests.training.conftest import TINY


def test_print_config_and_usage_errors(capsys, tmp_path):
    assert main(["train", "--print-config", "full"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["model"]["input_size"] == 256
    assert main(["train"]) == 2
    assert "--out" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {epochs: -1}\n")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "training.epochs" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "r"), "--set", "epochs=2"]) == 2
    assert (
        main(["train", "--out", str(tmp_path / "r"), "--manifest", str(tmp_path / "no.yaml")]) == 2
    )
    assert "no.yaml" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_cli_trains_the_sample_with_a_tiny_config(tmp_path, capsys, sample_available):
    if not sample_available:
        pytest.skip("the bundled sample (satseg.datasets) is not available")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--data",
            "sample",
            "--config",
            str(cfg),
            "--out",
            str(out),
            "--set",
            "training.epochs=1",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "mean" in printed and str(out) in printed
    assert json.loads((out / "history.json").read_text())[0]["epoch"] == 1
    assert main(["train", "--out", str(out), "--resume", "--no-progress"]) == 0
