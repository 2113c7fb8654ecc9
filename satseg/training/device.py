"""Which device TensorFlow trains on here, and the bundled search space sized for it."""

from __future__ import annotations

import functools
import logging

log = logging.getLogger("satseg.training.device")


@functools.cache
def gpu_count() -> int:
    """GPUs TensorFlow sees (0 without TensorFlow or on a CPU-only install)."""
    try:
        import tensorflow as tf
    except ImportError:
        return 0
    try:
        return len(tf.config.list_physical_devices("GPU"))
    except Exception:  # noqa: BLE001 - a broken driver is no GPU for us
        return 0


def default_space_for_device() -> str:
    """The bundled search space for this machine: ``"gpu"`` (``space_gpu.yaml``) when TensorFlow
    sees a GPU, else ``"default"`` (``space_default.yaml``, sized for a CPU budget)."""
    name = "gpu" if gpu_count() > 0 else "default"
    log.info("search space for this device: %s", name)
    return name
