"""Procedural CPU renderer for the synthetic vehicle crops (numpy + Pillow only).

A vehicle is a handful of convex prisms (body, cabin/greenhouse, cargo box, roof items) in a
vehicle frame (metres; x forward, y to the car's left, z up, origin on the ground under the
centre). Faces carry flat *overlays* (lights, plates, windows, wheels, decals, ...) drawn right
after their face. A perspective camera looks at the car from azimuth ``yaw_deg`` (0 = in front,
90 = on the car's left), at the camera's height and distance. Parts are painted in layer order
and far-to-near inside a layer, with back-face culling and Lambert + specular shading per face.
Then the per-camera domain style is applied (exposure, colour cast, contrast, saturation,
gamma, night glare, blur, resolution, noise, JPEG quality).
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from .plan import CUE_PALETTE, PAINT
from .presets import TYPE_NAMES

__all__ = ["build_vehicle", "render_image", "KEYPOINT_NAMES"]

#: Wang et al. (ICCV 2017) 20 vehicle keypoints, in file order.
KEYPOINT_NAMES: tuple[str, ...] = (
    "left-front wheel",
    "left-back wheel",
    "right-front wheel",
    "right-back wheel",
    "right fog lamp",
    "left fog lamp",
    "right headlight",
    "left headlight",
    "front logo",
    "front plate",
    "left mirror",
    "right mirror",
    "right-front roof corner",
    "left-front roof corner",
    "left-back roof corner",
    "right-back roof corner",
    "left rear lamp",
    "right rear lamp",
    "rear logo",
    "rear plate",
)

_SS = 2  # supersampling factor of the drawing canvas
_GLASS = np.array([38.0, 44.0, 54.0])
_TYRE = np.array([26.0, 26.0, 28.0])
_DARK = np.array([34.0, 34.0, 37.0])
_HEAD = np.array([214.0, 216.0, 210.0])
_TAIL = np.array([178.0, 22.0, 28.0])
_RIMS = (
    np.array([205.0, 170.0, 70.0]),
    np.array([30.0, 30.0, 32.0]),
    np.array([235.0, 235.0, 235.0]),
    np.array([190.0, 196.0, 205.0]),
)
_PLATE_BG = (
    (np.array([28.0, 62.0, 172.0]), np.array([236.0, 236.0, 236.0])),
    (np.array([232.0, 192.0, 30.0]), np.array([20.0, 20.0, 20.0])),
    (np.array([200.0, 232.0, 205.0]), np.array([20.0, 20.0, 20.0])),
)
# Overlay kinds: 0 flat paint-like, 1 glass, 2 matte (plates, day headlights), 3 headlight,
# 4 tail light, 5 plate text band (small plates), 6 glyph bit (large plates).
_KIND = {
    "flat": 0,
    "sticker": 0,
    "glass": 1,
    "plate": 2,
    "head": 3,
    "tail": 4,
    "band": 5,
    "glyph": 6,
}
_K_SPEC = np.array([60.0, 70.0, 0.0, 0.0, 60.0, 0.0, 0.0])
_K_SKY = np.array([0.0, 30.0, 0.0, 0.0, 0.0, 0.0, 0.0])
_K_MATTE = np.array([False, False, True, True, False, True, True])
_PLATE_DETAIL_PX = 22.0  # plates at least this wide (output pixels) get glyphs
# A fixed 3x5 bitmap "font" of 36 glyphs.
_GLYPHS = np.random.default_rng(20240607).random((36, 5, 3)) < 0.55

# --------------------------------------------------------------------------------------------
# Geometry


class _Geom:
    """Vertex store + faces. Every polygon is a slice of ``verts``."""

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
                f["ov_kind"] = np.array([_KIND[o["kind"]] for o in ovs], dtype=np.int64)
                plates = [o["sl"] for o in ovs if o["kind"] == "plate"]
                f["plate_sl"] = plates[0] if plates else None


def _newell(pts: np.ndarray) -> np.ndarray:
    n = np.zeros(3)
    nxt = np.roll(pts, -1, axis=0)
    n[0] = np.sum((pts[:, 1] - nxt[:, 1]) * (pts[:, 2] + nxt[:, 2]))
    n[1] = np.sum((pts[:, 2] - nxt[:, 2]) * (pts[:, 0] + nxt[:, 0]))
    n[2] = np.sum((pts[:, 0] - nxt[:, 0]) * (pts[:, 1] + nxt[:, 1]))
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else n


def _prism(
    g: _Geom,
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
        glass_col = _GLASS if key == "windshield" else _GLASS * 0.7
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


def _box(
    g: _Geom,
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
    yc, hw = 0.5 * (y0 + y1), 0.5 * (y1 - y0)
    return _prism(
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


def _face(part: dict[str, Any], key: str) -> dict[str, Any]:
    for f in part["faces"]:
        if f["label"].split(".", 1)[1] == key:
            return f
    raise KeyError(key)


def _overlay(
    g: _Geom, face: dict[str, Any], pts: np.ndarray, color: np.ndarray, kind: str = "flat"
) -> None:
    face["overlays"].append(dict(sl=g.add(pts), color=np.asarray(color, float), kind=kind))


def _rect_x(x: float, y0: float, y1: float, z0: float, z1: float) -> np.ndarray:
    """Rectangle on the plane x = const (front/rear faces)."""
    return np.array([(x, y0, z0), (x, y1, z0), (x, y1, z1), (x, y0, z1)])


def _rect_y(y: float, x0: float, x1: float, z0: float, z1: float) -> np.ndarray:
    """Rectangle on the plane y = const (side faces)."""
    return np.array([(x0, y, z0), (x1, y, z0), (x1, y, z1), (x0, y, z1)])


def _disc_y(y: float, xc: float, zc: float, r: float, n: int = 12) -> np.ndarray:
    a = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([xc + r * np.cos(a), np.full(n, y), zc + r * np.sin(a)], axis=1)


def _disc_x(x: float, yc: float, zc: float, r: float, n: int = 12) -> np.ndarray:
    a = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([np.full(n, x), yc + r * np.cos(a), zc + r * np.sin(a)], axis=1)


def _bilinear(quad: np.ndarray, s0: float, s1: float, t0: float, t1: float) -> np.ndarray:
    """Sub-rectangle [s0,s1]x[t0,t1] of a quad given as (P00, P10, P11, P01)."""
    P00, P10, P11, P01 = quad

    def at(s: float, t: float) -> np.ndarray:
        return (1 - t) * ((1 - s) * P00 + s * P10) + t * ((1 - s) * P01 + s * P11)

    return np.array([at(s0, t0), at(s1, t0), at(s1, t1), at(s0, t1)])


def _side_quad(face: dict[str, Any]) -> np.ndarray:
    """A 4-point cabin side face as (base-front, base-rear, top-rear, top-front)."""
    p = face["pts"]  # profile order: base-front, top-front, top-rear, base-rear
    return np.array([p[0], p[3], p[2], p[1]])


def _plate(
    g: _Geom, face: dict[str, Any], x: float, zc: float, w: float, h: float, plate: dict
) -> None:
    """Licence plate on a front/rear face: background, a text band (drawn when the plate is
    small in the image) and 3x5-bit glyphs (drawn when it is large)."""
    bg, fg = _PLATE_BG[plate["bg"]]
    _overlay(g, face, _rect_x(x, -w / 2, w / 2, zc - h / 2, zc + h / 2), bg, "plate")
    on = float(np.mean(_GLYPHS[plate["glyphs"]]))
    band = bg * (1.0 - 0.6 * on) + fg * 0.6 * on
    _overlay(g, face, _rect_x(x, -0.42 * w, 0.42 * w, zc - 0.3 * h, zc + 0.3 * h), band, "band")
    gw = w * 0.9 / 7.0
    cw, ch = gw / 4.0, h * 0.8 / 5.0
    y_start = w * 0.45
    sgn = -1.0 if x > 0 else 1.0  # reading direction: to the viewer's right
    for k, gl in enumerate(plate["glyphs"]):
        bits = _GLYPHS[gl]
        for r in range(5):
            c = 0
            while c < 3:  # merge runs of set bits into one rectangle
                if not bits[r, c]:
                    c += 1
                    continue
                c1 = c
                while c1 < 3 and bits[r, c1]:
                    c1 += 1
                ya = sgn * (y_start - k * gw - c * cw)
                yb = sgn * (y_start - k * gw - c1 * cw)
                za = zc + h * 0.4 - (r + 1) * ch
                _overlay(g, face, _rect_x(x, min(ya, yb), max(ya, yb), za, za + ch), fg, "glyph")
                c = c1


def build_vehicle(model: dict[str, Any], ident: dict[str, Any]) -> dict[str, Any]:
    """Geometry of one identity: parts with faces and overlays, keypoints, light positions.

    Returns a dict with ``verts`` (N, 3) float64 (metres, vehicle frame), ``parts`` (list of
    parts; each face has a vertex slice, outward normal and colour), ``kp`` (20, 3) keypoint
    positions, ``kp_faces`` (20 lists of face labels; a keypoint is visible when one of them
    faces the camera), ``lights`` (list of (vertex index, 'head'|'tail', face label)).
    """
    tname = TYPE_NAMES[model["type"]]
    paint = np.array(PAINT[ident["color"]], dtype=np.float64)
    cues = ident["cues"]
    g = _Geom()
    L, W, H = model["L"], model["W"], model["H"]
    clr, belt, r = model["clr"], model["belt"], model["r"]
    xf, xr = L / 2, -L / 2
    hw = W / 2
    a, b, c, d = model["cab"]
    big = tname in ("bus", "truck")

    # ---- lower body / truck cab --------------------------------------------------------
    if tname == "truck":
        cab_len = max(1.6, 0.24 * L)
        cab_belt = 1.35
        body = _prism(
            g,
            "body",
            [(xf, clr), (xf, cab_belt), (xf - cab_len, cab_belt), (xf - cab_len, clr)],
            ["front", "top", "rear", "bottom"],
            lambda z: hw * 0.97,
            0,
            {},
            paint,
        )
        cab = _prism(
            g,
            "cab",
            [
                (xf - 0.02, cab_belt),
                (xf - 0.35, H * 0.86),
                (xf - cab_len, H * 0.86),
                (xf - cab_len, cab_belt),
            ],
            ["windshield", "roof", "back", "none"],
            lambda z: hw * 0.97 - 0.08 * (z - cab_belt),
            1,
            {},
            paint,
        )
        cargo_col = np.clip(paint * model["cargo_shade"] + 12.0, 0, 255)
        cargo = _prism(
            g,
            "cargo",
            [(xf - cab_len - 0.12, 0.95), (xf - cab_len - 0.12, H), (xr, H), (xr, 0.95)],
            ["front", "top", "rear", "bottom"],
            lambda z: hw,
            1,
            {},
            cargo_col,
        )
        _box(g, "chassis", xr + 0.3, xf - cab_len, -hw + 0.25, hw - 0.25, clr, 0.95, 0, _DARK)
        front_face, rear_face = _face(body, "front"), _face(cargo, "rear")
        front_top, rear_top = cab_belt, 0.95 + 0.5
        rear_z0 = 0.95
        cabin = cab
        roof_part = cab
        wheels = [(xf - cab_len * 0.5, body), (xr + 1.0, cargo), (xr + 2.1, cargo)]
    else:
        nose = model["nose"] if not big else 0.05
        tail = model["tail"] if tname in ("sedan", "hatchback", "estate") else 0.05
        bh_f = 0.35 * (belt - clr) if not big else 0.05
        bh_r = 0.25 * (belt - clr) if not big else 0.05
        body = _prism(
            g,
            "body",
            [
                (xf, clr),
                (xf, belt - bh_f),
                (xf - nose, belt),
                (xr + tail, belt),
                (xr, belt - bh_r),
                (xr, clr),
            ],
            ["front", "nose", "top", "tail", "rear", "bottom"],
            lambda z: hw,
            0,
            {},
            paint,
        )
        xbf, xtf, xtr, xbr = xf - a * L, xf - b * L, xf - c * L, xf - d * L
        if tname == "bus":
            xbf, xtf = xf - 0.02, xf - 0.12
        tumble = model["tumble"] if not big else 0.02
        cabin = _prism(
            g,
            "cabin",
            [(xbf, belt), (xtf, H), (xtr, H), (xbr, belt)],
            ["windshield", "roof", "rear_window", "none"],
            lambda z: hw - 0.01 - tumble * (z - belt) / max(H - belt, 1e-6),
            1,
            {},
            paint,
        )
        if tname == "bus":
            _face(cabin, "rear_window")["kind"] = "paint"
            _face(cabin, "rear_window")["color"] = paint
        front_face, rear_face = _face(body, "front"), _face(body, "rear")
        front_top, rear_top = belt - bh_f, belt - bh_r
        rear_z0 = clr
        roof_part = cabin
        wb = 0.62 * L if not big else 0.6 * L
        wheels = [(wb / 2 + 0.02 * L, body), (-wb / 2, body)]
        if tname == "bus":
            wheels = [(0.3 * L, body), (-0.28 * L, body)]

    # ---- windows on the cabin sides ------------------------------------------------------
    for side in ("left", "right"):
        sf = _face(cabin, side)
        q = _side_quad(sf)
        if tname == "bus":
            n = 7
            for k in range(n):
                s0, s1 = 0.02 + k * 0.96 / n, 0.02 + (k + 1) * 0.96 / n - 0.025
                _overlay(g, sf, _bilinear(q, s0, s1, 0.22, 0.85), _GLASS, "glass")
        elif tname == "truck":
            _overlay(g, sf, _bilinear(q, 0.12, 0.55, 0.12, 0.82), _GLASS, "glass")
        elif tname == "van" and not model["side_windows"]:
            _overlay(g, sf, _bilinear(q, 0.04, 0.24, 0.14, 0.86), _GLASS, "glass")
        else:
            n = 2 if tname in ("sedan", "hatchback", "pickup") else model["n_windows"]
            for k in range(n):
                s0 = 0.05 + k * 0.9 / n + (0.015 if k else 0.0)
                s1 = 0.05 + (k + 1) * 0.9 / n - (0.015 if k < n - 1 else 0.0)
                _overlay(g, sf, _bilinear(q, s0, s1, 0.1, 0.86), _GLASS, "glass")

    # ---- front face: grille, headlights, fog lamps, plate, tyres -----------------------------
    ff = front_face
    fz0, fz1 = clr, front_top
    fh = fz1 - fz0
    fx = xf
    gw = (0.2, 0.25, 0.3)[model["grille"]] * W
    _overlay(g, ff, _rect_x(fx, -gw, gw, fz1 - 0.58 * fh, fz1 - 0.08 * fh), _DARK)
    _overlay(g, ff, _rect_x(fx, -0.36 * W, 0.36 * W, fz0 + 0.03 * fh, fz0 + 0.11 * fh), _DARK)
    hl_h = (0.3, 0.22, 0.38)[model["headlight"]] * fh
    for sgn in (1.0, -1.0):
        y0, y1 = sorted((sgn * 0.25 * W, sgn * 0.47 * W))
        _overlay(g, ff, _rect_x(fx, y0, y1, fz1 - 0.06 * fh - hl_h, fz1 - 0.06 * fh), _HEAD, "head")
        y0, y1 = sorted((sgn * 0.33 * W, sgn * 0.43 * W))
        _overlay(g, ff, _rect_x(fx, y0, y1, fz0 + 0.12 * fh, fz0 + 0.22 * fh), _HEAD * 0.8)
        y0, y1 = sorted((sgn * (hw - 0.38), sgn * (hw - 0.08)))
        _overlay(g, ff, _rect_x(fx, y0, y1, 0.0, fz0 + 0.04), _TYRE)
    plate_z = fz0 + 0.3 * fh
    _plate(g, ff, fx, plate_z, 0.44, 0.14, ident["plate_front"])

    # ---- rear face: tail lights, plate, tyres ---------------------------------------------
    rf = rear_face
    rz0, rz1 = rear_z0, rear_top
    rh = rz1 - rz0
    rx = xr
    _overlay(g, rf, _rect_x(rx, -0.4 * W, 0.4 * W, rz0 + 0.02 * rh, rz0 + 0.12 * rh), _DARK)
    if model["headlight"] == 2:  # a light bar across the rear
        _overlay(g, rf, _rect_x(rx, -0.3 * W, 0.3 * W, rz1 - 0.3 * rh, rz1 - 0.2 * rh), _TAIL * 0.8)
    for sgn in (1.0, -1.0):
        y0, y1 = sorted((sgn * 0.27 * W, sgn * 0.48 * W))
        _overlay(g, rf, _rect_x(rx, y0, y1, rz1 - 0.5 * rh, rz1 - 0.06 * rh), _TAIL, "tail")
        y0, y1 = sorted((sgn * (hw - 0.38), sgn * (hw - 0.08)))
        _overlay(g, rf, _rect_x(rx, y0, y1, 0.0, rz0 + 0.04), _TYRE)
    rplate_z = rz0 + 0.35 * rh
    _plate(g, rf, rx, rplate_z, 0.44, 0.14, ident["plate_rear"])

    # ---- wheels -------------------------------------------------------------------------
    rim = cues.get("rims")
    rim_col = _RIMS[rim["color"]] if rim else np.array([150.0, 152.0, 158.0])
    rim_size = rim["size"] if rim else 0.55
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        for xw, part in wheels:
            sf = _face(part, side)
            y = sgn * (hw + 0.005)
            _overlay(g, sf, _disc_y(y, xw, r, r), _TYRE)
            _overlay(g, sf, _disc_y(y, xw, r, r * rim_size), rim_col)
            if rim and rim["spokes"]:
                _overlay(g, sf, _disc_y(y, xw, r, r * rim_size * 0.45, 8), _DARK)
        # door line and mirror on cars
        if not big:
            sf = _face(body, side)
            y = sgn * hw
            xm = xf - a * L
            _overlay(g, sf, _rect_y(y, xm - 0.95, xm - 0.92, clr + 0.1, belt - 0.05), paint * 0.55)
            _overlay(g, sf, _rect_y(y, xm - 0.25, xm - 0.02, belt - 0.02, belt + 0.14), paint * 0.8)

    # ---- cues ---------------------------------------------------------------------------
    if "sticker" in cues:
        st = cues["sticker"]
        wf = _face(cabin, "windshield")
        q = wf["pts"]  # (base-left, top-left, top-right, base-right)
        quad = np.array([q[0], q[3], q[2], q[1]])  # s: left->right, t: base->top
        sz = min(st["size"], 0.45)
        s0 = 0.06 if st["corner"] in (0, 2) else 0.94 - sz
        t0 = 0.08 if st["corner"] in (0, 1) else 0.9 - sz * 1.2
        for k in range(st["n"]):
            col = np.array(CUE_PALETTE[st["colors"][k]], float)
            ss = s0 + k * (sz * 0.55) * (1 if st["corner"] in (0, 2) else -1)
            _overlay(g, wf, _bilinear(quad, ss, ss + sz * 0.5, t0, t0 + sz * 1.1), col, "sticker")

    for side, sgn in (("left", 1.0), ("right", -1.0)):
        dc = cues.get(f"decal_{side}")
        if not dc:
            continue
        col = np.array(CUE_PALETTE[dc["color"]], float)
        col2 = np.array(CUE_PALETTE[dc["color2"]], float)
        if tname == "truck":
            sf, x0, x1, z0, z1 = _face(cargo, side), xr, xf - cab_len - 0.12, 0.95, H
        elif tname == "bus":
            sf, x0, x1, z0, z1 = _face(body, side), xr, xf, clr, belt
        else:
            sf, x0, x1, z0, z1 = _face(body, side), xr, xf, clr, belt
        y = sgn * (hw + 0.002)
        lx, lz = x1 - x0, z1 - z0
        sz = dc["size"]
        if dc["kind"] == "stripe":
            zc = z0 + lz * (0.35 + 0.4 * dc["pos"])
            th = min(0.9 * lz, lz * 0.35 * sz)
            _overlay(
                g, sf, _rect_y(y, x0 + 0.05 * lx, x1 - 0.05 * lx, zc - th / 2, zc + th / 2), col
            )
        elif dc["kind"] == "band":
            zc = z0 + lz * (0.3 + 0.4 * dc["pos"])
            th = min(0.8 * lz, lz * 0.5 * sz)
            _overlay(g, sf, _rect_y(y, x0 + 0.1 * lx, x1 - 0.1 * lx, zc - th / 2, zc + th / 2), col)
            _overlay(
                g, sf, _rect_y(y, x0 + 0.1 * lx, x1 - 0.1 * lx, zc - th / 5, zc + th / 5), col2
            )
        elif dc["kind"] == "two_tone":
            zt = z0 + lz * min(0.9, 0.45 * sz + 0.15)
            _overlay(g, sf, _rect_y(y, x0 + 0.02 * lx, x1 - 0.02 * lx, z0 + 0.02, zt), col)
        else:  # logo
            xc = x0 + lx * dc["pos"]
            wl = min(0.9 * lx, lx * 0.6 * sz)
            hl = min(0.85 * lz, lz * 1.6 * sz)
            zc = z0 + 0.5 * lz
            _overlay(g, sf, _rect_y(y, xc - wl / 2, xc + wl / 2, zc - hl / 2, zc + hl / 2), col)
            _overlay(
                g,
                sf,
                _rect_y(y, xc - wl / 4, xc + wl / 4, zc - hl / 4, zc + hl / 4),
                col2,
            )

    if "dent" in cues:
        dn = cues["dent"]
        col = {
            "dark": paint * 0.45 + 8.0,
            "primer": np.array([150.0, 150.0, 142.0]),
            "scrape": np.clip(paint * 0.5 + 110.0, 0, 255),
        }[dn["kind"]]
        fs = dn["size"]
        if dn["face"] in ("left", "right"):
            sgn = 1.0 if dn["face"] == "left" else -1.0
            sf = _face(body, dn["face"])
            x0, x1 = (xf - cab_len, xf) if tname == "truck" else (xr, xf)
            z0, z1 = clr, (cab_belt if tname == "truck" else belt)
            xc = x0 + (x1 - x0) * dn["s"]
            zc = z0 + (z1 - z0) * dn["t"]
            dx, dz = (x1 - x0) * 0.35 * fs, (z1 - z0) * 0.8 * fs
            _overlay(g, sf, _rect_y(sgn * (hw + 0.003), xc - dx, xc + dx, zc - dz, zc + dz), col)
        elif dn["face"] in ("front", "rear"):
            sf = front_face if dn["face"] == "front" else rear_face
            x = xf if dn["face"] == "front" else xr
            z0, z1 = (fz0, fz1) if dn["face"] == "front" else (rz0, rz1)
            yc = (dn["s"] - 0.5) * W * 0.8
            zc = z0 + (z1 - z0) * dn["t"]
            dy, dz = W * 0.35 * fs, (z1 - z0) * 0.7 * fs
            _overlay(g, sf, _rect_x(x, yc - dy, yc + dy, zc - dz, zc + dz), col)
        else:  # on the roof
            rf2 = _face(roof_part, "roof")
            quad = np.array([rf2["pts"][0], rf2["pts"][3], rf2["pts"][2], rf2["pts"][1]])
            s, t = dn["s"], dn["t"]
            _overlay(
                g, rf2, _bilinear(quad, s - 0.3 * fs, s + 0.3 * fs, t - 0.4 * fs, t + 0.4 * fs), col
            )

    roof_face = _face(roof_part, "roof")
    rp = roof_face["pts"]  # (left-front, left-rear, right-rear, right-front) in profile order
    rx_front, rx_rear = float(rp[:, 0].max()), float(rp[:, 0].min())
    rhw = float(np.abs(rp[:, 1]).max())
    rzt = float(rp[:, 2].max())
    if "roof" in cues:
        ro = cues["roof"]
        col = np.array(CUE_PALETTE[ro["color"]], float)
        rl = rx_front - rx_rear
        xc = rx_rear + rl * ro["pos"]
        sz = ro["size"]
        if ro["kind"] == "rack":
            x0r = max(rx_rear + 0.05, xc - 0.42 * rl)
            x1r = min(rx_front - 0.05, xc + 0.42 * rl)
            for sgn in (1.0, -1.0):
                yc = sgn * (rhw - 0.12)
                _box(g, "rack", x0r, x1r, yc - 0.04, yc + 0.04, rzt, rzt + 0.09, 2, col)
            for xb in (x0r + 0.1, x1r - 0.1):
                _box(
                    g,
                    "rackx",
                    xb - 0.04,
                    xb + 0.04,
                    -rhw + 0.1,
                    rhw - 0.1,
                    rzt + 0.07,
                    rzt + 0.11,
                    2,
                    col,
                )
        elif ro["kind"] == "box":
            ln = min(0.9 * rl, (0.55 if not big else 0.35) * rl * sz)
            _box(
                g,
                "roofbox",
                xc - ln / 2,
                xc + ln / 2,
                -rhw * 0.6,
                rhw * 0.6,
                rzt,
                rzt + 0.32 * sz,
                2,
                col,
            )
        else:
            xl = rx_front - 0.25 * rl
            _box(
                g,
                "rooflight",
                xl - 0.17 * sz,
                xl + 0.17 * sz,
                -0.4 * sz,
                0.4 * sz,
                rzt,
                rzt + 0.22 * sz,
                2,
                col,
            )

    if "rear_item" in cues:
        ri = cues["rear_item"]
        col = np.array(CUE_PALETTE[ri["color"]], float)
        sz = ri["size"]
        if ri["kind"] == "spoiler":
            if tname == "sedan":
                x0 = xr + model["tail"] - 0.02
                _box(
                    g,
                    "spoiler",
                    x0,
                    x0 + 0.28 * sz,
                    -hw * 0.85,
                    hw * 0.85,
                    belt + 0.12,
                    belt + 0.17,
                    1,
                    col,
                )
            else:
                _box(
                    g,
                    "spoiler",
                    rx_rear - 0.02,
                    rx_rear + 0.3 * sz,
                    -rhw,
                    rhw,
                    rzt - 0.04,
                    rzt + 0.04,
                    2,
                    col,
                )
        elif ri["kind"] == "spare":
            rad = min(0.45 * (rz1 - rz0), 0.3 * sz)
            yc = (ri["pos"] - 0.5) * 0.4 * W
            zc = rz0 + 0.5 * (rz1 - rz0)
            _overlay(g, rear_face, _disc_x(rx - 0.002, yc, zc, rad), _TYRE)
            _overlay(g, rear_face, _disc_x(rx - 0.003, yc, zc, rad * 0.72), col)
        elif ri["kind"] == "ladder":
            face = _face(cargo, "rear") if tname == "truck" else _face(cabin, "rear_window")
            pts = face["pts"]
            zlo, zhi = float(pts[:, 2].min()), float(pts[:, 2].max())
            xx = float(pts[:, 0].min()) - 0.004
            yc = (0.25 + 0.5 * ri["pos"]) * hw * (1 if ri["pos"] > 0.5 else -1)
            for dy in (-0.2, 0.2):
                _overlay(g, face, _rect_x(xx, yc + dy - 0.035, yc + dy + 0.035, zlo, zhi), col)
            nrung = 5
            for k in range(1, nrung):
                zz = zlo + (zhi - zlo) * k / nrung
                _overlay(g, face, _rect_x(xx, yc - 0.2, yc + 0.2, zz - 0.03, zz + 0.03), col)
        else:  # sign
            yc = (0.2 + 0.15 * ri["pos"]) * W * (1 if ri["pos"] > 0.5 else -1)
            zc = rz0 + 0.55 * (rz1 - rz0)
            sw, sh = 0.28 * W * sz, 0.35 * (rz1 - rz0) * sz
            _overlay(
                g,
                rear_face,
                _rect_x(rx - 0.003, yc - sw / 2, yc + sw / 2, zc - sh / 2, zc + sh / 2),
                col,
            )

    if tname == "pickup":
        top = _face(body, "top")
        xbr = xf - d * L
        _overlay(
            g,
            top,
            np.array(
                [
                    (xbr - 0.05, hw - 0.1, belt),
                    (xr + 0.12, hw - 0.1, belt),
                    (xr + 0.12, -hw + 0.1, belt),
                    (xbr - 0.05, -hw + 0.1, belt),
                ]
            ),
            paint * 0.35 + 10.0,
        )

    # ---- keypoints (Wang order) ---------------------------------------------------------
    xw_f, xw_r = wheels[0][0], wheels[-1][0]
    xm = xf - (0.3 if tname == "truck" else a * L) - 0.12
    kp = np.array(
        [
            (xw_f, hw, r),
            (xw_r, hw, r),
            (xw_f, -hw, r),
            (xw_r, -hw, r),
            (xf, -0.38 * W, fz0 + 0.17 * fh),
            (xf, 0.38 * W, fz0 + 0.17 * fh),
            (xf, -0.37 * W, fz1 - 0.06 * fh - hl_h / 2),
            (xf, 0.37 * W, fz1 - 0.06 * fh - hl_h / 2),
            (xf, 0.0, fz1 - 0.3 * fh),
            (xf, 0.0, plate_z),
            (xm, hw + 0.08, (cab_belt if tname == "truck" else belt) + 0.06),
            (xm, -hw - 0.08, (cab_belt if tname == "truck" else belt) + 0.06),
            (rx_front, -rhw, rzt),
            (rx_front, rhw, rzt),
            (rx_rear, rhw, rzt),
            (rx_rear, -rhw, rzt),
            (xr, 0.38 * W, rz1 - 0.25 * rh),
            (xr, -0.38 * W, rz1 - 0.25 * rh),
            (xr, 0.0, rz1 - 0.15 * rh),
            (xr, 0.0, rplate_z),
        ]
    )
    flab, rlab = front_face["label"], rear_face["label"]
    lw = [_face(p, "left")["label"] for _x, p in wheels]
    rw = [_face(p, "right")["label"] for _x, p in wheels]
    roof_l = roof_face["label"]
    kp_faces = [
        [lw[0]],
        [lw[-1]],
        [rw[0]],
        [rw[-1]],
        [flab],
        [flab],
        [flab],
        [flab],
        [flab],
        [flab],
        [lw[0], flab],
        [rw[0], flab],
        [roof_l],
        [roof_l],
        [roof_l],
        [roof_l],
        [rlab],
        [rlab],
        [rlab],
        [rlab],
    ]
    kp_sl = g.add(kp)
    lights = [(kp_sl[0] + 6, "head", flab), (kp_sl[0] + 7, "head", flab)]
    lights += [(kp_sl[0] + 16, "tail", rlab), (kp_sl[0] + 17, "tail", rlab)]
    g.finish()
    body_idx = np.concatenate([np.arange(*f["sl"]) for p in g.parts for f in p["faces"]])
    return dict(
        verts=g.verts,
        parts=g.parts,
        kp_sl=kp_sl,
        kp_faces=kp_faces,
        lights=lights,
        body_idx=body_idx,
        length=L,
        height=H,
        width=W,
    )


# --------------------------------------------------------------------------------------------
# Camera


def _camera(yaw_deg: float, dist: float, height: float, target_z: float) -> dict[str, np.ndarray]:
    psi = math.radians(yaw_deg)
    C = np.array([dist * math.cos(psi), dist * math.sin(psi), height])
    T = np.array([0.0, 0.0, target_z])
    f = T - C
    f /= np.linalg.norm(f)
    rgt = np.cross(f, np.array([0.0, 0.0, 1.0]))
    rgt /= np.linalg.norm(rgt)
    up = np.cross(rgt, f)
    R = np.stack([rgt, up, f])  # rows: camera axes
    return {"C": C, "R": R}


def _to_cam(cam: dict[str, np.ndarray], P: np.ndarray) -> np.ndarray:
    return (P - cam["C"]) @ cam["R"].T


def _proj(Pc: np.ndarray) -> np.ndarray:
    z = np.maximum(Pc[:, 2], 1e-6)
    return np.stack([Pc[:, 0] / z, -Pc[:, 1] / z], axis=1)


def _clip_near(Pc: np.ndarray, near: float = 0.5) -> np.ndarray:
    """Sutherland-Hodgman clip of a camera-space polygon against z >= near."""
    out = []
    n = len(Pc)
    for i in range(n):
        A, B = Pc[i], Pc[(i + 1) % n]
        ina, inb = A[2] >= near, B[2] >= near
        if ina:
            out.append(A)
        if ina != inb:
            t = (near - A[2]) / (B[2] - A[2])
            out.append(A + t * (B - A))
    return np.array(out) if out else np.zeros((0, 3))


# --------------------------------------------------------------------------------------------
# Rendering


def _shade(normals: np.ndarray, light: np.ndarray, view: np.ndarray) -> tuple[np.ndarray, ...]:
    ndl = np.clip(normals @ light, 0.0, None)
    diffuse = 0.42 + 0.58 * ndl
    h = light[None, :] + view
    h /= np.linalg.norm(h, axis=1, keepdims=True)
    spec = np.clip(np.sum(normals * h, axis=1), 0.0, None) ** 24
    sky = np.clip(normals[:, 2], 0.0, 1.0)
    return diffuse, spec, sky


def render_image(
    world: dict[str, Any],
    row: dict[str, Any],
    vehicle: dict[str, Any],
    seed: int,
) -> tuple[bytes, np.ndarray]:
    """Render one crop; return (JPEG bytes, keypoints (20, 2) int64 with -1 for hidden).

    ``row`` needs vid, camid, pass, frame, yaw_deg (deg, camera azimuth in the vehicle frame),
    scale, occluded, truncated. Randomness comes only from
    ``SeedSequence([seed, vid, camid, pass, frame])``, so the result does not depend on the
    order in which images are rendered.
    """
    spec = world["spec"]
    cam_style = world["cameras"][row["camid"]]
    rng = np.random.default_rng(
        np.random.SeedSequence([seed, row["vid"], row["camid"], row["pass"], row["frame"]])
    )
    # pass-level draws keep the frames of one pass coherent (background, framing, lanes)
    prng = np.random.default_rng(
        np.random.SeedSequence([seed, row["vid"], row["camid"], row["pass"]])
    )
    j = int(row.get("frame_in_pass", 0))
    out_h, out_w = spec["image_size"]
    res = cam_style["res"]
    rh, rw = max(8, int(round(out_h * res))), max(8, int(round(out_w * res)))
    Hc, Wc = rh * _SS, rw * _SS

    L, Hv = vehicle["length"], vehicle["height"]
    dist = cam_style["dist"] + 0.5 * L + prng.uniform(-1.0, 1.0)
    dist /= max(row["scale"], 0.5)
    height = cam_style["height"] + prng.uniform(-0.2, 0.2) + 0.3 * max(0.0, Hv - 1.6)
    cam = _camera(row["yaw_deg"], dist, height, 0.45 * Hv)
    verts = vehicle["verts"]
    Pc = _to_cam(cam, verts)
    uv = _proj(Pc)

    # ---- crop window around the vehicle ---------------------------------------------------
    bb = uv[vehicle["body_idx"]]
    umin, vmin = bb.min(0)
    umax, vmax = bb.max(0)
    bw, bh = umax - umin, vmax - vmin
    m = prng.uniform(0.02, 0.09, size=4) + rng.normal(0.0, 0.006, size=4)
    u0, u1 = umin - m[0] * bw, umax + m[1] * bw
    v0, v1 = vmin - m[2] * bh, vmax + m[3] * bh
    aspect = out_h / out_w
    cur = (v1 - v0) / (u1 - u0)
    fill = prng.uniform(0.5, 1.0)
    if cur < aspect:
        extra = (aspect * (u1 - u0) - (v1 - v0)) * fill
        v0, v1 = v0 - extra / 2, v1 + extra / 2
    else:
        extra = ((v1 - v0) / aspect - (u1 - u0)) * fill
        u0, u1 = u0 - extra / 2, u1 + extra / 2
    su, sv = u1 - u0, v1 - v0
    du, dv = prng.normal(0.0, 0.025, size=2) + rng.normal(0.0, 0.008, size=2)
    if row["truncated"]:
        k = int(rng.integers(0, 4))
        amt = rng.uniform(0.15, 0.32)
        if k == 0:
            du += amt
        elif k == 1:
            du -= amt
        elif k == 2:
            dv += amt * 0.7
        else:
            dv -= amt * 0.7
    u0 += du * su
    v0 += dv * sv
    sx, sy = Wc / su, Hc / sv

    def to_px(p: np.ndarray) -> np.ndarray:
        return np.stack([(p[:, 0] - u0) * sx, (p[:, 1] - v0) * sy], axis=1)

    px = to_px(uv)

    # ---- background: road texture, kerb, lanes, shadow ---------------------------------------
    bank = _road_bank(int(spec["seed"]), cam_style, Hc, Wc)
    oy0, ox0 = prng.uniform(0, bank.shape[0] - Hc), prng.uniform(0, bank.shape[1] - Wc)
    ang = prng.uniform(0.0, 2.0 * np.pi)
    oy = int(np.clip(oy0 + j * 3.0 * math.sin(ang), 0, bank.shape[0] - Hc))
    ox = int(np.clip(ox0 + j * 3.0 * math.cos(ang), 0, bank.shape[1] - Wc))
    img = Image.fromarray(bank[oy : oy + Hc, ox : ox + Wc], "RGB")
    draw = ImageDraw.Draw(img, "RGBA")

    quads: list[np.ndarray] = []
    fills: list[tuple[int, ...]] = []

    def ground(poly: np.ndarray, fill: tuple[int, ...]) -> None:
        quads.append(poly)
        fills.append(fill)

    ky = cam_style["kerb_y"] + prng.uniform(-1.0, 1.0)
    far = 40.0
    ks = 1.0 if ky > 0 else -1.0
    kerb = np.asarray(cam_style["kerb"]) * prng.uniform(0.9, 1.1)
    ground(
        np.array([(-far, ky, 0), (far, ky, 0), (far, ky + ks * far, 0), (-far, ky + ks * far, 0)]),
        tuple(int(v) for v in np.clip(kerb, 0, 255)) + (255,),
    )
    ground(
        np.array(
            [(-far, ky, 0), (far, ky, 0), (far, ky + ks * 0.25, 0), (-far, ky + ks * 0.25, 0)]
        ),
        (200, 200, 195, 255),
    )
    lane_col = tuple(int(v) for v in cam_style["lane_color"]) + (230,)
    off = cam_style["lane_offset"] + prng.uniform(-0.3, 0.3)
    phase = (prng.uniform(0.0, 9.0) + 2.0 * j) % 9.0
    for k in range(-3, 4):
        yl = off + 1.75 + 3.5 * k
        if abs(yl) < 0.9 or (ks > 0 and yl > ky) or (ks < 0 and yl < ky):
            continue
        if cam_style["lane_dash"]:
            for x0 in np.arange(-27.0 + phase, 25.0, 9.0):
                ground(
                    np.array(
                        [
                            (x0, yl - 0.07, 0),
                            (x0 + 3, yl - 0.07, 0),
                            (x0 + 3, yl + 0.07, 0),
                            (x0, yl + 0.07, 0),
                        ]
                    ),
                    lane_col,
                )
        else:
            ground(
                np.array(
                    [
                        (-far, yl - 0.07, 0),
                        (far, yl - 0.07, 0),
                        (far, yl + 0.07, 0),
                        (-far, yl + 0.07, 0),
                    ]
                ),
                lane_col,
            )
    # light direction in the vehicle frame (fixed relative to the camera's view direction)
    yaw = math.radians(row["yaw_deg"])
    laz = yaw + math.radians(cam_style["light_az"])
    lel = math.radians(cam_style["light_el"])
    light = np.array([math.cos(lel) * math.cos(laz), math.cos(lel) * math.sin(laz), math.sin(lel)])
    shx, shy = -0.5 * light[0] / max(light[2], 0.3), -0.5 * light[1] / max(light[2], 0.3)
    W2 = vehicle["width"] / 2 + 0.15
    ground(
        np.array(
            [
                (L / 2 + 0.2 + shx, W2 + shy, 0),
                (-L / 2 - 0.2 + shx, W2 + shy, 0),
                (-L / 2 - 0.2 + shx, -W2 + shy, 0),
                (L / 2 + 0.2 + shx, -W2 + shy, 0),
            ]
        ),
        (0, 0, 0, 120),
    )
    ground(
        np.array(
            [
                (L / 2, W2 - 0.1, 0),
                (-L / 2, W2 - 0.1, 0),
                (-L / 2, -W2 + 0.1, 0),
                (L / 2, -W2 + 0.1, 0),
            ]
        ),
        (0, 0, 0, 90),
    )
    _draw_ground(draw, cam, np.array(quads), fills, to_px, Wc, Hc)

    # ---- the vehicle (painter's algorithm over convex parts) ---------------------------------
    night = cam_style["night"]
    C = cam["C"]
    parts = sorted(
        vehicle["parts"], key=lambda p: (p["layer"], -float(np.linalg.norm(C - p["centroid"])))
    )
    visible_labels: set[str] = set()
    for part in parts:
        faces = part["faces"]
        normals = np.array([f["normal"] for f in faces])
        cents = np.array([f["centroid"] for f in faces])
        to_cam = C[None, :] - cents
        vis = np.sum(normals * to_cam, axis=1) > 1e-9
        if not vis.any():
            continue
        view = to_cam / np.linalg.norm(to_cam, axis=1, keepdims=True)
        diffuse, spec, sky = _shade(normals, light, view)
        for i in np.flatnonzero(vis):
            f = faces[i]
            visible_labels.add(f["label"])
            dif, sp, sk = float(diffuse[i]), float(spec[i]), float(sky[i])
            base = f["color"]
            if f["kind"] == "glass":
                col = base * dif + 30.0 * sk + 70.0 * sp
            else:
                col = base * dif + 110.0 * sp
            s, e = f["sl"]
            draw.polygon(px[s:e].ravel().tolist(), fill=_rgb(col))
            kinds = f["ov_kind"]
            if not len(kinds):
                continue
            mult = np.where(_K_MATTE[kinds], 0.55 + 0.45 * dif, dif)
            add = _K_SPEC[kinds] * sp + _K_SKY[kinds] * sk
            if night:
                emis = (kinds == 3) | (kinds == 4)
                mult = np.where(emis, 1.25, mult)
                add = np.where(emis, 40.0, add)
            cols = np.clip(f["ov_col"] * mult[:, None] + add[:, None], 0, 255).astype(np.int64)
            cols = [tuple(c) for c in cols.tolist()]
            detail = False
            if f["plate_sl"] is not None:
                ps, pe = f["plate_sl"]
                pw = float(np.ptp(px[ps:pe, 0])) / _SS * out_w / rw
                detail = pw >= _PLATE_DETAIL_PX
            skip = 5 if detail else 6
            for (s, e), k, c in zip(f["ov_sl"], kinds.tolist(), cols, strict=True):
                if k != skip:
                    draw.polygon(px[s:e].ravel().tolist(), fill=c)

    # ---- occluder ------------------------------------------------------------------------
    occ_box = None
    if row["occluded"]:
        occ_box = _occluder(draw, rng, Wc, Hc)

    # ---- keypoints -----------------------------------------------------------------------
    ks0, _ks1 = vehicle["kp_sl"]
    kp_px = px[ks0 : ks0 + 20] / _SS * (out_w / rw, out_h / rh)
    kp = np.full((20, 2), -1, dtype=np.int64)
    for i in range(20):
        if not any(lbl in visible_labels for lbl in vehicle["kp_faces"][i]):
            continue
        x, y = kp_px[i]
        if not (0 <= x < out_w and 0 <= y < out_h):
            continue
        if occ_box is not None:
            ox0, oy0, ox1, oy1 = (
                occ_box[0] / Wc * out_w,
                occ_box[1] / Hc * out_h,
                occ_box[2] / Wc * out_w,
                occ_box[3] / Hc * out_h,
            )
            if ox0 <= x <= ox1 and oy0 <= y <= oy1:
                continue
        kp[i] = (int(round(x)), int(round(y)))
    kp[:, 0] = np.minimum(kp[:, 0], out_w - 1)
    kp[:, 1] = np.minimum(kp[:, 1], out_h - 1)

    # ---- camera domain style -------------------------------------------------------------
    small = img.reduce(_SS)
    if (rh, rw) != (out_h, out_w):
        small = small.resize((out_w, out_h), Image.BILINEAR)
    blur = cam_style["blur"] + prng.uniform(0.0, 0.2) + rng.uniform(0.0, 0.05)
    if blur > 0.15:
        small = small.filter(ImageFilter.GaussianBlur(blur))
    sat = cam_style["saturation"]
    if abs(sat - 1.0) > 1e-3:
        small = ImageEnhance.Color(small).enhance(sat)
    gain = cam_style["exposure"] * prng.uniform(0.93, 1.07) * rng.uniform(0.985, 1.015)
    lut = _style_lut(cam_style, gain)
    u8 = np.asarray(small)
    x = np.stack([lut[c][u8[:, :, c]] for c in range(3)], axis=2)
    if night:
        yy, xx = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
        for vi, kind, lbl in vehicle["lights"]:
            if lbl not in visible_labels:
                continue
            lx, ly = px[vi] / _SS * (out_w / rw, out_h / rh)
            if kind == "head":
                sig, amp, col = 0.05 * out_w, 230.0, np.array([1.0, 0.95, 0.8], np.float32)
            else:
                sig, amp, col = 0.035 * out_w, 115.0, np.array([1.0, 0.15, 0.1], np.float32)
            g = np.exp(-((xx - lx) ** 2 + (yy - ly) ** 2) / (2.0 * sig * sig)) * amp
            x = x + g[:, :, None] * col
    nb = _noise_bank()
    ny, nx = (
        int(rng.integers(0, nb.shape[0] - out_h + 1)),
        int(rng.integers(0, nb.shape[1] - out_w + 1)),
    )
    my, mx = (
        int(rng.integers(0, nb.shape[0] - out_h + 1)),
        int(rng.integers(0, nb.shape[1] - out_w + 1)),
    )
    sigma = np.float32(cam_style["noise"])
    x = x + nb[ny : ny + out_h, nx : nx + out_w] * sigma
    x = x + nb[my : my + out_h, mx : mx + out_w, :1] * (sigma * np.float32(0.6))
    arr = np.clip(x + np.float32(0.5), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="JPEG", quality=int(cam_style["jpeg_quality"]))
    return buf.getvalue(), kp


_NOISE: list[np.ndarray] = []
_ROAD: dict[tuple, np.ndarray] = {}


def _noise_bank() -> np.ndarray:
    """A fixed (512, 512, 3) float32 bank of standard-normal noise (same in every process)."""
    if not _NOISE:
        rng = np.random.default_rng(np.random.SeedSequence([20240607, 1]))
        _NOISE.append(rng.standard_normal((512, 512, 3), dtype=np.float32))
    return _NOISE[0]


def _road_bank(seed: int, cam: dict[str, Any], Hc: int, Wc: int) -> np.ndarray:
    """The camera's road surface, (2 Hc, 2 Wc, 3) uint8, drawn once per (seed, camera, size)
    from ``SeedSequence([seed, 41, camid])``; every image shows a random window of it.
    The key holds everything the bank is drawn from (two worlds may share seed and camid)."""
    key = (seed, cam["camid"], Hc, Wc, float(cam["road_texture"]), tuple(map(float, cam["road"])))
    bank = _ROAD.get(key)
    if bank is not None:
        return bank
    rng = np.random.default_rng(np.random.SeedSequence([seed, 41, cam["camid"]]))
    Hb, Wb = 2 * Hc, 2 * Wc
    amp = cam["road_texture"]
    low = rng.standard_normal((max(2, Hb // 12), max(2, Wb // 12)))
    mid = rng.standard_normal((max(2, Hb // 4), max(2, Wb // 4)))

    def up(a: np.ndarray) -> np.ndarray:
        im = Image.fromarray(np.clip(a * 40.0 + 128.0, 0, 255).astype(np.uint8), "L")
        return (np.asarray(im.resize((Wb, Hb), Image.BILINEAR), dtype=np.float64) - 128.0) / 40.0

    tex = amp * (0.8 * up(low) + 0.6 * up(mid) + 0.35 * rng.standard_normal((Hb, Wb)))
    base = np.asarray(cam["road"], dtype=np.float64)
    arr = np.clip(base[None, None, :] + tex[:, :, None], 0, 255).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    d = ImageDraw.Draw(im, "RGBA")
    for _ in range(int(rng.integers(2, 8))):  # stains and patches
        cx, cy = rng.uniform(0, Wb), rng.uniform(0, Hb)
        rx, ry = rng.uniform(0.05, 0.3) * Wb, rng.uniform(0.03, 0.15) * Hb
        v = int(rng.uniform(0, 255))
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=(v, v, v, int(rng.uniform(15, 50))))
    bank = np.asarray(im)
    if len(_ROAD) > 256:
        _ROAD.clear()
    _ROAD[key] = bank
    return bank


def _style_lut(cam: dict[str, Any], gain: float) -> np.ndarray:
    """(3, 256) float32 lookup table (0..255 scale): gamma, exposure x colour cast, contrast,
    night dimming."""
    v = np.arange(256, dtype=np.float64) / 255.0
    v = v ** cam["gamma"]
    night = np.array([0.58, 0.5, 0.4]) if cam["night"] else np.ones(3)
    out = []
    for c in range(3):
        x = v * gain * cam["cast"][c]
        x = (x - 0.45) * cam["contrast"] + 0.45
        x = x * night[c] + (0.02 if cam["night"] else 0.0)
        out.append(x * 255.0)
    return np.stack(out).astype(np.float32)


def _draw_ground(draw, cam, quads: np.ndarray, fills, to_px, Wc: int, Hc: int) -> None:
    """Project (Q, 4, 3) ground quads (clipping at the near plane) and fill them in order."""
    near = 0.5
    Pc = (quads - cam["C"]) @ cam["R"].T
    z = Pc[..., 2]
    inside = (z >= near).all(axis=1)
    flat = to_px(_proj(Pc.reshape(-1, 3))).reshape(-1, 4, 2)
    for i, fill in enumerate(fills):
        if inside[i]:
            q = flat[i]
        elif (z[i] < near).all():
            continue
        else:
            pc = _clip_near(Pc[i], near)
            if len(pc) < 3:
                continue
            q = to_px(_proj(pc))
        lo, hi = q.min(0), q.max(0)
        if hi[0] < 0 or hi[1] < 0 or lo[0] > Wc or lo[1] > Hc:
            continue
        draw.polygon(q.ravel().tolist(), fill=fill)


def _rgb(col: np.ndarray) -> tuple[int, int, int]:
    r, g, b = col.tolist()
    return (
        int(min(max(r, 0.0), 255.0)),
        int(min(max(g, 0.0), 255.0)),
        int(min(max(b, 0.0), 255.0)),
    )


def _occluder(draw: ImageDraw.ImageDraw, rng: np.random.Generator, Wc: int, Hc: int):
    """Draw a pole, a part of another car or a sign/tree over the crop; return its box."""
    kind = int(rng.integers(0, 3))
    if kind == 0:  # pole
        w = rng.uniform(0.06, 0.14) * Wc
        x0 = rng.uniform(0.05, 0.95) * Wc - w / 2
        g = int(rng.uniform(60, 170))
        draw.rectangle([x0, 0, x0 + w, Hc], fill=(g, g, int(g * 0.95)))
        draw.rectangle([x0, 0, x0 + w * 0.3, Hc], fill=(min(255, g + 40),) * 3)
        return (x0, 0.0, x0 + w, float(Hc))
    if kind == 1:  # another car entering from a side / the bottom
        col = np.array(PAINT[int(rng.integers(0, len(PAINT)))], float)
        w = rng.uniform(0.25, 0.45) * Wc
        h = rng.uniform(0.35, 0.7) * Hc
        left = rng.random() < 0.5
        x0 = 0.0 if left else Wc - w
        y0 = Hc - h
        draw.rectangle([x0, y0, x0 + w, Hc], fill=_rgb(col * 0.9))
        draw.rectangle([x0, y0, x0 + w, y0 + 0.3 * h], fill=_rgb(_GLASS))
        draw.rectangle([x0, y0 + 0.75 * h, x0 + w, y0 + 0.8 * h], fill=_rgb(col * 0.5))
        return (x0, y0, x0 + w, float(Hc))
    # foliage / sign at a top corner
    w = rng.uniform(0.3, 0.5) * Wc
    h = rng.uniform(0.3, 0.5) * Hc
    left = rng.random() < 0.5
    x0 = -0.2 * w if left else Wc - 0.8 * w
    y0 = -0.2 * h
    if rng.random() < 0.5:
        col = (int(rng.uniform(30, 70)), int(rng.uniform(80, 130)), int(rng.uniform(30, 60)))
        draw.ellipse([x0, y0, x0 + w, y0 + h], fill=col)
    else:
        col = (int(rng.uniform(20, 60)), int(rng.uniform(60, 120)), int(rng.uniform(140, 200)))
        draw.rectangle([x0, y0, x0 + w, y0 + h], fill=col)
    return (max(0.0, x0), max(0.0, y0), min(float(Wc), x0 + w), min(float(Hc), y0 + h))
