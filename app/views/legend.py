"""A class colour legend (HTML swatches), shared by every pane that draws classes."""

from __future__ import annotations

import html
from collections.abc import Sequence


def legend_html(items: Sequence[tuple[str, str]], title: str = "") -> str:
    """``items`` as ``(name, "#rrggbb")``: one swatch and name each, wrapped on narrow panes.
    Empty string for no items."""
    if not items:
        return ""
    swatch = ("display:inline-block;width:14px;height:14px;border:1px solid #555;"
              "vertical-align:middle;margin-right:4px;background:{}")
    parts = [f'<span class="legend-item" style="display:inline-block;margin:0 12px 2px 0;'
             f'white-space:nowrap"><span style="{swatch.format(html.escape(colour))}"></span>'
             f"{html.escape(name)}</span>" for name, colour in items]
    head = f"<b>{html.escape(title)}</b> " if title else ""
    return f'<div class="class-legend">{head}{"".join(parts)}</div>'
