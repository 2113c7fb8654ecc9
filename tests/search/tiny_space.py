"""The smallest real satseg search space: two-level nets, one 3-step epoch (process-level tests)."""

TINY = {"params": {
    "model.input_size": 64, "model.depth": 2, "model.base_filters": 4,
    "training.learning_rate": {"type": "loguniform", "low": 1e-3, "high": 1e-2},
    "training.epochs": 1, "training.steps_per_epoch": 3, "training.batch_size": 4,
    "training.workers": 1,
}}
