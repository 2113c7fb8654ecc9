"""The demo model shipped with satseg: a U-Net trained on the bundled Dubai sample.

``scripts/train_demo_model.py`` regenerates it with satseg's own pipeline (``satseg.training.train``,
the default config, a fixed seed and split) and stores the run folder's inference files here as
package data (``datasets/sample_model/``: ``meta.json``, ``model.keras`` without optimizer state,
``jaccard.json``, ``history.json``, ``config.yaml``). ``satseg.training.load_run(demo_model_path())``
loads it like any run; the dashboard's Results tab offers it beside a study's trials.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEMO_MODEL_DIR = Path(__file__).resolve().parent / "sample_model"


def demo_model_path() -> Path | None:
    """The run folder of the shipped demo model, or None when it is not installed."""
    ok = (DEMO_MODEL_DIR / "model.keras").is_file() and (DEMO_MODEL_DIR / "meta.json").is_file()
    return DEMO_MODEL_DIR if ok else None


def demo_model_info() -> dict[str, Any]:
    """The demo model as a trial record (``StudyStore.trial`` keys): ``per_class`` and
    ``objective`` (validation Jaccard), ``history``, ``classes`` and ``artifacts`` (its run
    folder); {} when it is not installed."""
    root = demo_model_path()
    if root is None:
        return {}
    meta = json.loads((root / "meta.json").read_text())
    report = json.loads((root / "jaccard.json").read_text()) if (root / "jaccard.json").is_file() else {}
    per_class = report.get("per_class") or {}
    history = json.loads((root / "history.json").read_text()) if (root / "history.json").is_file() else []
    return {
        "per_class": {str(k): float("nan") if v is None else float(v) for k, v in per_class.items()},
        "objective": report.get("mean"),
        "history": history,
        "classes": [c["name"] if isinstance(c, dict) else str(c) for c in meta.get("classes", [])],
        "artifacts": {"run_dir": str(root)},
    }
