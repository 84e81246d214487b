"""Body geometry of a vehicle model: the shell of convex parts per body type, then the fixed
details every car of the model carries (side windows, grille and lights, tyres, wheels, door
line and mirrors, pickup bed).

A car is a lower body prism (front, bonnet bevel, top, boot bevel, rear) under a cabin
(greenhouse) prism with a windshield and rear window; a bus has the same two parts with a
vertical front and a painted rear; a truck is a cab (lower body + cab) in front of a cargo box
on a chassis. Proportions come from the model (:func:`vreid.synth.plan._make_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .mesh import Mesh, bilinear, box, disc_y, face, overlay, prism, rect_x, rect_y, side_quad
from .palette import CHROME, DARK, GLASS, HEAD, RIM_PLAIN, RIMS, TAIL, TYRE
from .presets import TYPE_NAMES

__all__ = [
    "Shell",
    "build_shell",
    "front_details",
    "pickup_bed",
    "rear_details",
    "side_windows",
    "wheels_and_doors",
]

#: headlight height as a share of the front face, per model["headlight"] style
_HEADLIGHT_H = (0.3, 0.22, 0.38)
#: grille half width as a share of the car's width, per model["grille"] style
_GRILLE_W = (0.2, 0.25, 0.3)


@dataclass
class Shell:
    """The body parts of one vehicle and the landmarks later steps attach things to.

    Parts are dicts of :mod:`vreid.synth.mesh`; x/z values are metres in the vehicle frame.
    """

    g: Mesh  #: the vertex store every later step adds to
    model: dict[str, Any]  #: the model's proportions (plan._make_model)
    tname: str  #: body type name (presets.TYPE_NAMES)
    paint: np.ndarray  #: body paint, RGB float
    body: dict[str, Any]  #: lower body (a truck's: lower half of the cab)
    cabin: dict[str, Any]  #: greenhouse with windshield and roof (a truck's: the cab)
    cargo: dict[str, Any] | None  #: a truck's cargo box, else None
    front: dict[str, Any]  #: front face (grille, lights, plate)
    rear: dict[str, Any]  #: rear face (tail lights, plate)
    front_z: tuple[float, float]  #: bottom and top of the front face's lamp area
    rear_z: tuple[float, float]  #: bottom and top of the rear face's lamp area
    wheels: list[tuple[float, dict[str, Any]]]  #: (axle x, the part whose sides show it)
    side_x: tuple[float, float]  #: x range of the lower body's painted sides (dents)
    belt: float  #: top of the lower body's sides (a truck's: cab belt line)
    decal_area: tuple[dict[str, Any], float, float, float, float]  #: part, x0, x1, z0, z1
    cab_len: float = 0.0  #: a truck's cab length

    @property
    def big(self) -> bool:
        return self.tname in ("bus", "truck")

    @property
    def roof(self) -> dict[str, Any]:
        """The face that carries roof items."""
        return face(self.cabin, "roof")

    def roof_box(self) -> tuple[float, float, float, float]:
        """Front x, rear x, half width and height of the roof face."""
        rp = self.roof["pts"]  # (left-front, left-rear, right-rear, right-front)
        rx_front, rx_rear = float(rp[:, 0].max()), float(rp[:, 0].min())
        return rx_front, rx_rear, float(np.abs(rp[:, 1]).max()), float(rp[:, 2].max())


def _truck_shell(g: Mesh, model: dict[str, Any], paint: np.ndarray) -> Shell:
    """Cab (lower body + sloped cab), cargo box and chassis of a truck."""
    L, H, hw, clr = model["L"], model["H"], model["W"] / 2, model["clr"]
    xf, xr = L / 2, -L / 2
    cab_len = max(1.6, 0.24 * L)
    cab_belt = 1.35
    body = prism(
        g,
        "body",
        [(xf, clr), (xf, cab_belt), (xf - cab_len, cab_belt), (xf - cab_len, clr)],
        ["front", "top", "rear", "bottom"],
        lambda z: hw * 0.97,
        0,
        {},
        paint,
    )
    cab = prism(
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
    cargo = prism(
        g,
        "cargo",
        [(xf - cab_len - 0.12, 0.95), (xf - cab_len - 0.12, H), (xr, H), (xr, 0.95)],
        ["front", "top", "rear", "bottom"],
        lambda z: hw,
        1,
        {},
        cargo_col,
    )
    box(g, "chassis", xr + 0.3, xf - cab_len, -hw + 0.25, hw - 0.25, clr, 0.95, 0, DARK)
    return Shell(
        g=g,
        model=model,
        tname="truck",
        paint=paint,
        body=body,
        cabin=cab,
        cargo=cargo,
        front=face(body, "front"),
        rear=face(cargo, "rear"),
        front_z=(clr, cab_belt),
        rear_z=(0.95, 0.95 + 0.5),
        wheels=[(xf - cab_len * 0.5, body), (xr + 1.0, cargo), (xr + 2.1, cargo)],
        side_x=(xf - cab_len, xf),
        belt=cab_belt,
        decal_area=(cargo, xr, xf - cab_len - 0.12, 0.95, H),
        cab_len=cab_len,
    )


def _car_shell(g: Mesh, model: dict[str, Any], tname: str, paint: np.ndarray) -> Shell:
    """Lower body and cabin of a car, van, pickup or bus."""
    L, H, hw = model["L"], model["H"], model["W"] / 2
    clr, belt = model["clr"], model["belt"]
    xf, xr = L / 2, -L / 2
    a, b, c, d = model["cab"]
    big = tname == "bus"
    nose = model["nose"] if not big else 0.05
    tail = model["tail"] if tname in ("sedan", "hatchback", "estate") else 0.05
    bh_f = 0.35 * (belt - clr) if not big else 0.05
    bh_r = 0.25 * (belt - clr) if not big else 0.05
    body = prism(
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
    cabin = prism(
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
        face(cabin, "rear_window")["kind"] = "paint"
        face(cabin, "rear_window")["color"] = paint
        wheels = [(0.3 * L, body), (-0.28 * L, body)]
    else:
        wb = 0.62 * L
        wheels = [(wb / 2 + 0.02 * L, body), (-wb / 2, body)]
    return Shell(
        g=g,
        model=model,
        tname=tname,
        paint=paint,
        body=body,
        cabin=cabin,
        cargo=None,
        front=face(body, "front"),
        rear=face(body, "rear"),
        front_z=(clr, belt - bh_f),
        rear_z=(clr, belt - bh_r),
        wheels=wheels,
        side_x=(xr, xf),
        belt=belt,
        decal_area=(body, xr, xf, clr, belt),
    )


def build_shell(model: dict[str, Any], paint: np.ndarray) -> Shell:
    """The body parts of a model in ``paint`` (a fresh :class:`Mesh`)."""
    tname = TYPE_NAMES[model["type"]]
    if tname == "truck":
        return _truck_shell(Mesh(), model, paint)
    return _car_shell(Mesh(), model, tname, paint)


def side_windows(sh: Shell) -> None:
    """Glass on the cabin sides: a row of bus windows, a truck door window, a van's front
    windows only (panel vans), else 2 windows (sedan, hatchback, pickup) or the model's
    ``n_windows``."""
    g, tname = sh.g, sh.tname
    for side in ("left", "right"):
        sf = face(sh.cabin, side)
        q = side_quad(sf)
        if tname == "bus":
            n = 7
            for k in range(n):
                s0, s1 = 0.02 + k * 0.96 / n, 0.02 + (k + 1) * 0.96 / n - 0.025
                overlay(g, sf, bilinear(q, s0, s1, 0.22, 0.85), GLASS, "glass")
        elif tname == "truck":
            overlay(g, sf, bilinear(q, 0.12, 0.55, 0.12, 0.82), GLASS, "glass")
        elif tname == "van" and not sh.model["side_windows"]:
            overlay(g, sf, bilinear(q, 0.04, 0.24, 0.14, 0.86), GLASS, "glass")
        else:
            n = 2 if tname in ("sedan", "hatchback", "pickup") else sh.model["n_windows"]
            for k in range(n):
                s0 = 0.05 + k * 0.9 / n + (0.015 if k else 0.0)
                s1 = 0.05 + (k + 1) * 0.9 / n - (0.015 if k < n - 1 else 0.0)
                overlay(g, sf, bilinear(q, s0, s1, 0.1, 0.86), GLASS, "glass")


def _styled(sh: Shell, key: str, shared: float) -> float:
    """A shared-style value moved ``detail`` of the way to the model's own design (knob
    ``model_detail``; without a design, the shared value itself)."""
    design = sh.model.get("design")
    if design is None:
        return shared
    return shared + design["detail"] * (design[key] - shared)


def _trim_color(sh: Shell, key: str) -> np.ndarray:
    """The colour of the grille / bumper strips: dark, or with the model's design (when
    ``model_detail`` >= 0.5) dark, chrome or the body colour."""
    design = sh.model.get("design")
    if design is None or design["detail"] < 0.5:
        return DARK
    return (DARK, CHROME, sh.paint * 0.8)[design[key]]


def headlight_height(sh: Shell) -> float:
    """Height of the headlights (m), by the model's headlight style (and design)."""
    fz0, fz1 = sh.front_z
    return _styled(sh, "head_h", _HEADLIGHT_H[sh.model["headlight"]]) * (fz1 - fz0)


