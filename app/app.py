"""``panel serve app/app.py [--args --data PATH --store study.db]``: the dashboard entry point.

Settings come from ``--args`` or the ``SATSEG_DATA`` / ``SATSEG_STORE`` environment variables
(see :mod:`app.settings`). ``satseg serve`` starts the same page.
"""

import sys
from pathlib import Path

# ``panel serve`` puts this file's folder first on sys.path, where ``app`` would resolve to this
# very file; import the ``app`` package from the repository root instead.
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
if "app" in sys.modules and not hasattr(sys.modules["app"], "__path__"):
    del sys.modules["app"]
if str(_here.parent) not in sys.path:
    sys.path.insert(0, str(_here.parent))

from app.main import create_app  # noqa: E402
from app.settings import AppSettings  # noqa: E402

create_app(AppSettings.from_args(sys.argv[1:])).servable(title="satseg")
