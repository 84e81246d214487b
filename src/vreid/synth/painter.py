"""Drawing the vehicle: painter's algorithm over its convex parts (layer order, far-to-near
inside a layer) with back-face culling and Lambert + Blinn-Phong specular + sky shading per
face, overlays shaded by material (glass, matte plates, emissive lamps at night), and the
visibility of the 20 keypoints."""

from __future__ import annotations

import numpy as np

from .camera import SS, Canvas
from .scene import rgb
from .vehicle import Vehicle

__all__ = ["keypoints_2d", "paint_vehicle"]

# Per overlay kind (mesh.OVERLAY_KIND): specular and sky reflection weights, matte or not.
_K_SPEC = np.array([60.0, 70.0, 0.0, 0.0, 60.0, 0.0, 0.0])
_K_SKY = np.array([0.0, 30.0, 0.0, 0.0, 0.0, 0.0, 0.0])
_K_MATTE = np.array([False, False, True, True, False, True, True])
_PLATE_DETAIL_PX = 22.0  # plates at least this wide (output pixels) get glyphs


def _shade(normals: np.ndarray, light: np.ndarray, view: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per face: diffuse (ambient + Lambert), specular (Blinn-Phong, exponent 24), sky term."""
    ndl = np.clip(normals @ light, 0.0, None)
    diffuse = 0.42 + 0.58 * ndl
    h = light[None, :] + view
    h /= np.linalg.norm(h, axis=1, keepdims=True)
    spec = np.clip(np.sum(normals * h, axis=1), 0.0, None) ** 24
    sky = np.clip(normals[:, 2], 0.0, 1.0)
    return diffuse, spec, sky


def _overlays(draw, f: dict, px: np.ndarray, shade, night: bool, canvas: Canvas) -> None:
    """Draw a face's overlays shaded by kind; a plate shows its glyphs when it is at least
    ``_PLATE_DETAIL_PX`` wide in the output, else its text band."""
    dif, sp, sk = shade
    kinds = f["ov_kind"]
    if not len(kinds):
        return
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
        pw = float(np.ptp(px[ps:pe, 0])) / SS * canvas.out_w / canvas.rw
        detail = pw >= _PLATE_DETAIL_PX
    skip = 5 if detail else 6
    for (s, e), k, c in zip(f["ov_sl"], kinds.tolist(), cols, strict=True):
        if k != skip:
            draw.polygon(px[s:e].ravel().tolist(), fill=c)


def paint_vehicle(
    draw, vehicle: Vehicle, C: np.ndarray, px: np.ndarray, light, night: bool, canvas: Canvas
) -> set[str]:
    """Draw the vehicle seen from camera centre ``C``; ``px`` are the canvas pixels of
    ``vehicle.verts``. Returns the labels of the faces that face the camera."""
    parts = sorted(
        vehicle.parts, key=lambda p: (p["layer"], -float(np.linalg.norm(C - p["centroid"])))
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
            draw.polygon(px[s:e].ravel().tolist(), fill=rgb(col))
            _overlays(draw, f, px, (dif, sp, sk), night, canvas)
    return visible_labels


def keypoints_2d(
    vehicle: Vehicle, px: np.ndarray, visible: set[str], occ_box, canvas: Canvas
) -> np.ndarray:
    """(20, 2) int64 output-pixel keypoints; -1 where the keypoint's faces all look away,
    it falls outside the crop or under the occluder box (canvas pixels)."""
    out_h, out_w = canvas.out_h, canvas.out_w
    Wc, Hc = canvas.Wc, canvas.Hc
    ks0, _ks1 = vehicle.kp_sl
    kp_px = canvas.to_out(px[ks0 : ks0 + 20])
    kp = np.full((20, 2), -1, dtype=np.int64)
    for i in range(20):
        if not any(lbl in visible for lbl in vehicle.kp_faces[i]):
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
    return kp