def front_details(sh: Shell) -> None:
    """Front face: grille, bumper strip, headlights, fog lamps and the tyres below it."""
    g, ff, model = sh.g, sh.front, sh.model
    W = model["W"]
    hw = W / 2
    fz0, fz1 = sh.front_z
    fh = fz1 - fz0
    fx = model["L"] / 2
    gw = _styled(sh, "grille_w", _GRILLE_W[model["grille"]]) * W
    g_low = _styled(sh, "grille_low", 0.58)
    overlay(
        g,
        ff,
        rect_x(fx, -gw, gw, fz1 - g_low * fh, fz1 - 0.08 * fh),
        _trim_color(sh, "grille_color"),
    )
    bumper = _trim_color(sh, "bumper_color")
    overlay(g, ff, rect_x(fx, -0.36 * W, 0.36 * W, fz0 + 0.03 * fh, fz0 + 0.11 * fh), bumper)
    hl_h = headlight_height(sh)
    hl_in, hl_top = _styled(sh, "head_inner", 0.25), _styled(sh, "head_top", 0.06)
    for sgn in (1.0, -1.0):
        y0, y1 = sorted((sgn * hl_in * W, sgn * 0.47 * W))
        top = fz1 - hl_top * fh
        overlay(g, ff, rect_x(fx, y0, y1, top - hl_h, top), HEAD, "head")
        y0, y1 = sorted((sgn * 0.33 * W, sgn * 0.43 * W))
        overlay(g, ff, rect_x(fx, y0, y1, fz0 + 0.12 * fh, fz0 + 0.22 * fh), HEAD * 0.8)
        y0, y1 = sorted((sgn * (hw - 0.38), sgn * (hw - 0.08)))
        overlay(g, ff, rect_x(fx, y0, y1, 0.0, fz0 + 0.04), TYRE)


