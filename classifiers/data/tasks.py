"""MNIST canvases on which one patch is not enough: large digits, several digits, digit-like clutter.

On the translated and cluttered canvases one well-placed patch holds the whole digit, so a policy's
first choice decides the episode. A :class:`TaskSpec` canvas needs several looks for one of
two reasons, or both:

- *Large digits* (``digit_size`` > the patch): a digit scaled up so that a patch sees only part of
  it, with a glance too coarse to read it, as objects on ImageNet are larger than GFNet's patches.
- *Several digits* (``num_digits`` > 1): the class is the **largest** digit on the canvas, so
  every digit has to be read (or a 9 found); the maximum needs no reading order, which a
  recurrent head without patch positions could not learn. (Their sum was tried first: trained
  from scratch it stayed at chance for 4 epochs, because one patch says little about a sum.)

``num_distractors`` fragments of other digits (``distractor_size`` pixels square, cut from digits
scaled to ``digit_size``) are laid down first, then the digits, at non-overlapping positions;
values are clipped to [0, 1]. Every placement is drawn from the RNG of its canvas, so a seeded RNG
gives the same canvas and a batch equals its canvases rendered one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from classifiers.data.base import Batch, Sample
from classifiers.data.digits import DigitSet

_MNIST_SIDE = 28


@dataclass(frozen=True)
class TaskSpec:
    """Geometry of a multi-look canvas family.

    Args:
        size: canvas side W in pixels.
        num_digits: digits per canvas; the label is the largest of them.
        digit_size: side of each digit after scaling (28 = MNIST's own size).
        num_distractors: number of clutter fragments, laid down before the digits.
        distractor_size: side of each fragment, cut from another digit scaled to ``digit_size``.
    """

    size: int
    num_digits: int = 1
    digit_size: int = _MNIST_SIDE
    num_distractors: int = 0
    distractor_size: int = 8

    def __post_init__(self) -> None:
        if self.num_digits < 1:
            raise ValueError(f"num_digits must be >= 1, got {self.num_digits}")
        if self.digit_size < 1:
            raise ValueError(f"digit_size must be >= 1, got {self.digit_size}")
        if self.num_distractors < 0:
            raise ValueError(f"num_distractors must be >= 0, got {self.num_distractors}")
        if not 1 <= self.distractor_size <= self.digit_size:
            raise ValueError(
                f"distractor_size must be in [1, digit_size={self.digit_size}], "
                f"got {self.distractor_size}"
            )
        # the digits must fit side by side without overlap
        per_row = self.size // self.digit_size
        if per_row * per_row < self.num_digits:
            raise ValueError(
                f"{self.num_digits} digits of side {self.digit_size} do not fit on a "
                f"{self.size}x{self.size} canvas; enlarge size or shrink digit_size"
            )


LARGE_112 = TaskSpec(size=112, digit_size=56, num_distractors=6, distractor_size=20)
MAX2_84 = TaskSpec(size=84, num_digits=2, num_distractors=4)
SEARCH3_128 = TaskSpec(size=128, num_digits=3, num_distractors=24, distractor_size=14)
TASK_PRESETS = {"large112": LARGE_112, "max2x84": MAX2_84, "search3x128": SEARCH3_128}
"""The multi-look presets, by name (usable wherever a canvas preset name is)."""


class TaskCanvas:
    """Labelled multi-look canvases drawn on demand; implements :class:`~classifiers.data.ImageSource`.

    Canvas ``i`` holds digit ``i`` of ``digits`` and, when ``num_digits`` > 1, further digits
    drawn at random from the rest of the set; its label is the largest digit on it.

    Args:
        digits: the digits of one split; extra digits and distractors come from the same set.
        spec: canvas geometry.
        augment: distortion of each 28 x 28 digit before scaling (training only), or ``None``;
            e.g. :class:`~classifiers.data.DigitAugment`.

    Example:
        >>> import numpy as np
        >>> from classifiers.data import MAX2_84, TaskCanvas, load_digits
        >>> data = TaskCanvas(load_digits("test"), MAX2_84)
        >>> sample = data.sample(0, np.random.default_rng(0))
        >>> sample.image.shape, len(sample.box)
        ((1, 84, 84), 2)
    """

    num_classes = 10

    def __init__(
        self,
        digits: DigitSet,
        spec: TaskSpec,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    ):
        self.digits = digits
        self.spec = spec
        self.augment = augment
        self.image_shape = (1, spec.size, spec.size)
        self._pixels = self._scale(digits.images)

    def _scale(self, images: np.ndarray) -> np.ndarray:
        """``images`` (N, 28, 28) in [0, 255] as float32 in [0, 1] at ``digit_size``."""
        side = self.spec.digit_size
        pixels = images.astype(np.float32) / 255.0
        if side == pixels.shape[-1]:
            return pixels
        return np.stack(
            [cv2.resize(p, (side, side), interpolation=cv2.INTER_LINEAR) for p in pixels]
        )

    def __len__(self) -> int:
        return len(self.digits)

    def head(self, count: int) -> TaskCanvas:
        """The same canvases on only the first ``count`` digits."""
        digits = DigitSet(self.digits.images[:count], self.digits.labels[:count])
        return TaskCanvas(digits, self.spec, self.augment)

    def __repr__(self) -> str:
        return f"TaskCanvas(n={len(self)}, spec={self.spec}, augment={self.augment})"

    def sample(self, index: int, rng: np.random.Generator) -> Sample:
        """Render canvas ``index`` with placements drawn from ``rng``; ``box`` is the digit's box,
        or one box per digit when there are several."""
        batch = self.sample_batch([index], [rng])
        boxes = batch.boxes[0]
        if boxes.ndim == 2:
            box = tuple(tuple(int(v) for v in b) for b in boxes)
        else:
            box = tuple(int(v) for v in boxes)
        return Sample(batch.images[0], int(batch.labels[0]), box)

    def _draw(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """One canvas's digits, their corners, and its fragments (sources, crops, corners)."""
        spec, n = self.spec, len(self)
        k, d, f = spec.num_digits, spec.digit_size, spec.distractor_size
        others = rng.integers(0, n - 1, size=k - 1)
        sources = np.concatenate([[index], others + (others >= index)])
        frag_source = rng.integers(0, n - 1, size=spec.num_distractors)
        frag_source = frag_source + (frag_source >= index)
        frag_crop = rng.integers(0, d - f + 1, size=(spec.num_distractors, 2))
        frag_corner = rng.integers(0, spec.size - f + 1, size=(spec.num_distractors, 2))
        while True:  # rejection: digits may not overlap
            corners = rng.integers(0, spec.size - d + 1, size=(k, 2))
            gaps = np.abs(corners[:, None, :] - corners[None, :, :]).max(axis=2)
            if np.all(gaps[np.triu_indices(k, 1)] >= d):
                break
        return sources, corners, frag_source, frag_crop, frag_corner

    def sample_batch(self, indices: Sequence[int], rngs: Sequence[np.random.Generator]) -> Batch:
        """Render canvas ``j`` of digit ``indices[j]`` with placements drawn from ``rngs[j]``.

        ``boxes`` is ``(B, 4)`` with one digit, ``(B, num_digits, 4)`` with several.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(indices) != len(rngs):
            raise ValueError(
                f"got {len(indices)} indices but {len(rngs)} RNGs; pass one RNG per index"
            )
        bad = indices[(indices < 0) | (indices >= len(self))]
        if len(bad):
            raise IndexError(f"digit index {int(bad[0])} out of range for {len(self)} digits")
        spec, count = self.spec, len(indices)
        d, f, size = spec.digit_size, spec.distractor_size, spec.size
        canvas = np.zeros((count, size, size), dtype=np.float32)
        boxes = np.zeros((count, spec.num_digits, 4), dtype=np.int64)
        labels = np.zeros(count, dtype=np.int64)
        span_d, span_f = np.arange(d), np.arange(f)
        for j, (index, rng) in enumerate(zip(indices, rngs, strict=True)):
            sources, corners, frag_source, frag_crop, frag_corner = self._draw(int(index), rng)
            for src, (cr, cc), (r, c) in zip(frag_source, frag_crop, frag_corner, strict=True):
                piece = self._pixels[src, cr : cr + f, cc : cc + f]
                np.add.at(canvas[j], (r + span_f[:, None], c + span_f[None, :]), piece)
            for i, (src, (r, c)) in enumerate(zip(sources, corners, strict=True)):
                digit = self._pixels[src]
                if self.augment is not None:
                    digit = self._scale(self.augment(self.digits.images[src], rng)[None])[0]
                canvas[j, r + span_d[:, None], c + span_d[None, :]] += digit
                boxes[j, i] = (r, c, d, d)
            labels[j] = self.digits.labels[sources].max()
        np.clip(canvas, 0.0, 1.0, out=canvas)
        return Batch(canvas[:, None], labels, boxes if spec.num_digits > 1 else boxes[:, 0])
