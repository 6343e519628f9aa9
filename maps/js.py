"""The map's own JavaScript: panes, layer builders, tooltips/popups and legend switching.

One function, called once right after folium creates the map, with the map and the data
(one JSON object, see `maps.render`). Every string in the data that came from the user was
HTML-escaped in Python (`maps.text.esc`) and is inserted as HTML here; numbers are formatted
here. Layers are built by ``HS.<name>()`` calls from `maps.render._JsLayer` elements, so
folium's LayerControl lists them like any other layer.
"""

from __future__ import annotations

from typing import Final

HS_LIB: Final = r"""
function hsLib(map, D) {
  var HS = {map: map, D: D, layers: {}};
  // popups open clear of the title panel, which sits above them at the top of the map
  L.Popup.mergeOptions({autoPanPaddingTopLeft: L.point(10, 140)});
  [["hsBase", 350, 0], ["hsChoro", 410, 1], ["hsLines", 415, 0], ["hsLpa", 420, 1],
   ["hsDensity", 430, 0], ["hsGi", 435, 1], ["hsSpots", 440, 1], ["hsLocations", 445, 1],
   ["hsHomes", 450, 1], ["hsLabels", 470, 0]].forEach(function (p) {
    var el = map.createPane(p[0]);
    el.style.zIndex = p[1];
    if (!p[2]) el.style.pointerEvents = "none";
  });
  function fmt(v) {
    if (v === null || v === undefined || v === "") return "\u2013";
    return (typeof v === "number") ? v.toLocaleString("en-GB") : v;
  }
  function table(title, rows, extra) {
    var h = "<div class='hs-tip'><b class='hs-tip-title'>" + title + "</b><table>";
    rows.forEach(function (r) {
      if (r) h += "<tr><th>" + r[0] + "</th><td>" + fmt(r[1]) + "</td></tr>";
    });
    return h + "</table>" + (extra || "") + "</div>";
  }
  HS.fmt = fmt;
  HS.table = table;

  HS.basemap = function () {
    var g = [], st = D.style;
    if (st.land) g.push(L.geoJson(D.county, {pane: "hsBase", interactive: false,
      style: {stroke: false, fillColor: st.land, fillOpacity: 1}}));
    g.push(L.geoJson(D.wards, {pane: "hsBase", interactive: false,
      style: {fill: false, color: st.ward, weight: 0.6, opacity: 0.8}}));
    g.push(L.geoJson(D.districts, {pane: "hsLines", interactive: false,
      style: {fill: false, color: st.district, weight: 1.5, opacity: 0.9, dashArray: "6 4"}}));
    g.push(L.geoJson(D.county, {pane: "hsLines", interactive: false,
      style: {fill: false, color: st.county, weight: 2.5, opacity: 1}}));
    return L.layerGroup(g);
  };

  HS.choropleth = function (j) {
    var m = D.measures[j], st = D.style, layer;
    layer = L.geoJson(D.wards, {
      pane: "hsChoro",
      style: function (f) {
        return {fillColor: m.colours[f.properties.k[j]], fillOpacity: st.choroOpacity,
                color: st.ward, weight: 0.6, opacity: 0.9};
      },
      onEachFeature: function (f, l) {
        l.bindTooltip(function () {
          var p = f.properties, rows = [["District", p.d], ["LPA", p.l]];
          D.measures.forEach(function (mm, i) { rows.push([mm.label, p.v[i]]); });
          rows.push(["Repeat children (2+)", p.r], ["Episodes in hotspots", p.h]);
          return table(p.n + " (" + p.c + ")", rows);
        }, {sticky: true});
        l.on("mouseover", function () { l.setStyle({weight: 2.5, color: "#000"}); });
        l.on("mouseout", function () { layer.resetStyle(l); });
      }
    });
    return layer;
  };

  HS.lpas = function () {
    return L.geoJson(D.lpas, {
      pane: "hsLpa",
      style: {fill: false, color: D.style.lpa, weight: 3.5, opacity: 0.95},
      onEachFeature: function (f, l) {
        var p = f.properties;
        l.bindTooltip(table("Local Police Area: " + p.n,
          [["Episodes", p.e], ["Children", p.c], ["Hotspots (main LPA)", p.s]]), {sticky: true});
      }
    });
  };

  function spotHtml(s) {
    var rows = [["Episodes", s.e], ["Share of mapped episodes", s.pct], ["Children", s.c],
      ["Repeat children (2+)", s.r], ["Distinct locations", s.loc], ["Area (hectares)", s.ha],
      ["LPA", s.lpa], ["District", s.lad], ["Main ward", s.ward]];
    (s.homes || []).forEach(function (h) { rows.push([h[0], h[1]]); });
    var E = D.evidence, label = (E && s.ev) ? E.labels[s.ev] : "";
    if (label) {
      rows.push(["Evidence", label], ["Found again in re-runs", s.stab],
                ["Overlaps a Gi* hot spot", E.gi[s.gi]], ["Rests on one child", E.one[s.one]]);
    }
    var extra = s.drv ? "<div class='hs-driver'><b>What drives it:</b> " + s.drv + "</div>" : "";
    if (label) {
      extra += "<div class='hs-driver hs-evidence hs-evidence-" + s.ev + "'><b>Evidence: " +
        label + "</b> \u2013 " + E.meanings[s.ev] + ".</div>";
    }
    return table("Hotspot " + s.id, rows, extra);
  }
  function spotTip(s) {
    var E = D.evidence, label = (E && s.ev) ? E.labels[s.ev] : "";
    return "<div class='hs-tip'><b>Hotspot " + s.id + "</b>: " + fmt(s.e) + " episodes, " +
      fmt(s.c) + " children" + (label ? " \u00b7 " + label : "") +
      "<div class='hs-hint'>Click for details</div></div>";
  }
  HS.spotHtml = spotHtml;
  HS.hotspots = function () {
    var spots = D.spots, st = D.style;
    var hulls = L.geoJson(D.hulls, {
      pane: "hsSpots",
      style: function (f) {
        var s = spots[f.properties.i];
        return {fillColor: D.spotColours[s.k], fillOpacity: 0.6, color: st.spotLine,
                weight: 2, opacity: 1, className: "hs-spot-hull hs-spot-" + s.id};
      },
      onEachFeature: function (f, l) {
        var s = spots[f.properties.i];
        l.bindPopup(function () { return spotHtml(s); }, {maxWidth: 340});
        l.bindTooltip(function () { return spotTip(s); }, {sticky: true});
      }
    });
    var dots = spots.filter(function (s) { return s.lat !== null && s.lon !== null; })
                    .map(function (s) {
      var c = L.circleMarker([s.lat, s.lon], {pane: "hsSpots", radius: s.rad,
        color: st.spotLine, weight: 1.5, fillColor: D.spotColours[s.k], fillOpacity: 0.9,
        className: "hs-spot-dot hs-spot-" + s.id});
      c.bindPopup(function () { return spotHtml(s); }, {maxWidth: 340});
      c.bindTooltip(function () { return spotTip(s); }, {sticky: true});
      return c;
    });
    return L.featureGroup([hulls, L.featureGroup(dots)]);
  };

  HS.gi = function () {
    var G = D.gi;
    return L.geoJson(G.cells, {
      pane: "hsGi",
      style: {color: G.line, weight: 1.8, opacity: 0.95, fillColor: G.fill,
              fillOpacity: G.opacity, className: "hs-gi-cell"},
      onEachFeature: function (f, l) {
        var p = f.properties;
        l.bindTooltip(function () {
          return table(G.title, [p.n === null ? null : ["Episodes in this square", p.n],
            ["Episodes in its window (it and the 8 around it)", p.w],
            ["Expected by chance", p.x], ["z", p.z], ["q (false discovery rate)", p.q]],
            "<div class='hs-hint'>" + G.cell + " m grid square</div>");
        }, {sticky: true});
      }
    });
  };

  HS.homes = function () {
    var H = D.homes;
    return L.featureGroup(H.rows.map(function (h) {
      // [lat, lon, type index, places, ward, LPA, hotspot, episodes, name or ""]
      var t = H.types[h[2]];
      var c = L.circleMarker([h[0], h[1]], {pane: "hsHomes", radius: 5, color: "#1a1a1a",
        weight: 1.2, fillColor: t.colour, fillOpacity: 0.95});
      c.bindTooltip(function () {
        return table((h[8] ? h[8] + " \u00b7 " : "") + t.label,
          [["Places", h[3]], ["Ward", h[4]], ["LPA", h[5]], ["In hotspot", h[6] || "no"],
           ["Episodes recorded for this home", h[7]]]);
      });
      return c;
    }));
  };

  HS.locations = function () {
    var P = D.locations;
    return L.featureGroup(P.rows.map(function (r) {
      var c = L.circleMarker([r[0], r[1]], {pane: "hsLocations",
        radius: 2.5 + 9 * Math.sqrt(r[2] / P.max), color: "#ffffff", weight: 1,
        fillColor: D.style.location, fillOpacity: 0.75});
      c.bindTooltip(fmt(r[2]) + (r[2] === 1 ? " episode" : " episodes") + " in this " +
        P.cell + " m square");
      return c;
    }));
  };

  HS.density = function () {
    return L.imageOverlay(D.density.uri, D.density.bounds,
      {pane: "hsDensity", opacity: 1, interactive: false});
  };

  HS.labels = function () {
    return L.layerGroup(D.labels.map(function (p) {
      return L.marker([p[1], p[2]], {pane: "hsLabels", interactive: false, keyboard: false,
        icon: L.divIcon({className: "hs-place hs-rank-" + p[3], html: "<span>" + p[0] + "</span>",
                         iconSize: [0, 0]})});
    }));
  };

  // Each legend section is shown only while its layer is on the map.
  HS.track = function (pairs) {
    pairs.forEach(function (p) { HS.layers[p[1]] = p[0]; });
    function sync() {
      pairs.forEach(function (p) {
        var el = document.getElementById("hs-legend-" + p[1]);
        if (el) el.hidden = !map.hasLayer(p[0]);
      });
    }
    map.on("layeradd layerremove", function (e) {
      for (var i = 0; i < pairs.length; i++) if (pairs[i][0] === e.layer) { sync(); return; }
    });
    sync();
  };
  return HS;
}
"""