def rear_details(sh: Shell) -> None:
    """Rear face: bumper strip, tail lights (a light bar with headlight style 2), tyres."""
    g, rf, model = sh.g, sh.rear, sh.model
    W = model["W"]
    hw = W / 2
    rz0, rz1 = sh.rear_z
    rh = rz1 - rz0
    rx = -model["L"] / 2
    bumper = _trim_color(sh, "bumper_color")
    overlay(g, rf, rect_x(rx, -0.4 * W, 0.4 * W, rz0 + 0.02 * rh, rz0 + 0.12 * rh), bumper)
    if model["headlight"] == 2:  # a light bar across the rear
        overlay(g, rf, rect_x(rx, -0.3 * W, 0.3 * W, rz1 - 0.3 * rh, rz1 - 0.2 * rh), TAIL * 0.8)
    t_in, t_top = _styled(sh, "tail_inner", 0.27), _styled(sh, "tail_top", 0.06)
    t_low = _styled(sh, "tail_low", 0.5)
    for sgn in (1.0, -1.0):
        y0, y1 = sorted((sgn * t_in * W, sgn * 0.48 * W))
        overlay(g, rf, rect_x(rx, y0, y1, rz1 - t_low * rh, rz1 - t_top * rh), TAIL, "tail")
        y0, y1 = sorted((sgn * (hw - 0.38), sgn * (hw - 0.08)))
        overlay(g, rf, rect_x(rx, y0, y1, 0.0, rz0 + 0.04), TYRE)


