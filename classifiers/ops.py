"""Deprecated name of :mod:`classifiers.patches` (patch geometry); import from there."""

from classifiers.utils import moved_module

__getattr__ = moved_module(__name__, "classifiers.patches")
