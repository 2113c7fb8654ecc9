"""One clear error when TensorFlow is missing.

TensorFlow comes with an extra, so a CPU install never downloads CUDA wheels and a GPU install
does not fight a CPU wheel over the same ``tensorflow`` folder: ``pip install 'satseg[cpu]'`` or
``pip install 'satseg[gpu]'`` (``make`` and ``environment.yml`` install the CPU one).
"""

from __future__ import annotations

import importlib.util

from satseg.errors import ConfigError

INSTALL_HINT = ("install TensorFlow with satseg's extra: pip install 'satseg[cpu]' (CPU) or "
                "pip install 'satseg[gpu]' (NVIDIA GPU, Linux); from a checkout: "
                "pip install -e '.[cpu]'")


def require_tensorflow(what: str = "this") -> None:
    """Raise ConfigError naming the fix when TensorFlow is not installed."""
    try:
        missing = importlib.util.find_spec("tensorflow") is None
    except (ValueError, AttributeError):  # sys.modules["tensorflow"] is None: blocked
        missing = True
    if missing:
        raise ConfigError(f"{what} needs TensorFlow, which is not installed; {INSTALL_HINT}")
