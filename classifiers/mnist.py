"""Deprecated name of :mod:`classifiers.mnist_models` (the registered MNIST models); import from
there."""

from classifiers.utils import moved_module

__getattr__ = moved_module(__name__, "classifiers.mnist_models")
