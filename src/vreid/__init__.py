"""Unsupervised vehicle re-identification: VAPC progressive clustering + CTACL."""

from .reproducibility import pin_math_libraries

# before anything imports torch: the math libraries read these once, at load time
pin_math_libraries()

__version__ = "0.1.0"
