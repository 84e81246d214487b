"""Procedural CPU renderer for the synthetic vehicle crops (numpy + Pillow only).

One image is a short sequence of named steps:

1. :func:`.camera.pose_camera` - a perspective camera looks at the car
   (:class:`.vehicle.Vehicle`, built by :func:`.vehicle.build_vehicle`) from azimuth
   ``yaw_deg`` (0 = in front, 90 = on the car's left), at the camera's height and distance;
2. :func:`.camera.frame_crop` - the crop window around the projected vehicle;
3. :mod:`.scene` - the camera's road surface, verge, kerb, lane lines and the car's shadow;
4. :func:`.painter.paint_vehicle` - parts painted in layer order and far-to-near inside a
   layer, with back-face culling and Lambert + specular shading per face; then an optional
   occluder (:func:`.scene.occluder`) and the keypoints (:func:`.painter.keypoints_2d`);
5. :func:`.style.apply_style` - the per-camera domain style (exposure, colour cast, contrast,
   saturation, gamma, night glare, blur, resolution, noise, JPEG quality).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import ImageDraw

from .camera import Canvas, frame_crop, pose_camera, proj, to_cam
from .painter import keypoints_2d, paint_vehicle
from .scene import draw_ground, ground_quads, light_direction, occluder, road_background
from .style import apply_style
from .vehicle import Vehicle

__all__ = ["render_image"]


def _streams(seed: int, row: dict[str, Any]) -> tuple[np.random.Generator, np.random.Generator]:
    """(per-frame rng, per-pass rng); pass-level draws keep the frames of one pass coherent
    (background, framing, lanes)."""
    rng = np.random.default_rng(
        np.random.SeedSequence([seed, row["vid"], row["camid"], row["pass"], row["frame"]])
    )
    prng = np.random.default_rng(
        np.random.SeedSequence([seed, row["vid"], row["camid"], row["pass"]])
    )
    return rng, prng


def render_image(
    world: dict[str, Any],
    row: dict[str, Any],
    vehicle: Vehicle,
    seed: int,
) -> tuple[bytes, np.ndarray]:
    """Render one crop; return (JPEG bytes, keypoints (20, 2) int64 with -1 for hidden).

    ``row`` needs vid, camid, pass, frame, yaw_deg (deg, camera azimuth in the vehicle frame),
    scale, occluded, truncated. Randomness comes only from
    ``SeedSequence([seed, vid, camid, pass, frame])`` (and, for pass-level draws, without the
    frame), so the result does not depend on the order in which images are rendered.
    """
    spec = world["spec"]
    cam_style = world["cameras"][row["camid"]]
    rng, prng = _streams(seed, row)
    j = int(row.get("frame_in_pass", 0))
    canvas = Canvas.of(spec["image_size"], cam_style["res"])
    Wc, Hc = canvas.Wc, canvas.Hc

    cam = pose_camera(cam_style, row, vehicle.length, vehicle.height, prng)
    uv = proj(to_cam(cam, vehicle.verts))
    crop = frame_crop(uv[vehicle.body_idx], canvas, row["truncated"], rng, prng)
    px = crop.to_px(uv)

    img = road_background(int(spec["seed"]), cam_style, canvas, j, prng)
    draw = ImageDraw.Draw(img, "RGBA")
    light = light_direction(row["yaw_deg"], cam_style)
    quads, fills = ground_quads(cam_style, j, vehicle.length, vehicle.width, light, prng)
    draw_ground(draw, cam, quads, fills, crop.to_px, Wc, Hc)

    visible = paint_vehicle(draw, vehicle, cam["C"], px, light, cam_style["night"], canvas)
    occ_box = occluder(draw, rng, Wc, Hc) if row["occluded"] else None
    kp = keypoints_2d(vehicle, px, visible, occ_box, canvas)

    lamps = [(canvas.to_out(px[vi]), kind) for vi, kind, lbl in vehicle.lights if lbl in visible]
    return apply_style(img, cam_style, canvas, lamps, rng, prng), kp
