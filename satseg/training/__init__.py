"""Training configs, the training loop, run folders and saved-run loading.

::

    from satseg.training import TrainConfig, train, load_run, RunModel, TrainResult
    cfg = TrainConfig.from_yaml("train.yaml")          # or .from_dict(d), .default("full")
    result = train(cfg, data="sample", out_dir="runs/a", callbacks=(), stop_flag=None)
    run = load_run("runs/a"); probs = run.predict_patches(run.prepare(stack)[None, :128, :128])

Importing this package does not import TensorFlow (``train`` and ``load_run`` do when called).
"""

from satseg.training.config import DataParams, TrainConfig, TrainingParams
from satseg.training.loop import TrainResult, train
from satseg.training.run import RunModel, load_run

__all__ = [
    "DataParams",
    "RunModel",
    "TrainConfig",
    "TrainResult",
    "TrainingParams",
    "load_run",
    "train",
]
