"""Hyperparameter search: YAML spaces, the study store, hyperopt on dask, refinement.

::

    from satseg.search import (load_space, SearchSpace, StudyStore, DaskTrials, run_search,
                               SearchSettings, refine_space, run_per_class, combine_per_class)
    space = load_space("space.yaml")        # validated; space.to_hyperopt(), space.to_yaml()
    store = StudyStore("satseg-study.db")   # list_studies(), trials(study), trial(study, tid)
    result = run_search(SearchSettings(study="s1", n_trials=20, parallelism=2))
    fmin(fn, space, algo=tpe.suggest, max_evals=50, trials=DaskTrials(parallelism=4))

Importing this package imports neither dask.distributed nor TensorFlow (the names below load
their modules on first use). docs/search.md has the details.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "load_space": "space", "default_space": "space", "BUNDLED_SPACES": "space", "SearchSpace": "space", "Param": "space",
    "StudyStore": "store", "DEFAULT_STORE": "store",
    "SearchSettings": "settings",
    "run_search": "runner", "SearchResult": "runner",
    "DaskTrials": "trials",
    "refine_space": "refine", "Refinement": "refine",
    "run_per_class": "onevsall", "combine_per_class": "onevsall",
    "export_study": "transfer", "import_hyperopt_trials": "transfer",
    "SatsegObjective": "objective", "TrialContext": "worker",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        module = importlib.import_module(f"satseg.search.{_NAMES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'satseg.search' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
