"""``import satseg`` and ``satseg.io`` stay light (no TensorFlow, dask.distributed, Panel)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("tensorflow", "keras", "dask.distributed", "distributed", "panel", "holoviews")


def test_import_satseg_io_is_light():
    code = (
        "import json, sys, satseg, satseg.io, satseg.io.generic, satseg.io.raster, "
        "satseg.io.manifest, satseg.datasets, satseg.cli.data; "
        "print(json.dumps(sorted(m for m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not [m for m in HEAVY if m in loaded]


def test_loading_an_image_does_not_pull_tensorflow_or_panel():
    """dask's own compute() imports distributed (to look for a client), so only TF/Panel here."""
    code = (
        "import json, sys; from satseg.io import open_dataset; ds = open_dataset('sample'); "
        "ds.load_image(ds.ids()[0]).values; ds.load_labels(ds.ids()[0]); "
        "print(json.dumps(sorted(m for m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not [m for m in ("tensorflow", "keras", "panel", "holoviews") if m in loaded]


def test_missing_tensorflow_gives_the_install_fix(tmp_path):
    """Without TensorFlow (blocked here), training says which extra to install: no traceback."""
    code = (
        "import sys; sys.modules['tensorflow'] = None\n"
        "from satseg.cli import main\n"
        f"sys.exit(main(['train', '--out', {str(tmp_path / 'run')!r}, '--no-progress']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "satseg[cpu]" in proc.stderr and "Traceback" not in proc.stderr
