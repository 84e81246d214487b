"""Draw everything about the synthetic dataset except the pixels.

Models, identities (model, colour, per-identity cues, near-twins), cameras (domain style and
travel directions), tracks and frames with their yaw angles. All draws come from
``numpy.random.SeedSequence`` streams keyed by ``(seed, purpose, ids...)``, so the plan does not
depend on the order in which things are drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .palette import CUE_PALETTE, KERB, LANE, PAINT, ROAD
from .presets import (
    BLACK_SEDAN_SHARE,
    COLOR_NAMES,
    COLOR_SHARES,
    TYPE_NAMES,
    TYPE_SHARES,
    VIEW5_SHARES,
    VIEW8_TO_VIEW5,
    resolve_spec,
)

__all__ = [
    "CUE_DETAIL_SIZES",
    "CUE_POOL",
    "build_world",
    "cue_detail_classes",
    "image_name",
    "plan_rows",
    "sample_dataset_plan",
    "yaw_to_view8",
]

# Purpose tags of the seed streams.
_S_MODEL, _S_DESIGN, _S_CAMS, _S_CAM, _S_ID, _S_TRACK, _S_IDCAMS = 5, 6, 11, 12, 21, 31, 32

#: Optional per-identity cues (each attached to one face / part of the car).
CUE_POOL: tuple[str, ...] = (
    "sticker",
    "decal_left",
    "decal_right",
    "dent",
    "roof",
    "rims",
    "rear_item",
)


#: The values each cue's kind-like fields are drawn from (the renderer reads the same names).
STICKER_MAX = 3  # stickers per corner group: 1..STICKER_MAX
DECAL_KINDS: tuple[str, ...] = ("stripe", "logo", "two_tone", "band")
DENT_FACES: tuple[str, ...] = ("front", "rear", "left", "right")
DENT_KINDS: tuple[str, ...] = ("dark", "primer", "scrape")
ROOF_KINDS: tuple[str, ...] = ("rack", "box", "light")
REAR_ITEM_KINDS: tuple[str, ...] = ("spoiler", "sign", "spare", "ladder")
RIM_COLORS = 4  # gold, black, white, bright
RIM_SPOKES: tuple[int, ...] = (0, 4, 5, 6)
PLATE_BGS = 3  # blue, yellow, green-white


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


def image_name(vid: int, camid: int, frame: int) -> str:
    """VeRi file name ``{vid:04d}_c{cam:03d}_{frame:08d}_0.jpg`` (camid is 1-based)."""
    return f"{vid:04d}_c{camid:03d}_{frame:08d}_0.jpg"


def yaw_to_view8(yaw_deg: np.ndarray | float) -> np.ndarray:
    """Wang orientation 0..7 of a camera azimuth in the vehicle frame.

    ``yaw_deg``: degrees, 0 = camera straight ahead of the car (sees the front), 90 = camera on
    the car's left, 180 = behind, 270 = right. Sectors are 45 degrees wide, centred on those
    directions. Returns int64 codes (0 front, 1 rear, 2 left, 3 left-front, 4 left-rear,
    5 right, 6 right-front, 7 right-rear).
    """
    y = np.mod(np.asarray(yaw_deg, dtype=np.float64), 360.0)
    sector = np.floor(np.mod(y + 22.5, 360.0) / 45.0).astype(np.int64)  # 0 front, 1 left-front..
    lut = np.array([0, 3, 2, 4, 1, 7, 5, 6], dtype=np.int64)
    return lut[sector]


# Sector centre (deg) per view5 and side (+1 left, -1 right).
_VIEW5_CENTRE = {0: 0.0, 1: 45.0, 2: 90.0, 3: 135.0, 4: 180.0}


# --------------------------------------------------------------------------------------------
# Models


def _allocate_models(n_models: int) -> list[int]:
    """Body type (0-based) of each model: every type gets one model while possible, the rest
    by highest share per model already given (D'Hondt)."""
    shares = np.asarray(TYPE_SHARES)
    order = np.argsort(-shares, kind="stable")
    counts = np.zeros(len(shares), dtype=int)
    for t in order[: min(n_models, len(shares))]:
        counts[t] = 1
    while counts.sum() < n_models:
        score = np.where(counts > 0, shares / np.maximum(counts, 1), -1.0)
        counts[int(np.argmax(score))] += 1
    types: list[int] = []
    for t in range(len(shares)):
        types += [t] * int(counts[t])
    return types


# Base proportions per type (metres). cab_*: cabin x positions as fractions of the length
# from the front (base-front, top-front, top-rear, base-rear).
_TYPE_BASE: dict[str, dict[str, float]] = {
    "sedan": dict(L=4.7, W=1.80, H=1.45, clr=0.22, belt=0.88, r=0.32, cab=(0.33, 0.46, 0.72, 0.84)),
    "suv": dict(L=4.6, W=1.90, H=1.75, clr=0.32, belt=1.08, r=0.38, cab=(0.30, 0.42, 0.98, 1.0)),
    "van": dict(L=5.0, W=1.95, H=2.25, clr=0.28, belt=1.05, r=0.36, cab=(0.14, 0.24, 1.0, 1.0)),
    "hatchback": dict(
        L=4.0, W=1.75, H=1.48, clr=0.20, belt=0.88, r=0.31, cab=(0.32, 0.47, 0.93, 0.99)
    ),
    "mpv": dict(L=4.8, W=1.85, H=1.75, clr=0.24, belt=0.98, r=0.33, cab=(0.22, 0.38, 0.97, 1.0)),
    "pickup": dict(
        L=5.3, W=1.90, H=1.80, clr=0.34, belt=1.05, r=0.38, cab=(0.30, 0.40, 0.60, 0.62)
    ),
    "bus": dict(L=10.5, W=2.50, H=3.10, clr=0.35, belt=1.20, r=0.50, cab=(0.0, 0.02, 1.0, 1.0)),
    "truck": dict(L=7.5, W=2.35, H=3.10, clr=0.45, belt=1.00, r=0.50, cab=(0.0, 0.05, 0.24, 0.24)),
    "estate": dict(
        L=4.85, W=1.82, H=1.50, clr=0.22, belt=0.90, r=0.32, cab=(0.33, 0.46, 0.97, 1.0)
    ),
}


def _make_model(seed: int, index: int, type_idx: int, spread: float = 1.0) -> dict[str, Any]:
    rng = _rng(seed, _S_MODEL, index)
    base = _TYPE_BASE[TYPE_NAMES[type_idx]]

    def jit(v: float, a: float = 0.06) -> float:
        return float(v * (1.0 + rng.uniform(-a * spread, a * spread)))

    dc = 0.025 * spread
    cab = [float(np.clip(c + rng.uniform(-dc, dc), 0.0, 1.0)) for c in base["cab"]]
    cab = sorted(cab)
    model = dict(
        index=index,
        type=type_idx,
        L=jit(base["L"]),
        W=jit(base["W"], 0.04),
        H=jit(base["H"]),
        clr=jit(base["clr"], 0.1),
        belt=jit(base["belt"], 0.05),
        r=jit(base["r"], 0.06),
        cab=cab,
        tumble=float(rng.uniform(0.06, 0.16)),  # cabin top inset per side (m)
        nose=float(rng.uniform(0.10, 0.28)),  # front bevel length (m)
        tail=float(rng.uniform(0.06, 0.22)),  # rear bevel length (m)
        headlight=int(rng.integers(0, 3)),  # headlight shape style
        grille=int(rng.integers(0, 3)),
        n_windows=int(rng.integers(2, 4)),
        side_windows=bool(rng.random() < 0.7),  # vans: windows along the whole side?
        cargo_shade=float(rng.uniform(0.85, 1.15)),
    )
    model["H"] = max(model["H"], model["belt"] + 0.35)
    return model


def _model_design(seed: int, index: int, detail: float) -> dict[str, Any]:
    """A model's own front, rear and side design (knob ``model_detail``), from its own seed
    stream so that the other draws do not move. :mod:`vreid.synth.body` moves each shared-style
    value ``detail`` of the way towards the design's; the side trim appears on models whose
    ``trim_draw`` is below ``detail / 2``, a black roof on those whose ``roof_draw`` is below
    ``detail / 4``."""
    rng = _rng(seed, _S_DESIGN, index)
    design = dict(
        detail=float(detail),
        head_inner=float(rng.uniform(0.14, 0.34)),  # headlight inner edge (share of width)
        head_h=float(rng.uniform(0.12, 0.42)),  # headlight height (share of the front face)
        head_top=float(rng.uniform(0.03, 0.22)),  # gap above the headlights (share)
        grille_w=float(rng.uniform(0.1, 0.36)),  # grille half width (share of width)
        grille_low=float(rng.uniform(0.32, 0.8)),  # grille bottom below the face top (share)
        grille_color=int(rng.integers(0, 3)),  # dark, chrome, body colour
        bumper_color=int(rng.integers(0, 3)),  # dark, chrome, body colour
        tail_inner=float(rng.uniform(0.1, 0.36)),  # tail light inner edge (share of width)
        tail_top=float(rng.uniform(0.04, 0.3)),  # gap above the tail lights (share)
        tail_low=float(rng.uniform(0.16, 0.5)),  # tail light height, then its bottom (below)
        trim_draw=float(rng.random()),
        trim_z=float(rng.uniform(0.25, 0.75)),  # side trim height (share of clearance..belt)
        trim_color=int(rng.integers(0, 2)),  # dark, chrome
        roof_draw=float(rng.random()),
    )
    design["tail_low"] += design["tail_top"]  # bottom of the tail lights below the face top
    return design


# --------------------------------------------------------------------------------------------
# Identities


def _color_probs(type_idx: int, sedan_share: float) -> np.ndarray:
    shares = np.asarray(COLOR_SHARES, dtype=np.float64)
    black = COLOR_NAMES.index("black")
    p_bs = min(0.95, BLACK_SEDAN_SHARE / max(sedan_share, 1e-9))
    p_bo = max(0.0, (shares[black] - sedan_share * p_bs) / max(1.0 - sedan_share, 1e-9))
    p_black = p_bs if TYPE_NAMES[type_idx] == "sedan" else min(p_bo, 0.95)
    rest = shares.copy()
    rest[black] = 0.0
    rest = rest / rest.sum() * (1.0 - p_black)
    rest[black] = p_black
    return rest


def _plate(rng: np.random.Generator) -> dict[str, Any]:
    u = rng.random()
    bg = 0 if u < 0.8 else (1 if u < 0.95 else 2)  # blue / yellow / green-white
    return {"bg": bg, "glyphs": [int(g) for g in rng.integers(0, 36, size=7)]}


def _contrasting(rng: np.random.Generator, paint: tuple[int, int, int]) -> int:
    p = np.asarray(paint, dtype=float)
    ok = [i for i, c in enumerate(CUE_PALETTE) if np.abs(np.asarray(c) - p).sum() > 160]
    return int(rng.choice(ok))


def _draw_cue(
    rng: np.random.Generator, name: str, type_idx: int, color_idx: int, cue_scale: float
) -> dict[str, Any]:
    """Parameters of one cue (read by the renderer)."""
    paint = PAINT[color_idx]
    tname = TYPE_NAMES[type_idx]
    sz = float(cue_scale)
    if name == "sticker":
        return {
            "corner": int(rng.integers(0, 4)),
            "n": int(rng.integers(1, STICKER_MAX + 1)),
            "colors": [int(rng.integers(0, len(CUE_PALETTE))) for _ in range(3)],
            "size": sz * float(rng.uniform(0.16, 0.26)),
        }
    if name in ("decal_left", "decal_right"):
        return {
            "kind": str(rng.choice(list(DECAL_KINDS))),
            "color": _contrasting(rng, paint),
            "color2": int(rng.integers(0, len(CUE_PALETTE))),
            "pos": float(rng.uniform(0.2, 0.8)),
            "size": sz * float(rng.uniform(0.3, 0.5)),
        }
    if name == "dent":
        return {
            "face": str(rng.choice(list(DENT_FACES))),
            "s": float(rng.uniform(0.2, 0.8)),
            "t": float(rng.uniform(0.25, 0.75)),
            "size": sz * float(rng.uniform(0.25, 0.4)),
            "kind": str(rng.choice(list(DENT_KINDS))),
        }
    if name == "roof":
        kinds = list(ROOF_KINDS) if tname not in ("bus", "truck") else ["box", "light"]
        kind = str(rng.choice(kinds))
        if kind == "light":  # taxi / company sign
            color = int(rng.choice([1, 4, 0, 3]))
        elif rng.random() < 0.75:  # roof boxes and racks are mostly neutral
            color = int(rng.choice([5, 4, 9, 10]))
        else:
            color = int(rng.integers(0, len(CUE_PALETTE)))
        return {
            "kind": kind,
            "color": color,
            "pos": float(rng.uniform(0.3, 0.7)),
            "size": sz * float(rng.uniform(0.8, 1.2)),
        }
    if name == "rims":
        return {
            "color": int(rng.integers(0, RIM_COLORS)),
            "spokes": int(rng.choice(list(RIM_SPOKES))),
            "size": float(rng.uniform(0.6, 0.75)),
        }
    if name == "rear_item":
        if tname in ("sedan", "hatchback", "estate"):
            kinds = ["spoiler", "sign"]
        elif tname in ("suv", "mpv"):
            kinds = ["spare", "spoiler", "sign"]
        elif tname in ("van", "bus", "truck"):
            kinds = ["ladder", "sign"]
        else:
            kinds = ["spare", "sign", "ladder"]
        return {
            "kind": str(rng.choice(kinds)),
            "color": _contrasting(rng, paint),
            "size": sz * float(rng.uniform(0.8, 1.2)),
            "pos": float(rng.uniform(0.3, 0.7)),
        }
    raise AssertionError(name)


def _base_identity(spec: dict[str, Any], vid: int, split: str, models: list[dict]) -> dict:
    rng = _rng(spec["seed"], _S_ID, vid)
    model_types = np.array([m["type"] for m in models])
    tshares = np.array([TYPE_SHARES[t] if t in model_types else 0.0 for t in range(9)])
    tshares = tshares / tshares.sum()
    sedan_share = float(tshares[TYPE_NAMES.index("sedan")])
    t = int(rng.choice(9, p=tshares))
    idx = np.flatnonzero(model_types == t)
    w = 1.0 / np.arange(1, len(idx) + 1)
    model = int(idx[rng.choice(len(idx), p=w / w.sum())])
    color = int(rng.choice(10, p=_color_probs(t, sedan_share)))
    n_cues = min(spec["n_cues"], len(CUE_POOL))
    chosen = sorted(rng.choice(len(CUE_POOL), size=n_cues, replace=False).tolist())
    cues = {CUE_POOL[i]: _draw_cue(rng, CUE_POOL[i], t, color, spec["cue_scale"]) for i in chosen}
    return {
        "vid": vid,
        "split": split,
        "type": t,
        "model": model,
        "color": color,
        "twin_of": 0,
        "plate_front": _plate(rng),
        "plate_rear": _plate(rng),
        "cues": cues,
        "twin_u": float(rng.random()),
        "twin_pick": float(rng.random()),
        "twin_slot": float(rng.random()),
    }


def _make_twin(base: dict, parent: dict, spec: dict[str, Any]) -> dict:
    """Copy ``parent`` and change exactly one cue (plate front/rear, an existing cue redrawn, or
    one new cue added)."""
    rng = _rng(spec["seed"], _S_ID, base["vid"], 7)
    twin = {k: v for k, v in parent.items()}
    twin["vid"] = base["vid"]
    twin["split"] = base["split"]
    twin["twin_of"] = parent["vid"]
    twin["cues"] = {k: dict(v) for k, v in parent["cues"].items()}
    slots = ["plate_front", "plate_rear", *sorted(twin["cues"])]
    if len(twin["cues"]) < len(CUE_POOL):
        slots.append("add")
    slot = slots[int(base["twin_slot"] * len(slots))]
    if slot in ("plate_front", "plate_rear"):
        new = _plate(rng)
        while new == parent[slot]:
            new = _plate(rng)
        twin[slot] = new
    elif slot == "add":
        free = [c for c in CUE_POOL if c not in twin["cues"]]
        name = free[int(rng.integers(0, len(free)))]
        twin["cues"][name] = _draw_cue(rng, name, twin["type"], twin["color"], spec["cue_scale"])
    else:
        old = twin["cues"][slot]
        new = _draw_cue(rng, slot, twin["type"], twin["color"], spec["cue_scale"])
        for _ in range(20):
            if new != old:
                break
            new = _draw_cue(rng, slot, twin["type"], twin["color"], spec["cue_scale"])
        twin["cues"][slot] = new
    return twin


def _identities(spec: dict[str, Any], models: list[dict]) -> dict[int, dict]:
    n_tr, n_te, n_va = spec["n_train_ids"], spec["n_test_ids"], spec["n_val_ids"]
    # Validation ids come after the test ids, so train/test draws do not depend on n_val_ids
    # (every stream is keyed by vid; twins are drawn among originals of their own split).
    ranges = {
        "train": range(1, n_tr + 1),
        "test": range(n_tr + 1, n_tr + n_te + 1),
        "val": range(n_tr + n_te + 1, n_tr + n_te + n_va + 1),
    }
    out: dict[int, dict] = {}
    for split, vids in ranges.items():
        base = {v: _base_identity(spec, v, split, models) for v in vids}
        originals: list[int] = []
        for v in vids:
            b = base[v]
            if originals and b["twin_u"] < spec["twin_share"]:
                parent = out[originals[int(b["twin_pick"] * len(originals))]]
                out[v] = _make_twin(b, parent, spec)
            else:
                out[v] = b
                originals.append(v)
    for ident in out.values():
        for k in ("twin_u", "twin_pick", "twin_slot"):
            ident.pop(k, None)
    return out


_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def cue_summary(ident: dict) -> str:
    """Short text of an identity's cues, e.g. ``"plate_f:3e1;plate_r:07a;roof:rack"``."""
    parts = []
    for side in ("plate_front", "plate_rear"):
        p = ident[side]
        parts.append(f"{side}:{p['bg']}-{''.join(_B36[g] for g in p['glyphs'])}")
    for name in sorted(ident["cues"]):
        c = ident["cues"][name]
        kind = c.get("kind", c.get("face", ""))
        parts.append(f"{name}:{kind}" if kind else name)
    return ";".join(parts)


_NC = len(CUE_PALETTE) + 1  # a cue colour, or 0 = cue absent
#: Classes of each cue-level attribute (class 0 = the identity has no such cue; plates always
#: exist). The order is the order of the pretraining heads' logits.
CUE_DETAIL_SIZES: dict[str, int] = {
    "sticker_corner": 5,
    "sticker_n": STICKER_MAX + 1,
    "sticker_color": _NC,
    "decal_left_kind": len(DECAL_KINDS) + 1,
    "decal_left_color": _NC,
    "decal_right_kind": len(DECAL_KINDS) + 1,
    "decal_right_color": _NC,
    "dent_face": len(DENT_FACES) + 1,
    "dent_kind": len(DENT_KINDS) + 1,
    "roof_kind": len(ROOF_KINDS) + 1,
    "roof_color": _NC,
    "rims_color": RIM_COLORS + 1,
    "rims_spokes": len(RIM_SPOKES) + 1,
    "rear_kind": len(REAR_ITEM_KINDS) + 1,
    "rear_color": _NC,
    "plate_front_bg": PLATE_BGS,
    "plate_rear_bg": PLATE_BGS,
}


def cue_detail_classes(ident: dict) -> dict[str, int]:
    """The class of every :data:`CUE_DETAIL_SIZES` attribute of one identity of the plan:
    which corner, how many and which colour of stickers, each decal's kind and colour, the
    dent's face and kind, the roof item's, rims' and rear item's kind and colour, and each
    plate's background. 0 = the cue is absent; a present cue's value ``v`` of a drawn list
    ``L`` is ``1 + L.index(v)``."""
    cues = ident["cues"]

    def of(name: str, field: str, values=None) -> int:
        cue = cues.get(name)
        if cue is None:
            return 0
        v = cue[field]
        return 1 + (values.index(v) if values is not None else int(v))

    sticker = cues.get("sticker")
    out = {
        "sticker_corner": of("sticker", "corner"),
        "sticker_n": 0 if sticker is None else int(sticker["n"]),  # n is 1..STICKER_MAX
        "sticker_color": 0 if sticker is None else 1 + int(sticker["colors"][0]),
    }
    for side in ("left", "right"):
        out[f"decal_{side}_kind"] = of(f"decal_{side}", "kind", DECAL_KINDS)
        out[f"decal_{side}_color"] = of(f"decal_{side}", "color")
    out |= {
        "dent_face": of("dent", "face", DENT_FACES),
        "dent_kind": of("dent", "kind", DENT_KINDS),
        "roof_kind": of("roof", "kind", ROOF_KINDS),
        "roof_color": of("roof", "color"),
        "rims_color": of("rims", "color"),
        "rims_spokes": of("rims", "spokes", RIM_SPOKES),
        "rear_kind": of("rear_item", "kind", REAR_ITEM_KINDS),
        "rear_color": of("rear_item", "color"),
        "plate_front_bg": int(ident["plate_front"]["bg"]),
        "plate_rear_bg": int(ident["plate_rear"]["bg"]),
    }
    return out


# --------------------------------------------------------------------------------------------
# Cameras


def _target_view_shares(view_balance: float) -> np.ndarray:
    t = np.asarray(VIEW5_SHARES, dtype=np.float64)
    t = (1.0 - view_balance) * t + view_balance * np.full(5, 0.2)
    return t / t.sum()


def _camera_style(
    spec: dict[str, Any], c: int, perm_c: int, night: bool, rng: np.random.Generator
) -> dict[str, Any]:
    """Camera ``c``: travel directions, pose, domain style and street (strength ``s`` =
    ``camera_style``; ``perm_c`` spreads the cameras' main views over the view5 range)."""
    n = spec["n_cameras"]
    s = spec["camera_style"]

    def u(a: float = 1.0, rng: np.random.Generator = rng) -> float:
        return float(rng.uniform(-a, a))

    m1 = float((perm_c + rng.random()) / n * 4.0)
    side1 = 1 if rng.random() < 0.5 else -1
    dirs = [[1.0, m1, side1]]
    if rng.random() < 0.5:
        w1 = float(rng.uniform(0.55, 0.85))
        m2 = float(np.clip(4.0 - m1 + rng.normal(0.0, 0.4), 0.0, 4.0))
        dirs = [[w1, m1, side1], [1.0 - w1, m2, -side1]]
    road = np.array(ROAD) * float(np.exp(s * u(0.35)))
    road = road + s * np.array([u(7), u(7), u(7)]) + s * u(8) * np.array([1.0, 0.6, -1.0])
    kerb_kind = int(rng.integers(0, 3))
    kerb = KERB[kerb_kind]
    return dict(
        camid=c,
        height=float(6.5 + s * rng.uniform(-2.0, 2.5)),
        dist=float(16.0 + s * rng.uniform(-5.0, 8.0)),
        focal_jitter=float(rng.uniform(-1, 1)),
        res=float(np.clip(1.0 - s * rng.uniform(0.0, 0.5), 0.35, 1.0)),
        exposure=float(np.exp(s * u(0.25))),
        cast=[float(np.exp(s * u(0.12))) for _ in range(3)],
        contrast=float(np.exp(s * u(0.25))),
        saturation=float(np.clip(1.0 + s * u(0.45), 0.2, 2.0)),
        gamma=float(np.exp(s * u(0.2))),
        night=night,
        noise=float(1.5 + s * rng.uniform(0.0, 6.0) + (5.0 if night else 0.0)),
        blur=float(max(0.0, s * rng.uniform(-0.2, 0.9))),
        jpeg_quality=int(round(90 - s * rng.uniform(0.0, 30.0))),
        road=[float(v) for v in np.clip(road, 30, 200)],
        road_texture=float(4.0 + s * rng.uniform(0.0, 14.0)),
        lane_color=LANE[int(rng.random() < 0.3 * min(s, 1))],
        lane_offset=float(rng.uniform(-1.2, 1.2)),
        lane_dash=bool(rng.random() < 0.6),
        kerb=[float(v) for v in kerb],
        kerb_y=float(rng.choice([-1.0, 1.0]) * rng.uniform(5.0, 9.0)),
        light_az=float(rng.uniform(0.0, 360.0)),
        light_el=float(rng.uniform(30.0, 70.0)),
        dirs=dirs,
        skew=float(0.8 + 3.0 * spec["view_balance"]),
    )


def _calibrate_view_probs(cams: dict[int, dict], vb: float) -> None:
    """Per-direction view5 mixtures (``view_probs``): skewed towards the direction's main
    view, calibrated so that the average over all directions matches the target shares."""
    target = _target_view_shares(vb)
    views = np.arange(5, dtype=np.float64)
    ws, weights = [], []
    for cam in cams.values():
        for w, m, _side in cam["dirs"]:
            ws.append(np.exp(-((views - m) ** 2) / (2.0 * cam["skew"] ** 2)) + 0.02)
            weights.append(w)
    W = np.array(ws)
    wt = np.array(weights) / len(cams)
    tp = target.copy()
    for _ in range(200):
        q = tp[None, :] * W
        q = q / q.sum(1, keepdims=True)
        avg = (wt[:, None] * q).sum(0)
        tp = tp * target / avg
        tp = tp / tp.sum()
    q = tp[None, :] * W
    q = q / q.sum(1, keepdims=True)
    k = 0
    for cam in cams.values():
        cam["view_probs"] = []
        for _ in cam["dirs"]:
            cam["view_probs"].append([float(x) for x in q[k]])
            k += 1


def _cameras(spec: dict[str, Any]) -> dict[int, dict]:
    """Every camera's style (:func:`_camera_style`) and view mixtures; a ``night_share`` of
    the cameras (scaled down for weak camera styles) are night cameras."""
    n = spec["n_cameras"]
    grng = _rng(spec["seed"], _S_CAMS)
    perm = grng.permutation(n)
    night_u = grng.permutation(n)
    n_night = int(round(spec["night_share"] * min(1.0, spec["camera_style"]) * n))
    cams: dict[int, dict] = {}
    for c in range(1, n + 1):
        night = bool(night_u[c - 1] < n_night)
        cams[c] = _camera_style(spec, c, perm[c - 1], night, _rng(spec["seed"], _S_CAM, c))
    _calibrate_view_probs(cams, spec["view_balance"])
    return cams


# --------------------------------------------------------------------------------------------
# The world and the per-image plan


def build_world(spec: dict[str, Any]) -> dict[str, Any]:
    """All non-image draws: ``{"spec", "models", "identities", "cameras"}`` (plain dicts).

    ``spec`` is resolved (merged onto its preset and validated) first.
    """
    spec = resolve_spec(spec)
    types = _allocate_models(spec["n_models"])
    models = [_make_model(spec["seed"], i, t, spec["model_spread"]) for i, t in enumerate(types)]
    if spec["model_detail"] > 0:
        for m in models:
            m["design"] = _model_design(spec["seed"], m["index"], spec["model_detail"])
    identities = _identities(spec, models)
    cameras = _cameras(spec)
    return {"spec": spec, "models": models, "identities": identities, "cameras": cameras}


def _tracks_of(world: dict[str, Any], vid: int) -> list[dict[str, Any]]:
    spec = world["spec"]
    seed = spec["seed"]
    n_cam = spec["n_cameras"]
    lo, hi = spec["cams_per_id"]
    hi = min(hi, n_cam)
    lo = min(lo, hi)
    crng = _rng(seed, _S_IDCAMS, vid)
    k = int(crng.integers(lo, hi + 1))
    cams = sorted((crng.choice(n_cam, size=k, replace=False) + 1).tolist())
    rows: list[dict[str, Any]] = []
    split = world["identities"][vid]["split"]
    for cam_id in cams:
        cam = world["cameras"][cam_id]
        rng = _rng(seed, _S_TRACK, vid, cam_id)
        p_lo, p_hi = spec["passes"]
        if p_hi == 1:
            n_pass = 1
        elif p_lo == 1:
            single = rng.random() < spec["single_pass_share"]
            n_pass = 1 if single else int(rng.integers(2, p_hi + 1))
        else:
            n_pass = int(rng.integers(p_lo, p_hi + 1))
        frame = int(rng.integers(0, 12000)) * 5
        group: list[dict[str, Any]] = []
        for pas in range(n_pass):
            weights = np.array([d[0] for d in cam["dirs"]])
            d = int(rng.choice(len(weights), p=weights / weights.sum()))
            _w, _m, side = cam["dirs"][d]
            view5 = int(rng.choice(5, p=np.asarray(cam["view_probs"][d])))
            if view5 in (1, 2, 3) and rng.random() < 0.15:
                side = -side
            centre = _VIEW5_CENTRE[view5] * (1 if view5 in (0, 4) else side)
            yaw0 = centre + rng.uniform(-18.5, 18.5)
            drift = rng.uniform(-1.5, 1.5)
            f_lo, f_hi = spec["frames"]
            n_fr = int(rng.integers(f_lo, f_hi + 1))
            scale_drift = rng.uniform(-0.02, 0.02)
            for j in range(n_fr):
                yaw = float(np.mod(yaw0 + drift * j, 360.0))
                group.append(
                    {
                        "vid": vid,
                        "camid": cam_id,
                        "split": split,
                        "frame": frame,
                        "pass": pas,
                        "frame_in_pass": j,
                        "yaw_deg": round(yaw, 3),
                        "scale": round(float(1.0 + scale_drift * j), 4),
                        "occluded": bool(rng.random() < spec["occlusion"]),
                        "truncated": bool(rng.random() < spec["truncation"]),
                    }
                )
                frame += 5
            frame += int(rng.integers(50, 800)) * 5  # gap between passes (> 200 frames)
        if split in ("test", "val"):  # one query per (vid, camera)
            q = int(rng.integers(0, len(group)))
            for i, r in enumerate(group):
                r["is_query"] = i == q
        else:
            for r in group:
                r["is_query"] = False
        rows += group
    return rows


def plan_rows(world: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per image (train, test and val; queries flagged by ``is_query``).

    Sorted by split (train, test, val) and by name inside a split.
    """
    rows: list[dict[str, Any]] = []
    for vid in sorted(world["identities"]):
        rows += _tracks_of(world, vid)
    for r in rows:
        r["name"] = image_name(r["vid"], r["camid"], r["frame"])
    order = {"train": 0, "test": 1, "val": 2}
    rows.sort(key=lambda r: (order[r["split"]], r["name"]))
    return rows


_CAM_FIELDS = (
    "night",
    "height",
    "dist",
    "res",
    "exposure",
    "contrast",
    "saturation",
    "noise",
    "blur",
    "jpeg_quality",
)


def plan_frame(world: dict[str, Any], rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The plan rows as a DataFrame with identity and camera truth columns."""
    if not rows:
        raise ValueError("the synthetic plan is empty")
    df = pd.DataFrame(rows)
    ids = world["identities"]
    cams = world["cameras"]
    view8 = yaw_to_view8(df["yaw_deg"].to_numpy())
    df["view8"] = view8
    df["view5"] = np.asarray(VIEW8_TO_VIEW5)[view8]
    df["model"] = [ids[v]["model"] for v in df["vid"]]
    df["type"] = [ids[v]["type"] + 1 for v in df["vid"]]
    df["color"] = [ids[v]["color"] + 1 for v in df["vid"]]
    df["twin_of"] = [ids[v]["twin_of"] for v in df["vid"]]
    summaries = {v: cue_summary(ids[v]) for v in ids}
    df["cues"] = [summaries[v] for v in df["vid"]]
    # Track id unique over the whole dataset: (vid, camid, pass).
    df["track"] = [
        f"{v:04d}_c{c:03d}_p{p}" for v, c, p in zip(df["vid"], df["camid"], df["pass"], strict=True)
    ]
    for f in _CAM_FIELDS:
        df[f"cam_{f}"] = [cams[c][f] for c in df["camid"]]
    cols = [
        "name",
        "split",
        "vid",
        "camid",
        "frame",
        "pass",
        "frame_in_pass",
        "track",
        "is_query",
        "yaw_deg",
        "view8",
        "view5",
        "scale",
        "model",
        "type",
        "color",
        "twin_of",
        "cues",
        "occluded",
        "truncated",
        *[f"cam_{f}" for f in _CAM_FIELDS],
    ]
    return df[cols].reset_index(drop=True)


def sample_dataset_plan(spec: dict[str, Any]) -> pd.DataFrame:
    """Draw every identity, camera, pass, frame and yaw of a dataset WITHOUT rendering.

    One row per image of the train, test and val splits (query images are test or val rows
    with ``is_query`` True; val rows exist only when ``n_val_ids`` > 0, with vids after the
    test ids). Columns: name, split ('train'|'test'|'val'), vid, camid (1-based), frame,
    pass, frame_in_pass, track, is_query, yaw_deg (deg), view8 (0..7), view5 (0..4), scale,
    model, type (1..9), color (1..10), twin_of (0 = none), cues, occluded, truncated and
    camera style columns ``cam_*``. Same spec -> same table.
    """
    world = build_world(spec)
    return plan_frame(world, plan_rows(world))
