"""Turn folium's HTML into one self-contained file that loads nothing from the network.

Why: the maps show data about children. Opening one must not send a single request to a CDN
or a tile server (that would leak at least the analyst's IP, the time and the area viewed),
and it must work on a machine with no network at all.

Approach (post-processing of the rendered string, so every folium/branca element is covered,
including assets that are not in any ``default_js``/``default_css`` list):

1. The caller renders the map: ``html = m.get_root().render()``. The map must be built with
   ``tiles=None`` (no tile server). With ``tiles=None`` folium sets no ``maxZoom`` on the map,
   and some plugins (MarkerCluster) then throw "Map has no maxZoom specified", so the caller
   must set it: ``m = folium.Map(tiles=None, ...); m.options["max_zoom"] = 18``.
2. `make_self_contained` walks the top-level ``<script src>`` and ``<link rel="stylesheet">``
   tags and, for each ``http(s)://`` (or protocol-relative) URL, either
   - inlines a local copy of the same library:
     Leaflet JS/CSS from XStatic-Leaflet (``xstatic.pkg.leaflet.BASE_DIR``), jQuery from
     XStatic-jQuery (``xstatic.pkg.jquery.BASE_DIR``; folium's popups need ``$``), and files
     that folium ships itself under ``folium/templates/`` (``leaflet_heat.min.js`` for
     HeatMap). Scripts become ``<script>...</script>`` with ``</script`` escaped as
     ``<\\/script``; stylesheets become ``<style>`` blocks in which every relative ``url(...)``
     (Leaflet's layer-control and marker PNGs) is rewritten to a ``data:`` URI. Right after
     leaflet.js a small script points ``L.Icon.Default`` at data-URI marker images, because
     Leaflet finds its image folder from the stylesheet URL, which no longer exists; or
   - removes it, for assets that folium always emits but the project does not use and that have
     no offline source here: Bootstrap JS/CSS, the glyphicons CSS, Font Awesome,
     Leaflet.awesome-markers JS/CSS and the awesome "rotate" CSS. They only serve
     ``folium.Icon`` markers and Bootstrap styling; the project's maps use CircleMarker, GeoJson
     (with tooltips and popups), HTML ``DivIcon`` markers, LayerControl and HTML legends, which
     work without them (checked in headless Chromium with the network blocked, see
     ``tests/test_offline.py``). Note that without Bootstrap, HTML placed outside the map
     container (a legend in ``m.get_root().html``) gets the browser's default font unless it
     sets one.
   Anything else is left in place.
3. The result is checked with `find_external_urls`. If any URL remains that the browser would
   load (``src``/``href``/``data``/``srcset``/``poster``/``ping`` attributes of any tag except
   ``<a>``/``<area>`` links, CSS ``url(...)`` and ``@import``, Leaflet tile-layer and overlay URL
   templates, ``$.ajax``/``fetch`` calls, and the same inside HTML held in script strings or in
   ``data:text/html`` iframes), `OfflineAssetError` is raised naming every such URL. So a new
   plugin, a tile layer or a d3-based branca colormap legend cannot silently break offline use:
   it fails loudly until it gets an offline source here. Plain ``<a href="https://...">``
   attribution links are allowed: nothing is loaded unless the user clicks them. ``data:``
   URIs (inlined images such as the density overlay) are local and allowed. The only way to
   keep a network URL is to name it exactly in ``allowed_urls`` (used for the opt-in tile
   layer: its URL template and nothing else).

The check is a static safety net for folium's output, not a JavaScript sandbox: a URL built at
run time from pieces cannot be seen. The browser tests (every non-``file:``/``data:`` request
aborted and recorded) are the proof that a given kind of map is really offline.

Asset files are read once per process (``functools.lru_cache``).
"""

from __future__ import annotations

import base64
import functools
import html as html_lib
import mimetypes
import re
import urllib.parse
from collections.abc import Collection
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

import folium
import xstatic.pkg.jquery
import xstatic.pkg.leaflet

from geo.errors import HotspotError

__all__ = ["OfflineAssetError", "find_external_urls", "make_self_contained"]


class OfflineAssetError(HotspotError):
    """The map would load something from the network, or a local asset is missing/mismatched.

    ``urls`` lists the offending URLs (empty when the problem is a local file or a version).
    """

    def __init__(self, message: str, *, urls: tuple[str, ...] = ()) -> None:
        self.urls = urls
        super().__init__(message)


