"""MNIST canvases: translated and cluttered digits, as in DeepMind's mnist-cluttered generator.

*Translated*: one 28 x 28 digit at a uniformly random position on a W x W canvas. *Cluttered*: first
``num_distractors`` 8 x 8 crops, each from a random spot of another random digit of the same split,
are added at random positions, then the target digit; values are clipped to [0, 1]. Every placement
is drawn from the RNG passed to :meth:`CanvasDataset.sample`, so a seeded RNG gives the same canvas
and a fresh draw gives new placements.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from classifiers.data.base import Batch, DigitCanvases, flat_squares
from classifiers.data.digits import DigitSet, load_digits
from classifiers.data.tasks import TASK_PRESETS, TaskCanvas, TaskSpec

DIGIT_SIZE = 28


@dataclass(frozen=True)
class CanvasSpec:
    """Geometry of a canvas family.

    Args:
        size: canvas side W in pixels.
        num_distractors: number of clutter fragments.
        distractor_size: side of each fragment.
    """

    size: int = 60
    num_distractors: int = 0
    distractor_size: int = 8

    def __post_init__(self) -> None:
        if self.size < DIGIT_SIZE:
            raise ValueError(f"canvas size must be at least {DIGIT_SIZE}, got {self.size}")
        if self.num_distractors < 0:
            raise ValueError(f"num_distractors must be >= 0, got {self.num_distractors}")
        if not 1 <= self.distractor_size <= DIGIT_SIZE:
            raise ValueError(
                f"distractor_size must be in [1, {DIGIT_SIZE}], got {self.distractor_size}"
            )


TRANSLATED_60 = CanvasSpec(size=60, num_distractors=0)
CLUTTERED_60 = CanvasSpec(size=60, num_distractors=4)
CLUTTERED_100 = CanvasSpec(size=100, num_distractors=8)
CANVAS_PRESETS = {
    "translated60": TRANSLATED_60,
    "cluttered60": CLUTTERED_60,
    "cluttered100": CLUTTERED_100,
    **TASK_PRESETS,
}


@dataclass(frozen=True)
class DigitAugment:
    """Random affine distortion of the target digit (training only).

    Args:
        rotation: maximum rotation in degrees (uniform in +-rotation).
        scale: range of the uniform scale factor.
        shear: maximum horizontal shear factor (uniform in +-shear).
    """

    rotation: float = 15.0
    scale: tuple[float, float] = (0.85, 1.15)
    shear: float = 0.2

    def __call__(self, digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        angle = rng.uniform(-self.rotation, self.rotation)
        scale = rng.uniform(*self.scale)
        shear = rng.uniform(-self.shear, self.shear)
        centre = (DIGIT_SIZE - 1) / 2.0
        matrix = cv2.getRotationMatrix2D((centre, centre), angle, scale)
        matrix[0, 1] += shear
        matrix[0, 2] -= shear * centre
        return cv2.warpAffine(
            digit, matrix, (DIGIT_SIZE, DIGIT_SIZE), flags=cv2.INTER_LINEAR, borderValue=0.0
        )


class CanvasDataset(DigitCanvases):
    """Labelled MNIST canvases drawn on demand; implements :class:`~classifiers.data.ImageSource`.

    Args:
        digits: the digits of one split; distractors come from the same set, so a test canvas never
            holds a fragment of a training digit and vice versa.
        spec: canvas geometry.
        augment: distortion applied to the target digit, or ``None``.

    Example:
        >>> import numpy as np
        >>> from classifiers.data import CanvasDataset, CLUTTERED_60, load_digits
        >>> data = CanvasDataset(load_digits("test"), CLUTTERED_60)
        >>> sample = data.sample(0, np.random.default_rng(0))
        >>> sample.image.shape, sample.label
        ((1, 60, 60), 7)
    """

    num_classes = 10

    def __init__(self, digits: DigitSet, spec: CanvasSpec, augment: DigitAugment | None = None):
        self.digits = digits
        self.spec = spec
        self.augment = augment
        self.image_shape = (1, spec.size, spec.size)
        self._pixels = digits.images.astype(np.float32) / 255.0
        frag_high = DIGIT_SIZE - spec.distractor_size + 1
        place_high = spec.size - spec.distractor_size + 1
        per_distractor = [len(digits) - 1, frag_high, frag_high, place_high, place_high]
        self._highs = np.array(
            per_distractor * spec.num_distractors + [spec.size - DIGIT_SIZE + 1] * 2, dtype=np.int64
        )

    def sample_batch(self, indices: Sequence[int], rngs: Sequence[np.random.Generator]) -> Batch:
        """Render canvas ``j`` of digit ``indices[j]`` with placements drawn from ``rngs[j]``.

        Each canvas draws all its placements with one ``random`` call on its own RNG (then, with ``augment``,
        the distortion), so canvas ``j`` equals ``sample(indices[j], rngs[j])`` exactly. All
        pastes of the batch are one unbuffered scatter-add, in the order of pasting one by one.
        """
        indices, draws = self.draw_integers(indices, rngs)
        count, size, frag = len(indices), self.spec.size, self.spec.distractor_size
        # Per canvas: [source, crop row, crop col, row, col] per distractor, then target row, column.
        layers = draws[:, :-2].reshape(count, self.spec.num_distractors, 5).transpose(2, 1, 0)
        source, crop_row, crop_col, row, col = layers  # each (num_distractors, count)
        source = source + (source >= indices)  # any digit but the target
        offset = np.arange(count) * size * size
        pixel = source * DIGIT_SIZE**2
        targets = [flat_squares(offset + row * size + col, frag, size)]
        values = [
            self._pixels.reshape(-1)[
                flat_squares(pixel + crop_row * DIGIT_SIZE + crop_col, frag, DIGIT_SIZE)
            ]
        ]
        digits = self._pixels[indices]
        if self.augment is not None:
            digits = np.stack([self.augment(d, rng) for d, rng in zip(digits, rngs, strict=True)])
        top, left = draws[:, -2], draws[:, -1]
        targets.append(flat_squares(offset + top * size + left, DIGIT_SIZE, size))
        values.append(digits.reshape(-1))
        canvas = np.zeros(count * size * size, dtype=np.float32)
        # Unbuffered adds in layer order (distractor 0, 1, ..., then the target), as pasting one by one.
        np.add.at(canvas, np.concatenate(targets), np.concatenate(values))
        np.clip(canvas, 0.0, 1.0, out=canvas)
        side = np.full_like(top, DIGIT_SIZE)
        boxes = np.stack([top, left, side, side], axis=1)
        return Batch(canvas.reshape(count, 1, size, size), self.digits.labels[indices], boxes)


def mnist_canvases(
    preset: str | CanvasSpec | TaskSpec,
    split: str = "train",
    mnist_root: str | os.PathLike | None = None,
    augment: DigitAugment | None = None,
    limit: int | None = None,
) -> CanvasDataset | TaskCanvas:
    """Canvases of a named preset (``translated60``, ``cluttered60``, ``cluttered100``, or a
    multi-look preset of :mod:`classifiers.data.tasks`) or a spec.

    ``limit`` keeps a fixed random subset of ``limit`` digits of the split (seed 0).
    """
    if isinstance(preset, str):
        if preset not in CANVAS_PRESETS:
            raise ValueError(
                f"unknown canvas preset {preset!r}; choose one of {sorted(CANVAS_PRESETS)}"
            )
        preset = CANVAS_PRESETS[preset]
    digits = load_digits(split, mnist_root)
    if limit is not None:
        keep = np.sort(np.random.default_rng(0).permutation(len(digits))[:limit])
        digits = DigitSet(digits.images[keep], digits.labels[keep])
    if isinstance(preset, TaskSpec):
        return TaskCanvas(digits, preset, augment)
    return CanvasDataset(digits, preset, augment)
