"""Geometry primitives of the vehicle model: a vertex store, convex prisms and boxes, and flat
overlays on their faces.

Coordinates are metres in the vehicle frame (x forward, y to the car's left, z up, origin on
the ground under the centre). A *part* is a dict ``{name, layer, centroid, faces}``; a *face*
is a dict ``{label, sl, pts, normal, centroid, color, kind}`` whose ``sl`` is its slice of the
vertex store, plus its overlays (flat polygons drawn right after the face) which
:meth:`Mesh.finish` packs into ``ov_sl`` (slices), ``ov_col`` (K, 3) colours, ``ov_kind`` (K,)
codes of :data:`OVERLAY_KIND` and ``plate_sl`` (the slice of the face's plate or None).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .palette import GLASS

__all__ = [
    "OVERLAY_KIND",
    "Mesh",
    "bilinear",
    "box",
    "disc_x",
    "disc_y",
    "face",
    "overlay",
    "prism",
    "rect_x",
    "rect_y",
    "side_quad",
]

#: Overlay kinds: 0 flat paint-like, 1 glass, 2 matte (plates, day headlights), 3 headlight,
#: 4 tail light, 5 plate text band (small plates), 6 glyph bit (large plates).
OVERLAY_KIND = {
    "flat": 0,
    "sticker": 0,
    "glass": 1,
    "plate": 2,
    "head": 3,
    "tail": 4,
    "band": 5,
    "glyph": 6,
}


class Mesh:
    """Vertex store + parts. Every polygon is a slice of ``verts`` (set by :meth:`finish`)."""

    def __init__(self) -> None:
        self._verts: list[np.ndarray] = []
        self.n = 0
        self.parts: list[dict[str, Any]] = []

    def add(self, pts: np.ndarray) -> tuple[int, int]:
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
        s = self.n
        self._verts.append(pts)
        self.n += len(pts)
        return (s, self.n)

    def finish(self) -> None:
        self.verts = np.concatenate(self._verts, axis=0)
        for part in self.parts:
            for f in part["faces"]:
                ovs = f.pop("overlays")
                f["ov_sl"] = [o["sl"] for o in ovs]
                f["ov_col"] = np.array([o["color"] for o in ovs]).reshape(-1, 3)
                f["ov_kind"] = np.array([OVERLAY_KIND[o["kind"]] for o in ovs], dtype=np.int64)
                plates = [o["sl"] for o in ovs if o["kind"] == "plate"]
                f["plate_sl"] = plates[0] if plates else None


def _newell(pts: np.ndarray) -> np.ndarray:
    """Unit normal of a planar polygon (Newell's method)."""
    n = np.zeros(3)
    nxt = np.roll(pts, -1, axis=0)
    n[0] = np.sum((pts[:, 1] - nxt[:, 1]) * (pts[:, 2] + nxt[:, 2]))
    n[1] = np.sum((pts[:, 2] - nxt[:, 2]) * (pts[:, 0] + nxt[:, 0]))
    n[2] = np.sum((pts[:, 0] - nxt[:, 0]) * (pts[:, 1] + nxt[:, 1]))
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else n


def prism(
    g: Mesh,
    name: str,
    profile: list[tuple[float, float]],
    labels: list[str],
    hw,
    layer: int,
    colors: dict[str, np.ndarray],
    default: np.ndarray,
    yc: float = 0.0,
) -> dict[str, Any]:
    """Extrude a convex x-z profile across y with half width ``hw(z)`` around ``yc``.

    Faces are labelled ``name.left``, ``name.right`` and ``name.<edge label>``; returns the part.
    """
    P = np.asarray(profile, dtype=np.float64)
    left = np.array([(x, yc + hw(z), z) for x, z in P])
    right = np.array([(x, yc - hw(z), z) for x, z in P])
    allpts = np.concatenate([left, right])
    centroid = allpts.mean(0)
    polys: list[tuple[str, np.ndarray]] = [(f"{name}.left", left), (f"{name}.right", right)]
    n = len(P)
    for i in range(n):
        j = (i + 1) % n
        quad = np.array([left[i], left[j], right[j], right[i]])
        polys.append((f"{name}.{labels[i]}", quad))
    faces = []
    for label, pts in polys:
        if label.endswith(".none"):
            continue
        nrm = _newell(pts)
        if np.dot(nrm, pts.mean(0) - centroid) < 0:
            nrm = -nrm
        key = label.split(".", 1)[1]
        glass = key in ("windshield", "rear_window")
        glass_col = GLASS if key == "windshield" else GLASS * 0.7
        faces.append(
            dict(
                label=label,
                sl=g.add(pts),
                pts=pts,
                normal=nrm,
                centroid=pts.mean(0),
                color=colors.get(key, glass_col if glass else default),
                kind="glass" if glass else "paint",
                overlays=[],
            )
        )
    part = dict(name=name, layer=layer, centroid=centroid, faces=faces)
    g.parts.append(part)
    return part


def box(
    g: Mesh,
    name: str,
    x0: float,
    x1: float,
    y0: float,
    y1: float,
    z0: float,
    z1: float,
    layer: int,
    color: np.ndarray,
) -> dict[str, Any]:
    """Axis-aligned box part [x0, x1] x [y0, y1] x [z0, z1] of one colour."""
    yc, hw = 0.5 * (y0 + y1), 0.5 * (y1 - y0)
    return prism(
        g,
        name,
        [(x1, z0), (x1, z1), (x0, z1), (x0, z0)],
        ["front", "top", "rear", "bottom"],
        lambda z: hw,
        layer,
        {},
        color,
        yc=yc,
    )


def face(part: dict[str, Any], key: str) -> dict[str, Any]:
    """The face ``<part>.<key>`` of a part (KeyError if it has none)."""
    for f in part["faces"]:
        if f["label"].split(".", 1)[1] == key:
            return f
    raise KeyError(key)


def overlay(
    g: Mesh, face: dict[str, Any], pts: np.ndarray, color: np.ndarray, kind: str = "flat"
) -> None:
    """Add a flat polygon drawn over ``face`` (after the overlays added before it)."""
    face["overlays"].append(dict(sl=g.add(pts), color=np.asarray(color, float), kind=kind))


def rect_x(x: float, y0: float, y1: float, z0: float, z1: float) -> np.ndarray:
    """Rectangle on the plane x = const (front/rear faces)."""
    return np.array([(x, y0, z0), (x, y1, z0), (x, y1, z1), (x, y0, z1)])


def rect_y(y: float, x0: float, x1: float, z0: float, z1: float) -> np.ndarray:
    """Rectangle on the plane y = const (side faces)."""
    return np.array([(x0, y, z0), (x1, y, z0), (x1, y, z1), (x0, y, z1)])


def _circle(r: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return r * np.cos(a), r * np.sin(a)


def disc_y(y: float, xc: float, zc: float, r: float, n: int = 12) -> np.ndarray:
    """n-gon of radius ``r`` on the plane y = const (wheels)."""
    c, s = _circle(r, n)
    return np.stack([xc + c, np.full(n, y), zc + s], axis=1)


def disc_x(x: float, yc: float, zc: float, r: float, n: int = 12) -> np.ndarray:
    """n-gon of radius ``r`` on the plane x = const (spare wheels)."""
    c, s = _circle(r, n)
    return np.stack([np.full(n, x), yc + c, zc + s], axis=1)


def bilinear(quad: np.ndarray, s0: float, s1: float, t0: float, t1: float) -> np.ndarray:
    """Sub-rectangle [s0,s1]x[t0,t1] of a quad given as (P00, P10, P11, P01)."""
    P00, P10, P11, P01 = quad

    def at(s: float, t: float) -> np.ndarray:
        return (1 - t) * ((1 - s) * P00 + s * P10) + t * ((1 - s) * P01 + s * P11)

    return np.array([at(s0, t0), at(s1, t0), at(s1, t1), at(s0, t1)])


def side_quad(face: dict[str, Any]) -> np.ndarray:
    """A 4-point cabin side face as (base-front, base-rear, top-rear, top-front)."""
    p = face["pts"]  # profile order: base-front, top-front, top-rear, base-rear
    return np.array([p[0], p[3], p[2], p[1]])
