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
from classifiers.data.tasks import (
    LARGE_112,
    MAX2_84,
    SEARCH2_128,
    TASK_PRESETS,
    TaskCanvas,
    TaskSpec,
)

__all__ = [
    "CANVAS_PRESETS",
    "CLUTTERED_60",
    "CLUTTERED_100",
    "LARGE_112",
    "MAX2_84",
    "SEARCH2_128",
    "TASK_PRESETS",
    "TRANSLATED_60",
    "ArraySource",
    "Batch",
    "CanvasDataset",
    "CanvasSpec",
    "DigitAugment",
    "DigitSet",
    "ImageSource",
    "Sample",
    "TaskCanvas",
    "TaskSpec",
    "load_digits",
    "load_folder_digits",
    "mnist_canvases",
]
