"""Colours, line styles and the page CSS of the maps (constants only)."""

from __future__ import annotations

from typing import Final

# ColorBrewer "YlOrRd"-like sequential ramp; index 0 (no episodes) is a light neutral.
_RAMP: Final = ("#f7f7f7", "#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026", "#800026")

WARD_LINE: Final = "#777777"
LPA_LINE: Final = "#1f2a44"
HIGHLIGHT: Final = "#000000"
HOTSPOT_FILL: Final = "#6a3d9a"
HOTSPOT_LINE: Final = "#3f007d"
BACKGROUND: Final = "#e8eef2"


def sequential(n: int) -> list[str]:
    """`n` colours from light to dark; the first is the 'no episodes' neutral."""
    if n <= 1:
        return list(_RAMP[:1])
    body = _RAMP[1:]
    if n - 1 >= len(body):
        return [_RAMP[0], *body]
    step = (len(body) - 1) / max(1, n - 2)
    return [_RAMP[0], *(body[round(i * step)] for i in range(n - 1))]


CSS: Final = f"""
<style>
.leaflet-container.leaflet-container {{ background: {BACKGROUND}; }}
.hs-panel {{ position: fixed; z-index: 1000; background: rgba(255,255,255,0.94);
  font: 13px/1.35 -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #222;
  border-radius: 6px; box-shadow: 0 1px 4px rgba(0,0,0,0.35); padding: 8px 12px; }}
.hs-title {{ top: 10px; left: 60px; max-width: 60%; }}
.hs-title h1 {{ font-size: 17px; margin: 0 0 2px 0; }}
.hs-legend {{ bottom: 70px; left: 10px; }}
.hs-legend div {{ margin-top: 3px; }}
.hs-gap {{ margin-top: 8px !important; }}
.hs-swatch {{ display: inline-block; width: 16px; height: 12px; margin-right: 6px;
  vertical-align: middle; border: 1px solid #777; }}
.hs-hotspot {{ background: {HOTSPOT_FILL}; opacity: 0.7; border-color: {HOTSPOT_LINE}; }}
.hs-lpa {{ background: transparent; border: 3px solid {LPA_LINE}; height: 8px; }}
.hs-footer {{ bottom: 8px; left: 110px; right: 80px; font-size: 11px; padding: 5px 10px; }}
.hs-tip table {{ border-collapse: collapse; margin-top: 3px; }}
.hs-tip th {{ text-align: left; font-weight: normal; color: #555; padding-right: 10px; }}
.hs-tip td {{ text-align: right; font-weight: bold; }}
.leaflet-control-layers {{ font: 13px Arial, sans-serif; }}
</style>
"""
