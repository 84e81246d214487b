"""Every colour table of the synthetic renderer and its world plan (RGB, 0..255).

Body paints are indexed like :data:`vreid.synth.presets.COLOR_NAMES` (colour id - 1); cue
colours are indexed by the cue parameters drawn in :mod:`vreid.synth.plan`; the material
colours (glass, tyres, lights, plates) are those of the vehicle geometry.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CUE_PALETTE",
    "DARK",
    "GLASS",
    "HEAD",
    "KERB",
    "KERB_EDGE",
    "LANE",
    "PAINT",
    "PLATE_BG",
    "PRIMER",
    "RIMS",
    "RIM_PLAIN",
    "ROAD",
    "TAIL",
    "TYRE",
]

#: Body paint per colour id - 1.
PAINT: tuple[tuple[int, int, int], ...] = (
    (222, 190, 35),  # yellow
    (228, 118, 28),  # orange
    (38, 118, 55),  # green
    (128, 131, 135),  # gray
    (172, 26, 28),  # red
    (34, 68, 160),  # blue
    (228, 228, 224),  # white
    (188, 160, 92),  # golden
    (108, 70, 42),  # brown
    (24, 24, 27),  # black
)

#: Vivid cue colours (stickers, decals, roof items, rear items).
CUE_PALETTE: tuple[tuple[int, int, int], ...] = (
    (225, 30, 30),
    (250, 215, 0),
    (20, 165, 60),
    (30, 90, 225),
    (248, 248, 248),
    (18, 18, 18),
    (255, 130, 0),
    (150, 40, 185),
    (0, 190, 205),
    (172, 174, 178),
    (70, 72, 76),
)

# ---- materials of the vehicle geometry ------------------------------------------------------
GLASS = np.array([38.0, 44.0, 54.0])
TYRE = np.array([26.0, 26.0, 28.0])
#: grilles, bumper strips, chassis, rim hubs
DARK = np.array([34.0, 34.0, 37.0])
HEAD = np.array([214.0, 216.0, 210.0])
#: chrome grilles, bumper strips and side trims of a model's own design (knob model_detail)
CHROME = np.array([196.0, 200.0, 206.0])
TAIL = np.array([178.0, 22.0, 28.0])
#: rims of the ``rims`` cue: gold, black, white, bright
RIMS = (
    np.array([205.0, 170.0, 70.0]),
    np.array([30.0, 30.0, 32.0]),
    np.array([235.0, 235.0, 235.0]),
    np.array([190.0, 196.0, 205.0]),
)
#: rims of a car without the ``rims`` cue
RIM_PLAIN = np.array([150.0, 152.0, 158.0])
#: (background, glyphs) of the plate kinds: blue, yellow, green-white
PLATE_BG = (
    (np.array([28.0, 62.0, 172.0]), np.array([236.0, 236.0, 236.0])),
    (np.array([232.0, 192.0, 30.0]), np.array([20.0, 20.0, 20.0])),
    (np.array([200.0, 232.0, 205.0]), np.array([20.0, 20.0, 20.0])),
)
#: a ``primer`` dent
PRIMER = np.array([150.0, 150.0, 142.0])

# ---- the street (per camera, drawn in plan._camera_style) -------------------------------------
#: mean asphalt before the camera's brightness and tint
ROAD = (92.0, 94.0, 97.0)
#: verge beside the road: grass, pavement, dirt
KERB = ((70.0, 110.0, 55.0), (150.0, 148.0, 140.0), (120.0, 98.0, 70.0))
#: kerb stone line between road and verge
KERB_EDGE = (200, 200, 195, 255)
#: lane markings: white, yellow
LANE = ((235, 235, 228), (232, 196, 40))
