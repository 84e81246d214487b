"""Unsupervised vehicle re-identification: VAPC progressive clustering + CTACL."""

__version__ = "0.1.0"