def wheels_and_doors(sh: Shell, rim: dict[str, Any] | None) -> None:
    """Wheels (tyre, rim - coloured by the ``rims`` cue - and hub when it has spokes) on both
    sides; on cars also a door line and a mirror; with the model's design (``model_detail``)
    its side trim and black roof."""
    g, model = sh.g, sh.model
    design = model.get("design")
    L, hw, r = model["L"], model["W"] / 2, model["r"]
    clr, belt = model["clr"], model["belt"]
    rim_col = RIMS[rim["color"]] if rim else RIM_PLAIN
    rim_size = rim["size"] if rim else 0.55
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        for xw, part in sh.wheels:
            sf = face(part, side)
            y = sgn * (hw + 0.005)
            overlay(g, sf, disc_y(y, xw, r, r), TYRE)
            overlay(g, sf, disc_y(y, xw, r, r * rim_size), rim_col)
            if rim and rim["spokes"]:
                overlay(g, sf, disc_y(y, xw, r, r * rim_size * 0.45, 8), DARK)
        # door line and mirror on cars
        if not sh.big:
            sf = face(sh.body, side)
            y = sgn * hw
            xm = L / 2 - model["cab"][0] * L
            paint = sh.paint
            overlay(g, sf, rect_y(y, xm - 0.95, xm - 0.92, clr + 0.1, belt - 0.05), paint * 0.55)
            overlay(g, sf, rect_y(y, xm - 0.25, xm - 0.02, belt - 0.02, belt + 0.14), paint * 0.8)
        if design is not None and design["trim_draw"] < design["detail"] / 2:
            # the model's side trim: a dark or chrome strip along the lower body
            x0, x1 = sh.side_x
            z = clr + design["trim_z"] * (sh.belt - clr)
            col = (DARK, CHROME)[design["trim_color"]]
            overlay(g, face(sh.body, side), rect_y(sgn * hw, x0, x1, z - 0.035, z + 0.035), col)
    if design is not None and design["roof_draw"] < design["detail"] / 4:
        overlay(g, sh.roof, sh.roof["pts"], DARK)  # the model's black roof


def pickup_bed(sh: Shell) -> None:
    """The open load bed of a pickup (a dark floor on the body top behind the cabin)."""
    if sh.tname != "pickup":
        return
    model = sh.model
    L, hw, belt = model["L"], model["W"] / 2, model["belt"]
    xf, xr = L / 2, -L / 2
    xbr = xf - model["cab"][3] * L
    overlay(
        sh.g,
        face(sh.body, "top"),
        np.array(
            [
                (xbr - 0.05, hw - 0.1, belt),
                (xr + 0.12, hw - 0.1, belt),
                (xr + 0.12, -hw + 0.1, belt),
                (xbr - 0.05, -hw + 0.1, belt),
            ]
        ),
        sh.paint * 0.35 + 10.0,
    )
