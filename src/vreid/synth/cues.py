"""Identity cues drawn on a vehicle's body: licence plates and the optional per-identity cues
of :data:`vreid.synth.plan.CUE_POOL` (windshield stickers, side decals, dents, roof items,
rear items). Cue parameters are drawn in :func:`vreid.synth.plan._draw_cue`; wheel rims are
drawn with the wheels (:func:`vreid.synth.body.wheels_and_doors`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .body import Shell
from .mesh import Mesh, bilinear, box, disc_x, face, overlay, rect_x, rect_y
from .palette import CUE_PALETTE, PLATE_BG, PRIMER, TYRE

__all__ = ["GLYPHS", "add_cues", "plate"]

#: A fixed 3x5 bitmap "font" of 36 glyphs.
GLYPHS = np.random.default_rng(20240607).random((36, 5, 3)) < 0.55


def plate(
    g: Mesh, face: dict[str, Any], x: float, zc: float, w: float, h: float, plate: dict
) -> None:
    """Licence plate on a front/rear face: background, a text band (drawn when the plate is
    small in the image) and 3x5-bit glyphs (drawn when it is large)."""
    bg, fg = PLATE_BG[plate["bg"]]
    overlay(g, face, rect_x(x, -w / 2, w / 2, zc - h / 2, zc + h / 2), bg, "plate")
    on = float(np.mean(GLYPHS[plate["glyphs"]]))
    band = bg * (1.0 - 0.6 * on) + fg * 0.6 * on
    overlay(g, face, rect_x(x, -0.42 * w, 0.42 * w, zc - 0.3 * h, zc + 0.3 * h), band, "band")
    gw = w * 0.9 / 7.0
    cw, ch = gw / 4.0, h * 0.8 / 5.0
    y_start = w * 0.45
    sgn = -1.0 if x > 0 else 1.0  # reading direction: to the viewer's right
    for k, gl in enumerate(plate["glyphs"]):
        bits = GLYPHS[gl]
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
                overlay(g, face, rect_x(x, min(ya, yb), max(ya, yb), za, za + ch), fg, "glyph")
                c = c1


def _cue_color(index: int) -> np.ndarray:
    return np.array(CUE_PALETTE[index], float)


def sticker(sh: Shell, st: dict[str, Any]) -> None:
    """1-3 small coloured stickers in a corner of the windshield (inspection/toll stickers)."""
    wf = face(sh.cabin, "windshield")
    q = wf["pts"]  # (base-left, top-left, top-right, base-right)
    quad = np.array([q[0], q[3], q[2], q[1]])  # s: left->right, t: base->top
    sz = min(st["size"], 0.45)
    s0 = 0.06 if st["corner"] in (0, 2) else 0.94 - sz
    t0 = 0.08 if st["corner"] in (0, 1) else 0.9 - sz * 1.2
    for k in range(st["n"]):
        col = _cue_color(st["colors"][k])
        ss = s0 + k * (sz * 0.55) * (1 if st["corner"] in (0, 2) else -1)
        overlay(sh.g, wf, bilinear(quad, ss, ss + sz * 0.5, t0, t0 + sz * 1.1), col, "sticker")


def decal(sh: Shell, side: str, sgn: float, dc: dict[str, Any]) -> None:
    """A livery on one side (trucks: on the cargo box): a stripe, a two-colour band, a
    two-tone lower half or a logo."""
    g = sh.g
    col, col2 = _cue_color(dc["color"]), _cue_color(dc["color2"])
    part, x0, x1, z0, z1 = sh.decal_area
    sf = face(part, side)
    y = sgn * (sh.model["W"] / 2 + 0.002)
    lx, lz = x1 - x0, z1 - z0
    sz = dc["size"]
    if dc["kind"] == "stripe":
        zc = z0 + lz * (0.35 + 0.4 * dc["pos"])
        th = min(0.9 * lz, lz * 0.35 * sz)
        overlay(g, sf, rect_y(y, x0 + 0.05 * lx, x1 - 0.05 * lx, zc - th / 2, zc + th / 2), col)
    elif dc["kind"] == "band":
        zc = z0 + lz * (0.3 + 0.4 * dc["pos"])
        th = min(0.8 * lz, lz * 0.5 * sz)
        overlay(g, sf, rect_y(y, x0 + 0.1 * lx, x1 - 0.1 * lx, zc - th / 2, zc + th / 2), col)
        overlay(g, sf, rect_y(y, x0 + 0.1 * lx, x1 - 0.1 * lx, zc - th / 5, zc + th / 5), col2)
    elif dc["kind"] == "two_tone":
        zt = z0 + lz * min(0.9, 0.45 * sz + 0.15)
        overlay(g, sf, rect_y(y, x0 + 0.02 * lx, x1 - 0.02 * lx, z0 + 0.02, zt), col)
    else:  # logo
        xc = x0 + lx * dc["pos"]
        wl = min(0.9 * lx, lx * 0.6 * sz)
        hl = min(0.85 * lz, lz * 1.6 * sz)
        zc = z0 + 0.5 * lz
        overlay(g, sf, rect_y(y, xc - wl / 2, xc + wl / 2, zc - hl / 2, zc + hl / 2), col)
        overlay(g, sf, rect_y(y, xc - wl / 4, xc + wl / 4, zc - hl / 4, zc + hl / 4), col2)


def dent(sh: Shell, dn: dict[str, Any]) -> None:
    """Damage on a side, the front, the rear or the roof: a dark dent, a primer patch or a
    scrape (a lighter patch)."""
    g, paint, model = sh.g, sh.paint, sh.model
    col = {
        "dark": paint * 0.45 + 8.0,
        "primer": PRIMER,
        "scrape": np.clip(paint * 0.5 + 110.0, 0, 255),
    }[dn["kind"]]
    fs = dn["size"]
    if dn["face"] in ("left", "right"):
        sgn = 1.0 if dn["face"] == "left" else -1.0
        sf = face(sh.body, dn["face"])
        x0, x1 = sh.side_x
        z0, z1 = model["clr"], sh.belt
        xc = x0 + (x1 - x0) * dn["s"]
        zc = z0 + (z1 - z0) * dn["t"]
        dx, dz = (x1 - x0) * 0.35 * fs, (z1 - z0) * 0.8 * fs
        y = sgn * (model["W"] / 2 + 0.003)
        overlay(g, sf, rect_y(y, xc - dx, xc + dx, zc - dz, zc + dz), col)
    elif dn["face"] in ("front", "rear"):
        W = model["W"]
        sf = sh.front if dn["face"] == "front" else sh.rear
        x = model["L"] / 2 if dn["face"] == "front" else -model["L"] / 2
        z0, z1 = sh.front_z if dn["face"] == "front" else sh.rear_z
        yc = (dn["s"] - 0.5) * W * 0.8
        zc = z0 + (z1 - z0) * dn["t"]
        dy, dz = W * 0.35 * fs, (z1 - z0) * 0.7 * fs
        overlay(g, sf, rect_x(x, yc - dy, yc + dy, zc - dz, zc + dz), col)
    else:  # on the roof
        rf2 = sh.roof
        quad = np.array([rf2["pts"][0], rf2["pts"][3], rf2["pts"][2], rf2["pts"][1]])
        s, t = dn["s"], dn["t"]
        quad = bilinear(quad, s - 0.3 * fs, s + 0.3 * fs, t - 0.4 * fs, t + 0.4 * fs)
        overlay(g, rf2, quad, col)


def roof_item(sh: Shell, ro: dict[str, Any]) -> None:
    """A roof rack (two rails and two cross bars), a roof box or a taxi/company roof sign."""
    g = sh.g
    rx_front, rx_rear, rhw, rzt = sh.roof_box()
    col = _cue_color(ro["color"])
    rl = rx_front - rx_rear
    xc = rx_rear + rl * ro["pos"]
    sz = ro["size"]
    if ro["kind"] == "rack":
        x0r = max(rx_rear + 0.05, xc - 0.42 * rl)
        x1r = min(rx_front - 0.05, xc + 0.42 * rl)
        for sgn in (1.0, -1.0):
            yc = sgn * (rhw - 0.12)
            box(g, "rack", x0r, x1r, yc - 0.04, yc + 0.04, rzt, rzt + 0.09, 2, col)
        for xb in (x0r + 0.1, x1r - 0.1):
            box(
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
        ln = min(0.9 * rl, (0.55 if not sh.big else 0.35) * rl * sz)
        x0, x1 = xc - ln / 2, xc + ln / 2
        box(g, "roofbox", x0, x1, -rhw * 0.6, rhw * 0.6, rzt, rzt + 0.32 * sz, 2, col)
    else:
        xl = rx_front - 0.25 * rl
        x0, x1 = xl - 0.17 * sz, xl + 0.17 * sz
        box(g, "rooflight", x0, x1, -0.4 * sz, 0.4 * sz, rzt, rzt + 0.22 * sz, 2, col)


def _spoiler(sh: Shell, col: np.ndarray, sz: float) -> None:
    """A boot-lid spoiler on sedans, a roof spoiler on the others."""
    if sh.tname == "sedan":
        model = sh.model
        hw, belt = model["W"] / 2, model["belt"]
        x0 = -model["L"] / 2 + model["tail"] - 0.02
        box(
            sh.g,
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
        _rx_front, rx_rear, rhw, rzt = sh.roof_box()
        box(
            sh.g,
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


def _ladder(sh: Shell, col: np.ndarray, pos: float) -> None:
    """A ladder on the rear (cargo door of a truck, rear window area of a van or bus)."""
    if sh.tname == "truck":
        fc = face(sh.cargo, "rear")
    else:
        fc = face(sh.cabin, "rear_window")
    pts = fc["pts"]
    zlo, zhi = float(pts[:, 2].min()), float(pts[:, 2].max())
    xx = float(pts[:, 0].min()) - 0.004
    yc = (0.25 + 0.5 * pos) * (sh.model["W"] / 2) * (1 if pos > 0.5 else -1)
    for dy in (-0.2, 0.2):
        overlay(sh.g, fc, rect_x(xx, yc + dy - 0.035, yc + dy + 0.035, zlo, zhi), col)
    nrung = 5
    for k in range(1, nrung):
        zz = zlo + (zhi - zlo) * k / nrung
        overlay(sh.g, fc, rect_x(xx, yc - 0.2, yc + 0.2, zz - 0.03, zz + 0.03), col)


def rear_item(sh: Shell, ri: dict[str, Any]) -> None:
    """Something on the back: a spoiler, a spare wheel, a ladder or a sign."""
    g, W = sh.g, sh.model["W"]
    col = _cue_color(ri["color"])
    sz = ri["size"]
    rx = -sh.model["L"] / 2
    rz0, rz1 = sh.rear_z
    if ri["kind"] == "spoiler":
        _spoiler(sh, col, sz)
    elif ri["kind"] == "spare":
        rad = min(0.45 * (rz1 - rz0), 0.3 * sz)
        yc = (ri["pos"] - 0.5) * 0.4 * W
        zc = rz0 + 0.5 * (rz1 - rz0)
        overlay(g, sh.rear, disc_x(rx - 0.002, yc, zc, rad), TYRE)
        overlay(g, sh.rear, disc_x(rx - 0.003, yc, zc, rad * 0.72), col)
    elif ri["kind"] == "ladder":
        _ladder(sh, col, ri["pos"])
    else:  # sign
        yc = (0.2 + 0.15 * ri["pos"]) * W * (1 if ri["pos"] > 0.5 else -1)
        zc = rz0 + 0.55 * (rz1 - rz0)
        sw, sh_ = 0.28 * W * sz, 0.35 * (rz1 - rz0) * sz
        overlay(
            g,
            sh.rear,
            rect_x(rx - 0.003, yc - sw / 2, yc + sw / 2, zc - sh_ / 2, zc + sh_ / 2),
            col,
        )


def add_cues(sh: Shell, cues: dict[str, dict[str, Any]]) -> None:
    """Draw an identity's optional cues (wheel rims excepted) in a fixed order."""
    if "sticker" in cues:
        sticker(sh, cues["sticker"])
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        dc = cues.get(f"decal_{side}")
        if dc:
            decal(sh, side, sgn, dc)
    if "dent" in cues:
        dent(sh, cues["dent"])
    if "roof" in cues:
        roof_item(sh, cues["roof"])
    if "rear_item" in cues:
        rear_item(sh, cues["rear_item"])
