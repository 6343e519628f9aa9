"""Colours, line styles and the page CSS of the map and the report (constants only)."""

from __future__ import annotations

from typing import Final

# ColorBrewer "YlOrRd"-like sequential ramp; index 0 (no episodes) is a light neutral.
_RAMP: Final = ("#f7f7f7", "#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026", "#800026")
# ColorBrewer "Purples" for hotspots, light to dark (class 1..4).
HOTSPOT_RAMP: Final = ("#bcbddc", "#9e9ac8", "#756bb1", "#54278f")

WARD_LINE: Final = "#8a8a8a"
DISTRICT_LINE: Final = "#5a5a5a"
COUNTY_LINE: Final = "#222222"
LPA_LINE: Final = "#0b3c8c"
HIGHLIGHT: Final = "#000000"
HOTSPOT_FILL: Final = "#6a3d9a"
HOTSPOT_LINE: Final = "#3f007d"
BACKGROUND: Final = "#dfe6ea"  # outside the boundary set
LAND: Final = "#fbfaf6"  # inside the boundary set

# Homes by type: Okabe-Ito colours (distinguishable with colour-blindness), chosen to stand out
# on the yellow-red ward shading; every dot has a dark outline.
HOME_COLOURS: Final = {
    "residential": "#0072b2",
    "foster": "#009e73",
    "semi_independent": "#56b4e9",
    "other": "#bbbbbb",
}
HOME_LABELS: Final = {
    "residential": "Children's home (residential)",
    "foster": "Foster household",
    "semi_independent": "Semi-independent / supported",
    "other": "Other placement",
}
HOME_PLURALS: Final = {
    "residential": "Children's homes",
    "foster": "Foster households",
    "semi_independent": "Semi-independent homes",
    "other": "Other placements",
}
# Density classes, lightest (largest area) to darkest: RGBA for the PNG.
DENSITY_RGBA: Final = (
    (254, 217, 142, 150),
    (254, 153, 41, 175),
    (217, 95, 14, 200),
    (153, 52, 4, 220),
)
LOCATION_FILL: Final = "#111111"
# Gi* hot-spot cells: black-rimmed squares with a light grey wash, distinct from the ward
# shading (yellow-red), the hotspots (purple), the homes and the density (orange-brown).
GI_LINE: Final = "#000000"
GI_FILL: Final = "#000000"
GI_FILL_OPACITY: Final = 0.12


def sequential(n: int) -> list[str]:
    """`n` colours from light to dark; the first is the 'no episodes' neutral."""
    if n <= 1:
        return list(_RAMP[:1])
    body = _RAMP[1:]
    if n - 1 >= len(body):
        return [_RAMP[0], *body]
    step = (len(body) - 1) / max(1, n - 2)
    return [_RAMP[0], *(body[round(i * step)] for i in range(n - 1))]


def hotspot_colours(n: int) -> list[str]:
    """`n` (1..4) purples, light to dark; one class is the middle purple."""
    if n <= 1:
        return [HOTSPOT_RAMP[2]]
    if n >= len(HOTSPOT_RAMP):
        return list(HOTSPOT_RAMP)
    step = (len(HOTSPOT_RAMP) - 1) / (n - 1)
    return [HOTSPOT_RAMP[round(i * step)] for i in range(n)]


def rgba_css(rgba: tuple[int, int, int, int]) -> str:
    r, g, b, a = rgba
    return f"rgba({r},{g},{b},{a / 255:.2f})"


FONT: Final = '-apple-system, "Segoe UI", Roboto, Arial, sans-serif'

