"""The satseg dashboard (Panel): Bands, Hyperspace, Trials and Results tabs.

It uses only satseg's public API (docs/ARCHITECTURE.md). Start it with ``satseg serve`` or
``panel serve app/app.py``; build it in code with :func:`app.main.create_app`.
"""

from app.settings import AppSettings

__all__ = ["AppSettings"]
