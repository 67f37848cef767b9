"""Image sources: MNIST digits and the canvases built from them."""

from classifiers.data.base import ArraySource, Batch, ImageSource, Sample
from classifiers.data.canvas import (
    CANVAS_PRESETS,
    CLUTTERED_60,
    CLUTTERED_100,
    TRANSLATED_60,
    CanvasDataset,
    CanvasSpec,
    DigitAugment,
    mnist_canvases,
)
from classifiers.data.digits import DigitSet, load_digits, load_folder_digits

__all__ = [
    "CANVAS_PRESETS",
    "CLUTTERED_60",
    "CLUTTERED_100",
    "TRANSLATED_60",
    "ArraySource",
    "Batch",
    "CanvasDataset",
    "CanvasSpec",
    "DigitAugment",
    "DigitSet",
    "ImageSource",
    "Sample",
    "load_digits",
    "load_folder_digits",
    "mnist_canvases",
]