CSS: Final = f"""
<style>
html, body {{ font-family: {FONT}; }}
.leaflet-container.leaflet-container {{ background: {BACKGROUND}; font-family: {FONT}; }}
.hs-panel {{ position: fixed; z-index: 1000; background: rgba(255,255,255,0.95);
  font: 13px/1.35 {FONT}; color: #1a1a1a; border-radius: 6px;
  box-shadow: 0 1px 5px rgba(0,0,0,0.35); padding: 8px 12px; box-sizing: border-box; }}
.hs-title {{ top: 10px; left: 54px; max-width: calc(100% - 340px); padding: 7px 14px; }}
.hs-title h1 {{ font-size: 19px; line-height: 1.2; margin: 0 0 3px 0; }}
.hs-title .hs-sub {{ font-size: 13px; color: #333; }}
.hs-title .hs-figs {{ font-size: 13px; margin-top: 2px; }}
.hs-title .hs-figs b {{ font-size: 14px; }}
.hs-legend {{ bottom: 62px; left: 10px; max-height: calc(100% - 180px); overflow-y: auto;
  width: 250px; padding: 6px 10px; }}
.hs-legend h2 {{ font-size: 13px; margin: 0 0 3px 0; }}
.hs-legend-item {{ margin: 0 0 8px 0; }}
.hs-legend-item:last-child {{ margin-bottom: 0; }}
.hs-legend-item[hidden] {{ display: none; }}
.hs-row {{ display: flex; align-items: center; margin-top: 2px; font-size: 12px; }}
.hs-note {{ font-size: 11px; color: #555; margin-top: 2px; }}
.hs-swatch {{ display: inline-block; flex: none; width: 18px; height: 12px; margin-right: 7px;
  border: 1px solid #777; }}
.hs-dot {{ display: inline-block; flex: none; width: 10px; height: 10px; margin: 0 11px 0 4px;
  border-radius: 50%; border: 1.5px solid #1a1a1a; }}
.hs-line {{ display: inline-block; flex: none; width: 18px; height: 0; margin-right: 7px; }}
.hs-method {{ bottom: 36px; right: 10px; max-width: 430px; max-height: calc(100% - 120px);
  overflow-y: auto; padding: 6px 12px; font-size: 12px; }}
.hs-method[open] {{ z-index: 1100; }}
.hs-method summary {{ cursor: pointer; font-weight: bold; font-size: 13px; }}
.hs-method h3 {{ font-size: 12px; margin: 8px 0 2px 0; }}
.hs-method ul {{ margin: 2px 0; padding-left: 18px; }}
.hs-method p {{ margin: 3px 0; }}
.hs-warning {{ color: #8a1c00; font-weight: bold; }}
.hs-footer {{ bottom: 0; left: 0; right: 0; border-radius: 0; font-size: 11px;
  line-height: 1.3; padding: 2px 10px; box-shadow: none; border-top: 1px solid #bbb;
  color: #333; max-height: 30px; overflow: hidden; }}
.leaflet-container .leaflet-bottom {{ bottom: 32px; }}
.hs-tip {{ font: 12px/1.35 {FONT}; }}
.hs-tip b.hs-tip-title {{ font-size: 13px; display: block; margin-bottom: 2px; }}
.hs-tip table {{ border-collapse: collapse; }}
.hs-tip th {{ text-align: left; font-weight: normal; color: #444; padding: 1px 12px 1px 0; }}
.hs-tip td {{ text-align: right; font-weight: bold; padding: 1px 0; }}
.hs-tip .hs-driver {{ margin-top: 5px; max-width: 260px; white-space: normal; }}
.hs-tip .hs-hint {{ color: #666; font-size: 11px; margin-top: 3px; }}
.hs-tip .hs-evidence-robust b {{ color: #1b5e20; }}
.hs-tip .hs-evidence-fragile b {{ color: #8a1c00; }}
.leaflet-control-layers {{ font: 13px/1.3 {FONT}; }}
.leaflet-control-layers-expanded {{ padding: 6px 10px 6px 8px; max-height: calc(100vh - 90px);
  overflow-y: auto; }}
.leaflet-control-layers-base::before {{ content: "Ward shading"; display: block;
  font-weight: bold; margin-bottom: 2px; }}
.leaflet-control-layers-overlays::before {{ content: "Layers"; display: block;
  font-weight: bold; margin-bottom: 2px; }}
.leaflet-control-layers label {{ margin: 1px 0; }}
.hs-place span {{ position: absolute; left: 0; top: 0; transform: translate(-50%, -50%);
  white-space: nowrap; font: 600 12px/1 {FONT}; color: #222; letter-spacing: 0.02em;
  text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff, 0 0 1px #fff; pointer-events: none; }}
.hs-place.hs-rank-1 span {{ font-size: 14px; font-weight: 700; }}
@media (max-width: 760px) {{
  .hs-title {{ max-width: calc(100% - 70px); }}
  .hs-legend {{ width: 200px; }}
  .hs-method {{ max-width: calc(100% - 20px); }}
}}
@media print {{
  .hs-method {{ display: none; }}
}}
</style>
"""
