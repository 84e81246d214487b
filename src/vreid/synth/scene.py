"""What surrounds the vehicle: the camera's road surface, the ground markings (verge, kerb,
lane lines) and the vehicle's shadow on the ground, the sun direction, and occluders."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .camera import Canvas, clip_near, proj
from .palette import GLASS, KERB_EDGE, PAINT

__all__ = ["draw_ground", "ground_quads", "light_direction", "occluder", "road_background", "rgb"]

_ROAD: dict[tuple, np.ndarray] = {}
_FAR = 40.0  # half length (m) of the ground strips


def rgb(col: np.ndarray) -> tuple[int, int, int]:
    """Float RGB -> a clipped int triple for Pillow."""
    r, g, b = col.tolist()
    return (
        int(min(max(r, 0.0), 255.0)),
        int(min(max(g, 0.0), 255.0)),
        int(min(max(b, 0.0), 255.0)),
    )


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


def road_background(seed: int, cam_style: dict[str, Any], canvas: Canvas, j: int, prng):
    """The canvas-sized window of the camera's road bank for frame ``j`` of a pass (the
    window drifts along a per-pass direction, like a car moving through the view)."""
    Hc, Wc = canvas.Hc, canvas.Wc
    bank = _road_bank(seed, cam_style, Hc, Wc)
    oy0, ox0 = prng.uniform(0, bank.shape[0] - Hc), prng.uniform(0, bank.shape[1] - Wc)
    ang = prng.uniform(0.0, 2.0 * np.pi)
    oy = int(np.clip(oy0 + j * 3.0 * math.sin(ang), 0, bank.shape[0] - Hc))
    ox = int(np.clip(ox0 + j * 3.0 * math.cos(ang), 0, bank.shape[1] - Wc))
    return Image.fromarray(bank[oy : oy + Hc, ox : ox + Wc], "RGB")


def light_direction(yaw_deg: float, cam_style: dict[str, Any]) -> np.ndarray:
    """Unit sun direction in the vehicle frame (fixed relative to the camera's view)."""
    yaw = math.radians(yaw_deg)
    laz = yaw + math.radians(cam_style["light_az"])
    lel = math.radians(cam_style["light_el"])
    return np.array([math.cos(lel) * math.cos(laz), math.cos(lel) * math.sin(laz), math.sin(lel)])


def _strip(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    """Ground quad [x0, x1] x [y0, y1] at z = 0 in the order (x0 y0, x1 y0, x1 y1, x0 y1)."""
    return np.array([(x0, y0, 0), (x1, y0, 0), (x1, y1, 0), (x0, y1, 0)])


def _kerb_and_lanes(cam_style: dict[str, Any], j: int, prng, ground) -> None:
    """The verge beyond the kerb, the kerb stones and the lane lines (dashes move with the
    frame), per the camera's style; jittered per pass."""
    ky = cam_style["kerb_y"] + prng.uniform(-1.0, 1.0)
    far = _FAR
    ks = 1.0 if ky > 0 else -1.0
    kerb = np.asarray(cam_style["kerb"]) * prng.uniform(0.9, 1.1)
    ground(
        _strip(-far, far, ky, ky + ks * far), tuple(int(v) for v in np.clip(kerb, 0, 255)) + (255,)
    )
    ground(_strip(-far, far, ky, ky + ks * 0.25), KERB_EDGE)
    lane_col = tuple(int(v) for v in cam_style["lane_color"]) + (230,)
    off = cam_style["lane_offset"] + prng.uniform(-0.3, 0.3)
    phase = (prng.uniform(0.0, 9.0) + 2.0 * j) % 9.0
    for k in range(-3, 4):
        yl = off + 1.75 + 3.5 * k
        if abs(yl) < 0.9 or (ks > 0 and yl > ky) or (ks < 0 and yl < ky):
            continue
        if cam_style["lane_dash"]:
            for x0 in np.arange(-27.0 + phase, 25.0, 9.0):
                ground(_strip(x0, x0 + 3, yl - 0.07, yl + 0.07), lane_col)
        else:
            ground(_strip(-far, far, yl - 0.07, yl + 0.07), lane_col)


def _shadow(length: float, width: float, light: np.ndarray, ground) -> None:
    """The vehicle's shadow: a soft one cast away from the sun and a dark contact patch."""
    L = length
    shx, shy = -0.5 * light[0] / max(light[2], 0.3), -0.5 * light[1] / max(light[2], 0.3)
    W2 = width / 2 + 0.15
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
    ground(_strip(L / 2, -L / 2, W2 - 0.1, -W2 + 0.1), (0, 0, 0, 90))


def ground_quads(
    cam_style: dict[str, Any], j: int, length: float, width: float, light: np.ndarray, prng
) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """(Q, 4, 3) ground quads and their RGBA fills, in drawing order."""
    quads: list[np.ndarray] = []
    fills: list[tuple[int, ...]] = []

    def ground(poly: np.ndarray, fill: tuple[int, ...]) -> None:
        quads.append(poly)
        fills.append(fill)

    _kerb_and_lanes(cam_style, j, prng, ground)
    _shadow(length, width, light, ground)
    return np.array(quads), fills


def draw_ground(draw, cam, quads: np.ndarray, fills, to_px, Wc: int, Hc: int) -> None:
    """Project (Q, 4, 3) ground quads (clipping at the near plane) and fill them in order."""
    near = 0.5
    Pc = (quads - cam["C"]) @ cam["R"].T
    z = Pc[..., 2]
    inside = (z >= near).all(axis=1)
    flat = to_px(proj(Pc.reshape(-1, 3))).reshape(-1, 4, 2)
    for i, fill in enumerate(fills):
        if inside[i]:
            q = flat[i]
        elif (z[i] < near).all():
            continue
        else:
            pc = clip_near(Pc[i], near)
            if len(pc) < 3:
                continue
            q = to_px(proj(pc))
        lo, hi = q.min(0), q.max(0)
        if hi[0] < 0 or hi[1] < 0 or lo[0] > Wc or lo[1] > Hc:
            continue
        draw.polygon(q.ravel().tolist(), fill=fill)


def occluder(draw: ImageDraw.ImageDraw, rng: np.random.Generator, Wc: int, Hc: int):
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
        draw.rectangle([x0, y0, x0 + w, Hc], fill=rgb(col * 0.9))
        draw.rectangle([x0, y0, x0 + w, y0 + 0.3 * h], fill=rgb(GLASS))
        draw.rectangle([x0, y0 + 0.75 * h, x0 + w, y0 + 0.8 * h], fill=rgb(col * 0.5))
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
