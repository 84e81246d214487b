"""Synthetic multi-camera vehicle re-id dataset, rendered on the CPU in VeRi-776 layout.

Public API: :data:`PRESETS`, :func:`load_spec`, :func:`resolve_spec`,
:func:`sample_dataset_plan`, :func:`generate`, :func:`contact_sheet`.
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
