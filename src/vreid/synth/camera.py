"""The viewing side of one image: canvas sizes, the perspective camera posed around the
vehicle, projection with near-plane clipping, and the crop window framed on the vehicle."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SS", "Canvas", "Crop", "clip_near", "frame_crop", "pose_camera", "proj", "to_cam"]

SS = 2  # supersampling factor of the drawing canvas


@dataclass(frozen=True)
class Canvas:
    """Output size (``out_h``, ``out_w``), the camera's resolution (``rh``, ``rw``: output size
    times its ``res``) and the supersampled drawing canvas (``Hc``, ``Wc`` = SS x rh, rw)."""

    out_h: int
    out_w: int
    rh: int
    rw: int

    @classmethod
    def of(cls, image_size: tuple[int, int], res: float) -> Canvas:
        out_h, out_w = image_size
        rh, rw = max(8, int(round(out_h * res))), max(8, int(round(out_w * res)))
        return cls(out_h, out_w, rh, rw)

    @property
    def Hc(self) -> int:
        return self.rh * SS

    @property
    def Wc(self) -> int:
        return self.rw * SS

    def to_out(self, p: np.ndarray) -> np.ndarray:
        """Canvas pixel coordinates -> output pixel coordinates."""
        return p / SS * (self.out_w / self.rw, self.out_h / self.rh)


def look_at(yaw_deg: float, dist: float, height: float, target_z: float) -> dict[str, np.ndarray]:
    """Camera at azimuth ``yaw_deg`` (0 = in front of the car, 90 = on its left), ``dist`` m
    from the centre and ``height`` m up, looking at (0, 0, target_z). Returns centre ``C``
    and rotation ``R`` (rows: right, up, forward)."""
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


def pose_camera(
    cam_style: dict[str, Any], row: dict[str, Any], length: float, height: float, prng
) -> dict[str, np.ndarray]:
    """The camera of one frame: the camera's distance (+ half the car length, jittered per
    pass, divided by the frame's scale) and height (raised for tall vehicles)."""
    dist = cam_style["dist"] + 0.5 * length + prng.uniform(-1.0, 1.0)
    dist /= max(row["scale"], 0.5)
    h = cam_style["height"] + prng.uniform(-0.2, 0.2) + 0.3 * max(0.0, height - 1.6)
    return look_at(row["yaw_deg"], dist, h, 0.45 * height)


def to_cam(cam: dict[str, np.ndarray], P: np.ndarray) -> np.ndarray:
    """World points -> camera space (x right, y up, z forward)."""
    return (P - cam["C"]) @ cam["R"].T


def proj(Pc: np.ndarray) -> np.ndarray:
    """Pinhole projection of camera-space points to the image plane (v down)."""
    z = np.maximum(Pc[:, 2], 1e-6)
    return np.stack([Pc[:, 0] / z, -Pc[:, 1] / z], axis=1)


def clip_near(Pc: np.ndarray, near: float = 0.5) -> np.ndarray:
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


@dataclass(frozen=True)
class Crop:
    """Image-plane window -> canvas pixels: ``px = ((u - u0) * sx, (v - v0) * sy)``."""

    u0: float
    v0: float
    sx: float
    sy: float

    def to_px(self, p: np.ndarray) -> np.ndarray:
        return np.stack([(p[:, 0] - self.u0) * self.sx, (p[:, 1] - self.v0) * self.sy], axis=1)


def frame_crop(bb: np.ndarray, canvas: Canvas, truncated: bool, rng, prng) -> Crop:
    """Crop window around the projected body ``bb`` (K, 2): detector-like margins, padded
    towards the output aspect, jittered, and shifted off one border for truncated crops."""
    umin, vmin = bb.min(0)
    umax, vmax = bb.max(0)
    bw, bh = umax - umin, vmax - vmin
    m = prng.uniform(0.02, 0.09, size=4) + rng.normal(0.0, 0.006, size=4)
    u0, u1 = umin - m[0] * bw, umax + m[1] * bw
    v0, v1 = vmin - m[2] * bh, vmax + m[3] * bh
    aspect = canvas.out_h / canvas.out_w
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
    if truncated:
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
    return Crop(u0, v0, canvas.Wc / su, canvas.Hc / sv)
