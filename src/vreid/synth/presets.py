"""Presets, label tables and spec validation for the synthetic VeRi-layout dataset.

A *spec* is a flat dict of knobs (see :data:`KNOBS`). A spec file is YAML
``{preset: default, seed: 0, <knob overrides>}``; :func:`load_spec` merges the overrides onto
the named preset and validates every key.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "COLOR_NAMES",
    "COLOR_SHARES",
    "KNOBS",
    "PRESETS",
    "TYPE_NAMES",
    "TYPE_SHARES",
    "VIEW5_NAMES",
    "VIEW5_SHARES",
    "VIEW8_NAMES",
    "VIEW8_TO_VIEW5",
    "BLACK_SEDAN_SHARE",
    "load_spec",
    "resolve_spec",
]

#: VeRi colour ids 1..10 (index 0 here is colour id 1).
COLOR_NAMES: tuple[str, ...] = (
    "yellow",
    "orange",
    "green",
    "gray",
    "red",
    "blue",
    "white",
    "golden",
    "brown",
    "black",
)
#: VeRi type ids 1..9.
TYPE_NAMES: tuple[str, ...] = (
    "sedan",
    "suv",
    "van",
    "hatchback",
    "mpv",
    "pickup",
    "bus",
    "truck",
    "estate",
)
#: Share of identities per colour (VeRi-776: black 34%, white 20.5%, gray 18%, red 9.5%, the
#: remaining 18% spread evenly over the other six colours). Same order as COLOR_NAMES.
COLOR_SHARES: tuple[float, ...] = (0.03, 0.03, 0.03, 0.18, 0.095, 0.03, 0.205, 0.03, 0.03, 0.34)
#: Share of identities per body type (sedan 48%, SUV 18%, truck 13%, rest 3.5% each).
TYPE_SHARES: tuple[float, ...] = (0.48, 0.18, 0.035, 0.035, 0.035, 0.035, 0.035, 0.13, 0.035)
#: Share of black sedans among identities (VeRi-776: about a quarter).
BLACK_SEDAN_SHARE: float = 0.25

#: Wang et al. orientation labels 0..7.
VIEW8_NAMES: tuple[str, ...] = (
    "front",
    "rear",
    "left",
    "left-front",
    "left-rear",
    "right",
    "right-front",
    "right-rear",
)
#: VAPC's 5 viewpoints 0..4.
VIEW5_NAMES: tuple[str, ...] = ("front", "front-side", "side", "rear-side", "rear")
#: view8 -> view5: front {0}, front-side {3,6}, side {2,5}, rear-side {4,7}, rear {1}.
VIEW8_TO_VIEW5: tuple[int, ...] = (0, 4, 2, 1, 3, 2, 1, 3)
#: Viewpoint shares of the VeRi-776 test set (front, front-side, side, rear-side, rear).
VIEW5_SHARES: tuple[float, ...] = (0.11, 0.36, 0.03, 0.43, 0.07)

# --------------------------------------------------------------------------------------------
# Knobs: name -> (kind, allowed, description). kind is "int", "float", "str", "pair".

# Calibrated on the validation split (README "Calibrating the testbed"): 48 vehicle models,
# 5 cues of 1.6x size, a milder camera style and 10% night cameras, and 300 train identities
# of ~13 images each (VeRi-776 trains on 576 identities) instead of 120 of ~27.
_BASE: dict[str, Any] = {
    "preset": "default",
    "seed": 0,
    "n_models": 48,
    "n_cues": 5,
    "cue_scale": 1.6,
    "model_detail": 0.0,
    "model_spread": 1.0,
    "twin_share": 0.1,
    "view_balance": 0.0,
    "camera_style": 0.6,
    "occlusion": 0.15,
    "truncation": 0.08,
    "night_share": 0.1,
    "n_cameras": 8,
    "n_train_ids": 300,
    "n_test_ids": 120,
    "n_val_ids": 80,
    "image_size": [96, 80],
    "cams_per_id": [2, 6],
    "passes": [1, 3],
    "single_pass_share": 0.8,
    "frames": [2, 3],
}


def _preset(**overrides: Any) -> dict[str, Any]:
    out = copy.deepcopy(_BASE)
    out.update(overrides)
    return out


#: Named presets. Every preset holds every knob.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": _preset(
        preset="tiny",
        n_cameras=4,
        n_train_ids=12,
        n_test_ids=6,
        n_val_ids=4,
        image_size=[64, 56],
        cams_per_id=[2, 4],
        night_share=0.25,
        frames=[4, 6],
    ),
    "default": _preset(preset="default"),
    # The pretraining pool (`pool` stage): many vehicles, few images each, its own cameras.
    # Rendered with its own seed, so models, identities and cameras differ from the dataset's.
    "pool": _preset(
        preset="pool",
        n_train_ids=4000,
        n_test_ids=1,
        n_val_ids=0,
        n_cameras=12,
        cams_per_id=[2, 4],
        passes=[1, 1],
        frames=[1, 2],
    ),
    "medium": _preset(
        preset="medium",
        n_cameras=12,
        n_train_ids=300,
        n_test_ids=100,
        n_val_ids=100,
        image_size=[112, 96],
        cams_per_id=[2, 8],
    ),
    "veri": _preset(
        preset="veri",
        n_cameras=20,
        n_train_ids=576,
        n_test_ids=200,
        n_val_ids=100,
        image_size=[128, 112],
        cams_per_id=[2, 18],
        frames=[4, 6],  # VeRi-776's 37,778 train images over 576 identities
    ),
}

_INT, _FLOAT, _STR, _PAIR = "int", "float", "str", "pair"


def _rng(lo: float, hi: float) -> Callable[[float], bool]:
    return lambda v: lo <= v <= hi


#: name -> (kind, element range (lo, hi), human description of what is allowed)
KNOBS: dict[str, tuple[str, tuple[float, float] | None, str]] = {
    "preset": (_STR, None, f"one of {sorted(PRESETS)}"),
    "seed": (_INT, (0, 2**32 - 1), "an integer in 0..2**32-1"),
    "n_models": (_INT, (1, 64), "an integer in 1..64 (shared vehicle models)"),
    "n_cues": (_INT, (0, 7), "an integer in 0..7 (optional cues per identity)"),
    "cue_scale": (_FLOAT, (0.0, 3.0), "a number in 0..3 (cue size multiplier)"),
    "model_detail": (
        _FLOAT,
        (0.0, 1.0),
        "a number in 0..1 (0 = the models' lights, grille and bumpers follow 3 shared styles; "
        "1 = each model has its own front, rear and side-trim design)",
    ),
    "model_spread": (
        _FLOAT,
        (0.0, 4.0),
        "a number in 0..4 (multiplier of the spread of the models' proportions around their "
        "body type's: 1 = +-6% length and height, +-2.5% cabin position)",
    ),
    "twin_share": (_FLOAT, (0.0, 1.0), "a number in 0..1 (share of near-twin identities)"),
    "view_balance": (_FLOAT, (0.0, 1.0), "a number in 0..1 (0 = VeRi-like skew, 1 = uniform)"),
    "camera_style": (_FLOAT, (0.0, 2.0), "a number in 0..2 (camera domain-gap strength)"),
    "occlusion": (_FLOAT, (0.0, 0.9), "a number in 0..0.9 (share of occluded images)"),
    "truncation": (_FLOAT, (0.0, 0.9), "a number in 0..0.9 (share of truncated crops)"),
    "night_share": (_FLOAT, (0.0, 1.0), "a number in 0..1 (share of night cameras)"),
    "n_cameras": (_INT, (2, 999), "an integer in 2..999"),
    "n_train_ids": (_INT, (1, 9998), "an integer in 1..9998"),
    "n_test_ids": (_INT, (1, 9998), "an integer in 1..9998"),
    "n_val_ids": (_INT, (0, 9998), "an integer in 0..9998 (0 = no validation split)"),
    "image_size": (_PAIR, (16, 512), "a list [height, width] of integers in 16..512"),
    "cams_per_id": (
        _PAIR,
        (2, 999),
        "a list [min, max] of integers in 2..999, min <= max (max is capped at n_cameras)",
    ),
    "passes": (_PAIR, (1, 10), "a list [min, max] of integers in 1..10, min <= max"),
    "single_pass_share": (_FLOAT, (0.0, 1.0), "a number in 0..1"),
    "frames": (_PAIR, (1, 50), "a list [min, max] of integers in 1..50, min <= max"),
}
assert set(KNOBS) == set(_BASE)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check(source: str, key: str, value: Any) -> Any:
    """Validate one knob; return the normalised value or raise ValueError."""
    kind, bounds, allowed = KNOBS[key]

    def bad(why: str = "") -> ValueError:
        extra = f" ({why})" if why else ""
        return ValueError(
            f"{source}: key '{key}' has invalid value {value!r}{extra}; allowed: {allowed}"
        )

    if kind == _STR:
        if not isinstance(value, str) or value not in PRESETS:
            raise bad()
        return value
    if kind == _INT:
        if not _is_int(value):
            raise bad(f"wrong type {type(value).__name__}, expected int")
        assert bounds is not None
        if not bounds[0] <= value <= bounds[1]:
            raise bad("out of range")
        return int(value)
    if kind == _FLOAT:
        if not (_is_int(value) or isinstance(value, float)):
            raise bad(f"wrong type {type(value).__name__}, expected a number")
        value_f = float(value)
        assert bounds is not None
        if not math.isfinite(value_f) or not bounds[0] <= value_f <= bounds[1]:
            raise bad("out of range")
        return value_f
    # pair
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise bad("expected a list of two integers")
    if not all(_is_int(v) for v in value):
        raise bad("expected integers")
    assert bounds is not None
    if not all(bounds[0] <= v <= bounds[1] for v in value):
        raise bad("out of range")
    if key != "image_size" and value[0] > value[1]:
        raise bad("min > max")
    return [int(value[0]), int(value[1])]


def resolve_spec(spec: Mapping[str, Any], source: str = "spec") -> dict[str, Any]:
    """Merge ``spec`` onto its preset (``spec['preset']``, default ``'default'``) and validate.

    Returns a new full spec dict holding every key of :data:`KNOBS`. Raises ValueError naming
    ``source``, the offending key, its value and what is allowed. Idempotent: resolving a
    resolved spec returns an equal dict.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"{source}: a spec must be a mapping of knobs, got {type(spec).__name__}")
    for key in spec:
        if key not in KNOBS:
            raise ValueError(
                f"{source}: unknown key '{key}' (value {spec[key]!r}); allowed keys: "
                f"{', '.join(sorted(KNOBS))}"
            )
    preset = _check(source, "preset", spec.get("preset", "default"))
    out = copy.deepcopy(PRESETS[preset])
    for key, value in spec.items():
        out[key] = _check(source, key, value)
    n_ids = out["n_train_ids"] + out["n_test_ids"] + out["n_val_ids"]
    if n_ids > 9999:
        raise ValueError(
            f"{source}: keys 'n_train_ids' + 'n_test_ids' + 'n_val_ids' = {n_ids} exceed 9999 "
            "(4-digit VeRi vehicle ids)"
        )
    return out


def load_spec(path: Path) -> dict[str, Any]:
    """Read a YAML spec file ``{preset: ..., seed: ..., <knob overrides>}`` and validate it.

    Returns the full spec (the preset with the overrides applied). Raises ValueError naming the
    file, key, value and what is allowed when a key is unknown, of the wrong type or out of
    range, and when the file is not a YAML mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the synthetic-data spec file ({exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(
            f"{path}: the spec must be a YAML mapping like '{{preset: default, seed: 0}}', "
            f"got {type(data).__name__}"
        )
    return resolve_spec(data, source=str(path))
