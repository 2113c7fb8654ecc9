"""A trial subprocess shows no TensorFlow start-up lines but keeps real errors (search/_child)."""

from __future__ import annotations

import subprocess
import sys

CODE = r"""
import os, sys
from satseg.search._child import filter_stderr, restore_stderr
t = filter_stderr()
import tensorflow as tf
tf.constant([1.0]) + 1.0  # the first op prints the CPU-feature lines
os.write(2, b"E0000 real TensorFlow error kept\n")
print("python warning kept", file=sys.stderr)
restore_stderr(t)
print("after restore", file=sys.stderr)
"""


def test_trial_stderr_drops_tensorflow_startup_lines_keeps_errors():
    proc = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "real TensorFlow error kept" in err
    assert "python warning kept" in err and "after restore" in err
    for noise in ("oneDNN", "cpu_feature_guard", "absl::InitializeLog", "rebuild TensorFlow"):
        assert noise not in err, err
