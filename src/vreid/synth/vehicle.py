"""One identity's vehicle: body geometry (:mod:`.body`) + identity cues (:mod:`.cues`) +
the 20 keypoints, packed into a :class:`Vehicle` for the renderer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import body, cues
from .mesh import face
from .palette import PAINT

__all__ = ["KEYPOINT_NAMES", "Vehicle", "build_vehicle"]

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


@dataclass
class Vehicle:
    """The geometry of one identity, in the vehicle frame (metres; x forward, y left, z up).

    Every polygon, the keypoints included, is a ``(start, stop)`` slice of ``verts``.
    """

    #: (N, 3) float64 vertices of every face, overlay and keypoint
    verts: np.ndarray
    #: parts (dicts ``name, layer, centroid, faces``); each face has ``label``, ``sl``,
    #: outward ``normal``, ``centroid``, ``color``, ``kind`` and its packed overlays
    #: (``ov_sl``, ``ov_col``, ``ov_kind``, ``plate_sl``), see :mod:`vreid.synth.mesh`
    parts: list[dict[str, Any]]
    #: slice of ``verts`` holding the 20 keypoints in :data:`KEYPOINT_NAMES` order
    kp_sl: tuple[int, int]
    #: per keypoint, the labels of the faces that show it (visible when one of them is)
    kp_faces: list[list[str]]
    #: lamps that glare at night: (vertex index, 'head' | 'tail', face label)
    lights: list[tuple[int, str, str]]
    #: indices of the face vertices (no overlays, no keypoints): the crop is framed on them
    body_idx: np.ndarray
    #: overall length, height and width (m)
    length: float
    height: float
    width: float


def _keypoints(sh: body.Shell) -> np.ndarray:
    """(20, 3) keypoint positions in Wang order."""
    model = sh.model
    L, W, r = model["L"], model["W"], model["r"]
    hw = W / 2
    xf, xr = L / 2, -L / 2
    fz0, fz1 = sh.front_z
    fh = fz1 - fz0
    rz0, rz1 = sh.rear_z
    rh = rz1 - rz0
    hl_h = body.headlight_height(sh)
    rx_front, rx_rear, rhw, rzt = sh.roof_box()
    xw_f, xw_r = sh.wheels[0][0], sh.wheels[-1][0]
    xm = xf - (0.3 if sh.tname == "truck" else model["cab"][0] * L) - 0.12
    return np.array(
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
            (xf, 0.0, _front_plate_z(sh)),
            (xm, hw + 0.08, sh.belt + 0.06),
            (xm, -hw - 0.08, sh.belt + 0.06),
            (rx_front, -rhw, rzt),
            (rx_front, rhw, rzt),
            (rx_rear, rhw, rzt),
            (rx_rear, -rhw, rzt),
            (xr, 0.38 * W, rz1 - 0.25 * rh),
            (xr, -0.38 * W, rz1 - 0.25 * rh),
            (xr, 0.0, rz1 - 0.15 * rh),
            (xr, 0.0, _rear_plate_z(sh)),
        ]
    )


def _keypoint_faces(sh: body.Shell) -> list[list[str]]:
    """Per keypoint, the faces that must face the camera for it to be visible."""
    flab, rlab = sh.front["label"], sh.rear["label"]
    lw = [face(p, "left")["label"] for _x, p in sh.wheels]
    rw = [face(p, "right")["label"] for _x, p in sh.wheels]
    roof_l = sh.roof["label"]
    wheels = [[lw[0]], [lw[-1]], [rw[0]], [rw[-1]]]
    mirrors = [[lw[0], flab], [rw[0], flab]]
    front = [[flab] for _ in range(6)]
    roof = [[roof_l] for _ in range(4)]
    rear = [[rlab] for _ in range(4)]
    return [*wheels, *front, *mirrors, *roof, *rear]


def _front_plate_z(sh: body.Shell) -> float:
    fz0, fz1 = sh.front_z
    return fz0 + 0.3 * (fz1 - fz0)


def _rear_plate_z(sh: body.Shell) -> float:
    rz0, rz1 = sh.rear_z
    return rz0 + 0.35 * (rz1 - rz0)


def build_vehicle(model: dict[str, Any], ident: dict[str, Any]) -> Vehicle:
    """Geometry of one identity: its model's body in its paint, its plates and cues, and the
    20 keypoints (see :class:`Vehicle`)."""
    paint = np.array(PAINT[ident["color"]], dtype=np.float64)
    sh = body.build_shell(model, paint)
    g = sh.g
    L, xf, xr = model["L"], model["L"] / 2, -model["L"] / 2
    body.side_windows(sh)
    body.front_details(sh)
    cues.plate(g, sh.front, xf, _front_plate_z(sh), 0.44, 0.14, ident["plate_front"])
    body.rear_details(sh)
    cues.plate(g, sh.rear, xr, _rear_plate_z(sh), 0.44, 0.14, ident["plate_rear"])
    body.wheels_and_doors(sh, ident["cues"].get("rims"))
    cues.add_cues(sh, ident["cues"])
    body.pickup_bed(sh)
    kp_sl = g.add(_keypoints(sh))
    flab, rlab = sh.front["label"], sh.rear["label"]
    lights = [(kp_sl[0] + 6, "head", flab), (kp_sl[0] + 7, "head", flab)]
    lights += [(kp_sl[0] + 16, "tail", rlab), (kp_sl[0] + 17, "tail", rlab)]
    g.finish()
    body_idx = np.concatenate([np.arange(*f["sl"]) for p in g.parts for f in p["faces"]])
    return Vehicle(
        verts=g.verts,
        parts=g.parts,
        kp_sl=kp_sl,
        kp_faces=_keypoint_faces(sh),
        lights=lights,
        body_idx=body_idx,
        length=L,
        height=model["H"],
        width=model["W"],
    )
