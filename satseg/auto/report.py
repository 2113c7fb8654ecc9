"""The short report of a ``satseg auto`` run: ``report.json`` and ``report.md`` in the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(v: Any) -> str:
    return "-" if v is None or v != v else f"{v:.4f}"


def write_report(out: Path, state: dict[str, Any]) -> dict[str, Any]:
    """Gather the chosen configuration, the validation Jaccard (per class, before and after
    post-processing) and the seconds per stage; write report.json and report.md."""
    from satseg.search.budget import format_duration
    from satseg.training.run import atomic_write_json, atomic_write_text

    stages = state.get("stages", {})
    jac = json.loads((out / "jaccard.json").read_text()) if (out / "jaccard.json").is_file() else {}
    final = stages.get("final", {})
    tune = stages.get("tune", {})
    config_text = (out / "config.yaml").read_text() if (out / "config.yaml").is_file() else ""
    seconds = {k: round(float(v.get("seconds", 0.0)), 1) for k, v in stages.items()}
    report = {
        "data": state.get("data"), "exclude_ids": state.get("exclude_ids", []),
        "budget_s": state.get("plan", {}).get("budget_s"),
        "search": {k: v for k, v in stages.get("search", {}).items() if k != "done"},
        "trial_id": final.get("trial_id"), "trial_objective": final.get("trial_objective"),
        "val_jaccard": jac.get("mean", final.get("val_jaccard")),
        "per_class": jac.get("per_class", final.get("per_class", {})),
        "tuned_per_class": tune.get("tuned_jaccard", {}),
        "thresholds": tune.get("thresholds", {}), "min_area": tune.get("min_area", {}),
        "epochs": final.get("epochs"), "val_ids": tune.get("val_ids", jac.get("val_ids", [])),
        "seconds": seconds, "config": config_text, "note": state.get("note"),
        "fit_on": final.get("fit_on", state.get("fit_on", "train")),
        "tuning": tune.get("skipped"),
    }
    atomic_write_json(out / "report.json", report)
    lines = [f"# satseg auto: {out.name}", "",
             f"Data: `{report['data']}`; held out (never seen): "
             f"{', '.join(report['exclude_ids']) or 'none'}; budget "
             f"{format_duration(report['budget_s'] or 0)}.", "",
             f"Search: {report['search'].get('n_ok', 0)} trial(s) finished, best trial "
             f"{report['trial_id']} (validation Jaccard {_fmt(report['trial_objective'])}); "
             f"final fit {report['epochs']} epoch(s) on "
             + ("every image, the validation images included (last epoch kept)"
                if report["fit_on"] == "all" else "the training images (best epoch on "
                "validation kept)") + ".", "",
             *([f"Note: {state['note']}", ""] if state.get("note") else []),
             *([f"Post-processing not tuned: {report['tuning']}.", ""] if report["tuning"]
               else []),
             f"Validation images: {', '.join(report['val_ids'])}"
             + (" (trained on by the final fit: its scores below measure fit, not "
                "generalisation; the search's scores above did not see them)"
                if report["fit_on"] == "all" else ""), "",
             "| class | validation Jaccard | after post-processing | threshold | min area |",
             "|---|---|---|---|---|"]
    for name, j in report["per_class"].items():
        lines.append(f"| {name} | {_fmt(j)} | {_fmt(report['tuned_per_class'].get(name))} | "
                     f"{report['thresholds'].get(name, '-')} | {report['min_area'].get(name, '-')} |")
    tuned = [v for v in report["tuned_per_class"].values() if v is not None and v == v]
    lines += [f"| **mean** | {_fmt(report['val_jaccard'])} | "
              f"{_fmt(sum(tuned) / len(tuned) if tuned else None)} | | |", "",
              "Time per stage: " + ", ".join(f"{k} {format_duration(v)}"
                                             for k, v in seconds.items()), "",
              "Chosen configuration (config.yaml):", "", "```yaml", config_text.rstrip(), "```",
              "", f"Next: `satseg predict --model {out} --data DATA --scenes ID --out masks/` and "
              f"`satseg evaluate --pred masks/ --data DATA`", ""]
    atomic_write_text(out / "report.md", "\n".join(lines))
    return report