# --------------------------------------------------------------------------------------------
# Local sources
# --------------------------------------------------------------------------------------------

LEAFLET_DIR = Path(xstatic.pkg.leaflet.BASE_DIR)
LEAFLET_VERSION: str = xstatic.pkg.leaflet.VERSION
JQUERY_DIR = Path(xstatic.pkg.jquery.BASE_DIR)
JQUERY_VERSION: str = xstatic.pkg.jquery.VERSION
FOLIUM_TEMPLATES_DIR = Path(folium.__file__).parent / "templates"

_EXTRA_MIME = {
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".gif": "image/gif",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".css": "text/css",
}


@functools.lru_cache(maxsize=64)
def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OfflineAssetError(f"Offline map asset {path} cannot be read: {exc}") from exc


@functools.lru_cache(maxsize=64)
def _data_uri(path: Path) -> str:
    mime = _EXTRA_MIME.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    try:
        payload = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        raise OfflineAssetError(f"Offline map asset {path} cannot be read: {exc}") from exc
    return f"data:{mime or 'application/octet-stream'};base64,{payload}"


# --------------------------------------------------------------------------------------------
# Which URL becomes what
# --------------------------------------------------------------------------------------------

Action = Literal["script", "style", "drop"]


@dataclass(frozen=True)
class _Resolved:
    action: Action
    path: Path | None = None
    label: str = ""


_V = r"(?P<v>\d+(?:\.\d+)*)"
_LEAFLET_JS_RE = re.compile(rf"/leaflet[@/]{_V}/(?:dist/)?leaflet\.js$", re.I)
_LEAFLET_CSS_RE = re.compile(rf"/leaflet[@/]{_V}/(?:dist/)?leaflet\.css$", re.I)
_JQUERY_RE = re.compile(
    r"(?:/jquery-(?P<v>\d+(?:\.\d+)*)(?:\.min)?\.js"
    r"|/jquery[@/](?P<v2>\d+(?:\.\d+)*)/(?:dist/)?jquery(?:\.min)?\.js)$",
    re.I,
)
_FOLIUM_TEMPLATE_RE = re.compile(
    r"/python-visualization/folium(?:@[^/]+)?/folium/templates/(?P<name>[\w.-]+\.(?:js|css))$",
    re.I,
)
# Emitted by folium.Map for folium.Icon / Bootstrap styling; not used by the project's maps.
_DROP_RES = (
    re.compile(r"/bootstrap[@/][^/]+/(?:dist/)?(?:js|css)/bootstrap(?:\.bundle)?(?:\.min)?"
               r"\.(?:js|css)$", re.I),
    re.compile(r"/bootstrap-glyphicons(?:\.min)?\.css$", re.I),
    re.compile(r"/fontawesome-free[@/][^/]+/css/all(?:\.min)?\.css$", re.I),
    re.compile(r"/font-awesome/[^/]+/css/(?:font-awesome|all)(?:\.min)?\.css$", re.I),
    re.compile(r"/leaflet\.awesome-markers(?:\.min)?\.(?:js|css)$", re.I),
    re.compile(r"/leaflet\.awesome\.rotate(?:\.min)?\.css$", re.I),
)

_EXTERNAL_RE = re.compile(r"^\s*(?:https?:)?//", re.I)


def _is_external(url: str) -> bool:
    return bool(_EXTERNAL_RE.match(url))


def _same_version(requested: str, available: str, parts: int, library: str, package: str) -> None:
    if requested.split(".")[:parts] != available.split(".")[:parts]:
        raise OfflineAssetError(
            f"folium asks for {library} {requested}, but the offline copy from {package} is "
            f"{available}. Install a {package} release matching {library} {requested}."
        )


