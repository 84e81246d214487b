"""Synthetic multi-camera vehicle re-id dataset, rendered on the CPU in VeRi-776 layout.

Public API: :data:`PRESETS`, :func:`load_spec`, :func:`resolve_spec`,
:func:`sample_dataset_plan`, :func:`generate`, :func:`contact_sheet`.

Where each step lives: ``presets`` (specs), ``plan`` (models, identities, cameras, tracks:
everything but pixels), ``palette`` (every colour table), ``mesh`` (prisms, faces, overlays),
``body`` (a model's body per type), ``cues`` (plates and identity cues), ``vehicle``
(:class:`~vreid.synth.vehicle.Vehicle` = body + cues + keypoints), ``camera`` (pose,
projection, crop), ``scene`` (road, markings, shadow, occluders), ``painter`` (shaded faces,
keypoint visibility), ``style`` (camera domain style, noise, JPEG), ``render`` (one image
from those steps), ``generate`` (the VeRi-776 layout on disk).
"""

from .generate import contact_sheet, generate
from .plan import sample_dataset_plan
from .presets import PRESETS, load_spec, resolve_spec

__all__ = [
    "PRESETS",
    "contact_sheet",
    "generate",
    "load_spec",
    "resolve_spec",
    "sample_dataset_plan",
]
