"""The camera's domain style, applied to the drawn canvas: down-sampling to the camera's
resolution and up to the output size, blur, saturation, a tone curve (gamma, exposure x colour
cast, contrast, night dimming), headlight/tail-light glare at night, sensor noise and the
camera's JPEG quality."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from .camera import SS, Canvas

__all__ = ["apply_style"]

_NOISE: list[np.ndarray] = []


def _noise_bank() -> np.ndarray:
    """A fixed (512, 512, 3) float32 bank of standard-normal noise (same in every process)."""
    if not _NOISE:
        rng = np.random.default_rng(np.random.SeedSequence([20240607, 1]))
        _NOISE.append(rng.standard_normal((512, 512, 3), dtype=np.float32))
    return _NOISE[0]


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


def _optics(img: Image.Image, cam_style: dict[str, Any], canvas: Canvas, rng, prng) -> Image.Image:
    """Resolution (supersampled canvas -> camera resolution -> output size), blur, saturation."""
    small = img.reduce(SS)
    if (canvas.rh, canvas.rw) != (canvas.out_h, canvas.out_w):
        small = small.resize((canvas.out_w, canvas.out_h), Image.BILINEAR)
    blur = cam_style["blur"] + prng.uniform(0.0, 0.2) + rng.uniform(0.0, 0.05)
    if blur > 0.15:
        small = small.filter(ImageFilter.GaussianBlur(blur))
    sat = cam_style["saturation"]
    if abs(sat - 1.0) > 1e-3:
        small = ImageEnhance.Color(small).enhance(sat)
    return small


def _glare(x: np.ndarray, lamps: list[tuple[np.ndarray, str]], canvas: Canvas) -> np.ndarray:
    """Add a Gaussian glow around each visible lamp (output pixel position, 'head'|'tail')."""
    out_h, out_w = canvas.out_h, canvas.out_w
    yy, xx = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    for (lx, ly), kind in lamps:
        if kind == "head":
            sig, amp, col = 0.05 * out_w, 230.0, np.array([1.0, 0.95, 0.8], np.float32)
        else:
            sig, amp, col = 0.035 * out_w, 115.0, np.array([1.0, 0.15, 0.1], np.float32)
        g = np.exp(-((xx - lx) ** 2 + (yy - ly) ** 2) / (2.0 * sig * sig)) * amp
        x = x + g[:, :, None] * col
    return x


def _sensor_noise(x: np.ndarray, sigma: float, canvas: Canvas, rng) -> np.ndarray:
    """Colour noise plus luminance noise (0.6 sigma), windows of the fixed noise bank."""
    out_h, out_w = canvas.out_h, canvas.out_w
    nb = _noise_bank()
    ny, nx = (
        int(rng.integers(0, nb.shape[0] - out_h + 1)),
        int(rng.integers(0, nb.shape[1] - out_w + 1)),
    )
    my, mx = (
        int(rng.integers(0, nb.shape[0] - out_h + 1)),
        int(rng.integers(0, nb.shape[1] - out_w + 1)),
    )
    sigma = np.float32(sigma)
    x = x + nb[ny : ny + out_h, nx : nx + out_w] * sigma
    return x + nb[my : my + out_h, mx : mx + out_w, :1] * (sigma * np.float32(0.6))


def apply_style(
    img: Image.Image,
    cam_style: dict[str, Any],
    canvas: Canvas,
    lamps: list[tuple[np.ndarray, str]],
    rng,
    prng,
) -> bytes:
    """The output JPEG of a drawn canvas; ``lamps`` glare only on night cameras."""
    small = _optics(img, cam_style, canvas, rng, prng)
    gain = cam_style["exposure"] * prng.uniform(0.93, 1.07) * rng.uniform(0.985, 1.015)
    lut = _style_lut(cam_style, gain)
    u8 = np.asarray(small)
    x = np.stack([lut[c][u8[:, :, c]] for c in range(3)], axis=2)
    if cam_style["night"]:
        x = _glare(x, lamps, canvas)
    x = _sensor_noise(x, cam_style["noise"], canvas, rng)
    arr = np.clip(x + np.float32(0.5), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="JPEG", quality=int(cam_style["jpeg_quality"]))
    return buf.getvalue()