def _resolve(url: str) -> _Resolved | None:
    """What to do with an external asset URL, or None when it has no rule (it stays, and the
    final check reports it)."""
    path = urllib.parse.urlsplit(url.strip()).path
    if m := _LEAFLET_JS_RE.search(path):
        _same_version(m["v"], LEAFLET_VERSION, 2, "Leaflet", "XStatic-Leaflet")
        return _Resolved("script", LEAFLET_DIR / "leaflet.js", f"Leaflet {LEAFLET_VERSION}")
    if m := _LEAFLET_CSS_RE.search(path):
        _same_version(m["v"], LEAFLET_VERSION, 2, "Leaflet", "XStatic-Leaflet")
        return _Resolved("style", LEAFLET_DIR / "leaflet.css", f"Leaflet {LEAFLET_VERSION}")
    if m := _JQUERY_RE.search(path):
        _same_version(m["v"] or m["v2"], JQUERY_VERSION, 1, "jQuery", "XStatic-jQuery")
        return _Resolved("script", JQUERY_DIR / "jquery.min.js", f"jQuery {JQUERY_VERSION}")
    if m := _FOLIUM_TEMPLATE_RE.search(path):
        local = FOLIUM_TEMPLATES_DIR / m["name"]
        if local.is_file():
            kind: Action = "script" if local.suffix == ".js" else "style"
            return _Resolved(kind, local, f"folium {folium.__version__} {m['name']}")
    if any(rx.search(path) for rx in _DROP_RES):
        return _Resolved("drop")
    return None


# --------------------------------------------------------------------------------------------
# Inlining
# --------------------------------------------------------------------------------------------

_SOURCE_MAP_JS_RE = re.compile(r"^[ \t]*//[#@] sourceMappingURL=\S*[ \t]*$", re.M)
_SOURCE_MAP_CSS_RE = re.compile(r"/\*[#@] sourceMappingURL=[^*]*\*/")
_CSS_URL_RE = re.compile(r"""url\(\s*(?P<q>['"]?)(?P<ref>[^'")]*?)(?P=q)\s*\)""", re.I)
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def _escape_script(code: str) -> str:
    """Make JS safe inside ``<script>``: ``</script`` would end the element early."""
    return re.sub(r"</(script)", r"<\\/\1", code, flags=re.I)


def _script_block(path: Path, label: str) -> str:
    code = _SOURCE_MAP_JS_RE.sub("", _read_text(path)).strip()
    return f"<script>/* {label}, inlined for offline use */\n{_escape_script(code)}\n</script>"


def _inline_css_urls(css: str, css_path: Path) -> str:
    def repl(m: re.Match[str]) -> str:
        ref = m["ref"].strip()
        if not ref or ref.startswith(("#", "data:")) or ref.startswith("//"):
            return m[0]
        if _SCHEME_RE.match(ref):  # http(s): left for the final check to report
            return m[0]
        rel = urllib.parse.unquote(re.split(r"[?#]", ref, maxsplit=1)[0])
        target = (css_path.parent / rel).resolve()
        if not target.is_file():
            raise OfflineAssetError(
                f"{css_path.name} refers to {ref!r}, which is not in {css_path.parent}"
            )
        return f'url("{_data_uri(target)}")'

    return _CSS_URL_RE.sub(repl, css)


def _style_block(path: Path, label: str) -> str:
    css = _SOURCE_MAP_CSS_RE.sub("", _read_text(path)).strip()
    css = _inline_css_urls(css, path)
    css = re.sub(r"</(style)", r"<\\/\1", css, flags=re.I)
    return f"<style>/* {label}, inlined for offline use */\n{css}\n</style>"


def _leaflet_icon_fix() -> str:
    """Leaflet derives the default marker's image folder from leaflet.css's URL; inlined CSS has
    none, so point ``L.Icon.Default`` at data URIs."""
    images = LEAFLET_DIR / "images"
    return (
        "<script>L.Icon.Default.imagePath = '';"
        "L.Icon.Default.mergeOptions({"
        f"iconUrl: '{_data_uri(images / 'marker-icon.png')}', "
        f"iconRetinaUrl: '{_data_uri(images / 'marker-icon-2x.png')}', "
        f"shadowUrl: '{_data_uri(images / 'marker-shadow.png')}'"
        "});</script>"
    )


# Top-level tokens of the page. Whole <script> and <style> elements and comments are matched as
# one token so that nothing inside them is taken for a tag.
_TOKEN_RE = re.compile(
    r"<!--.*?-->"
    r"|<script\b(?P<sattrs>[^>]*)>(?P<sbody>.*?)</script\s*>"
    r"|<style\b[^>]*>.*?</style\s*>"
    r"|<link\b(?P<lattrs>[^>]*?)/?>",
    re.I | re.S,
)
_ATTR_RE = re.compile(
    r"""(?P<name>[^\s"'>/=]+)(?:\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'=<>`]+)))?""",
)


def _parse_attrs(text: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for m in _ATTR_RE.finditer(text):
        value = m["dq"] if m["dq"] is not None else m["sq"] if m["sq"] is not None else m["bare"]
        attrs.setdefault(m["name"].lower(), html_lib.unescape(value or ""))
    return attrs


def make_self_contained(html: str, *, allowed_urls: Collection[str] = ()) -> str:
    """Return ``html`` (folium's ``m.get_root().render()``) with every CDN asset inlined or
    removed, so the page works from ``file://`` with no network.

    Build the map with ``tiles=None`` and set ``m.options["max_zoom"]`` (e.g. 18): folium sets
    no maxZoom without a tile layer.

    ``data:`` URIs (e.g. a PNG image overlay) are local and always accepted.

    `allowed_urls` is for the one deliberate exception, an opt-in online tile layer: each entry
    is an exact URL (the tile template as written, e.g.
    ``https://tile.openstreetmap.org/{z}/{x}/{y}.png``) that may stay. Nothing else may: a
    URL that differs in any character is still refused.

    Raises `OfflineAssetError` if the result would still load anything else from the network
    (the message names every URL), or if a local asset is missing or of another version.
    """

    def repl(m: re.Match[str]) -> str:
        token = m[0]
        if m["sattrs"] is not None:
            src = _parse_attrs(m["sattrs"]).get("src", "")
            if not src or not _is_external(src) or m["sbody"].strip():
                return token
            res = _resolve(src)
            if res is None:
                return token
            if res.action == "drop":
                return ""
            assert res.path is not None
            block = _script_block(res.path, res.label)
            if res.path == LEAFLET_DIR / "leaflet.js":
                block += "\n" + _leaflet_icon_fix()
            return block
        if m["lattrs"] is not None:
            attrs = _parse_attrs(m["lattrs"])
            href = attrs.get("href", "")
            if "stylesheet" not in attrs.get("rel", "").lower().split() or not _is_external(href):
                return token
            res = _resolve(href)
            if res is None:
                return token
            if res.action == "drop":
                return ""
            assert res.path is not None
            return _style_block(res.path, res.label)
        return token

    out = _TOKEN_RE.sub(repl, html)
    allowed = frozenset(allowed_urls)
    urls = [u for u in find_external_urls(out) if u not in allowed]
    if urls:
        listed = "\n  ".join(urls)
        raise OfflineAssetError(
            f"The map would load {len(urls)} resource(s) from the network, which an offline map "
            f"must never do:\n  {listed}\nRemove the feature or plugin that adds them (build the "
            "map with tiles=None), or give them an offline source in maps/offline.py.",
            urls=tuple(urls),
        )
    return out


# --------------------------------------------------------------------------------------------
# Finding what a page would load
# --------------------------------------------------------------------------------------------

# Attributes whose value the browser fetches. `href` is fetched for every tag except links.
_URL_ATTRS = frozenset({"src", "href", "data", "poster", "background", "xlink:href", "ping"})
_LINK_TAGS = frozenset({"a", "area"})
_CSS_URL_ANY_RE = re.compile(r"""url\(\s*['"]?\s*(?P<u>(?:https?:)?//[^'")\s]+)""", re.I)
_CSS_IMPORT_RE = re.compile(r"""@import\s+['"]\s*(?P<u>(?:https?:)?//[^'"\s]+)""", re.I)
_JS_TAG_RE = re.compile(r"<(?P<tag>[a-zA-Z][\w:-]*)(?P<attrs>\s[^<>]*)>")
_JS_LOADER_RE = re.compile(
    r"""(?:\bL\.(?:tileLayer(?:\.wms)?|imageOverlay|videoOverlay)|\$\.(?:ajax|getJSON|get|"""
    r"""getScript)|\bfetch|\bimportScripts|\bimport)\(\s*["'`]\s*(?P<u>(?:https?:)?//[^"'`\s]+)""",
    re.I,
)
_TILE_TEMPLATE_RE = re.compile(
    r"""["'`](?P<u>(?:https?:)?//[^"'`\s]*\{[xyz]\}[^"'`\s]*)["'`]""", re.I
)
_JS_UNESCAPES = (
    (re.compile(r"\\u003c", re.I), "<"),
    (re.compile(r"\\u003e", re.I), ">"),
    (re.compile(r"\\u0026", re.I), "&"),
    (re.compile(r"\\u0027", re.I), "'"),
    (re.compile(r"\\u0022", re.I), '"'),
    (re.compile(r"\\([\"'/])"), r"\1"),
)
_META_REFRESH_RE = re.compile(r"url\s*=\s*['\"]?(?P<u>[^'\"\s;]+)", re.I)


class _UrlCollector(HTMLParser):
    def __init__(self, found: list[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.found = found
        self._cdata_tag: str | None = None
        self._cdata: list[str] = []

    # -- helpers -------------------------------------------------------------------------
    def _add(self, url: str) -> None:
        url = url.strip()
        if _is_external(url) and url not in self.found:
            self.found.append(url)

    def _attr(self, tag: str, name: str, value: str) -> None:
        name = name.lower()
        if name == "style":
            self._css(value)
        elif name == "srcset":
            for candidate in value.split(","):
                if candidate.strip():
                    self._add(candidate.split()[0])
        elif name == "srcdoc":
            _collect(value, self.found)
        elif name in _URL_ATTRS and not (name == "href" and tag in _LINK_TAGS):
            if value.strip().lower().startswith("data:text/html"):
                _collect(_decode_data_html(value), self.found)
            else:
                self._add(value)

    def _css(self, css: str) -> None:
        for rx in (_CSS_URL_ANY_RE, _CSS_IMPORT_RE):
            for m in rx.finditer(css):
                self._add(m["u"])

    def _script(self, code: str) -> None:
        for rx, rep in _JS_UNESCAPES:
            code = rx.sub(rep, code)
        for rx in (_JS_LOADER_RE, _TILE_TEMPLATE_RE):
            for m in rx.finditer(code):
                self._add(m["u"])
        self._css(code)
        for m in _JS_TAG_RE.finditer(code):
            tag = m["tag"].lower()
            for name, value in _parse_attrs(m["attrs"]).items():
                self._attr(tag, name, value)

    # -- HTMLParser hooks --------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr_map = {k.lower(): v for k, v in attrs if v is not None}
        for name, value in attr_map.items():
            self._attr(tag, name, value)
        if tag == "meta" and attr_map.get("http-equiv", "").lower() == "refresh":
            if m := _META_REFRESH_RE.search(attr_map.get("content", "")):
                self._add(m["u"])
        if tag in ("script", "style"):
            self._cdata_tag, self._cdata = tag, []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is not None:
                self._attr(tag, name, value)

    def handle_data(self, data: str) -> None:
        if self._cdata_tag is not None:
            self._cdata.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._cdata_tag is not None and tag == self._cdata_tag:
            self._flush()

    def _flush(self) -> None:
        text = "".join(self._cdata)
        if self._cdata_tag == "style":
            self._css(text)
        elif self._cdata_tag == "script":
            self._script(text)
        self._cdata_tag, self._cdata = None, []

    def close(self) -> None:
        super().close()
        if self._cdata_tag is not None:
            self._flush()


def _decode_data_html(uri: str) -> str:
    head, _, payload = uri.partition(",")
    if ";base64" in head.lower():
        try:
            return base64.b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8", "replace")
        except ValueError:
            return ""
    return urllib.parse.unquote(payload)


def _collect(html: str, found: list[str]) -> None:
    parser = _UrlCollector(found)
    parser.feed(html)
    parser.close()


def find_external_urls(html: str) -> list[str]:
    """Every ``http://``, ``https://`` or protocol-relative (``//host``) URL that a browser
    would load when showing ``html``, in order of appearance, without duplicates.

    Looked at: URL attributes (``src``, ``href``, ``data``, ``srcset``, ``poster``, ``ping``...)
    of every tag, except ``href`` of ``<a>``/``<area>`` links, which load nothing until clicked;
    CSS ``url(...)`` and ``@import`` in ``<style>`` and ``style=""``; in scripts, Leaflet
    tile-layer/overlay URLs and any ``{z}/{x}/{y}`` template, ``$.ajax``/``fetch``/``import``
    calls, and tags and CSS inside HTML strings (folium's popups and tooltips); HTML inside
    ``data:text/html`` iframes and ``srcdoc`` is searched the same way.
    """
    found: list[str] = []
    _collect(html, found)
    return found
