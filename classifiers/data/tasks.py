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
from numpy.lib.stride_tricks import sliding_window_view

from classifiers.data.base import Batch, DigitCanvases
from classifiers.data.digits import DigitSet

_MNIST_SIDE = 28
PLACEMENT_TRIES = 16
"""Candidate layouts drawn per multi-digit canvas; the first without overlapping digits is used."""


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
SEARCH2_128 = TaskSpec(size=128, num_digits=2, num_distractors=16, distractor_size=14)
TASK_PRESETS = {"large112": LARGE_112, "max2x84": MAX2_84, "search2x128": SEARCH2_128}
"""The multi-look presets, by name (usable wherever a canvas preset name is)."""


class TaskCanvas(DigitCanvases):
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
        self._unit = digits.images.astype(np.float32) / 255.0
        self._pixels = self._scale(self._unit)
        digit_high = spec.size - spec.digit_size + 1
        per_fragment = [
            len(digits) - 1,
            *[spec.digit_size - spec.distractor_size + 1] * 2,
            *[spec.size - spec.distractor_size + 1] * 2,
        ]
        self._highs = np.array(
            per_fragment * spec.num_distractors
            + [len(digits) - 1] * (spec.num_digits - 1)
            + [digit_high] * (2 * spec.num_digits * PLACEMENT_TRIES),
            dtype=np.int64,
        )
        self._not_pair = ~np.triu(np.ones((spec.num_digits,) * 2, dtype=bool), 1)

    def _scale(self, pixels: np.ndarray) -> np.ndarray:
        """Digits ``(N, 28, 28)`` in [0, 1] resized to ``digit_size`` (bilinear)."""
        side = self.spec.digit_size
        if side == pixels.shape[-1]:
            return pixels
        return np.stack(
            [cv2.resize(p, (side, side), interpolation=cv2.INTER_LINEAR) for p in pixels]
        )

    def sample_batch(self, indices: Sequence[int], rngs: Sequence[np.random.Generator]) -> Batch:
        """Render canvas ``j`` of digit ``indices[j]`` with placements drawn from ``rngs[j]``.

        Each canvas draws all its placements with one ``random`` call on its own RNG (then, with
        ``augment``, the distortion), so canvas ``j`` equals ``sample(indices[j], rngs[j])``
        exactly. Digit positions come from ``PLACEMENT_TRIES`` candidate layouts: the first
        without overlap is used (if none is, the digits go on the diagonal). The pastes are
        additions in pasting order (the fragments, then the digits), one layer for all canvases at
        a time.

        ``boxes`` is ``(B, 4)`` with one digit, ``(B, num_digits, 4)`` with several.
        """
        indices, draws = self.draw_integers(indices, rngs)
        spec, count = self.spec, len(indices)
        k, d, f, size = spec.num_digits, spec.digit_size, spec.distractor_size, spec.size
        nf = spec.num_distractors
        # per canvas: [source, crop row, crop col, row, col] per fragment, k - 1 other digits,
        # then PLACEMENT_TRIES layouts of k (row, col) corners
        frag = draws[:, : 5 * nf].reshape(count, nf, 5)
        others = draws[:, 5 * nf : 5 * nf + k - 1]
        layouts = draws[:, 5 * nf + k - 1 :].reshape(count, PLACEMENT_TRIES, k, 2)
        sources = np.concatenate([indices[:, None], others + (others >= indices[:, None])], 1)
        frag_source = frag[..., 0] + (frag[..., 0] >= indices[:, None])
        gaps = np.abs(layouts[:, :, :, None] - layouts[:, :, None, :]).max(axis=-1)
        valid = np.all((gaps >= d) | self._not_pair, axis=(2, 3))  # (count, tries)
        first = np.argmax(valid, axis=1)
        corners = layouts[np.arange(count), first]  # (count, k, 2)
        diagonal = np.linspace(0, size - d, k).astype(np.int64)[:, None].repeat(2, 1)
        corners[~valid.any(axis=1)] = diagonal
        if self.augment is None:
            digits = [self._pixels[sources[:, layer]] for layer in range(k)]
        else:
            raw = self._unit[sources]
            augmented = np.stack(
                [
                    self._scale(np.stack([self.augment(digit, rng) for digit in canvas]))
                    for canvas, rng in zip(raw, rngs, strict=True)
                ]
            )
            digits = list(augmented.transpose(1, 0, 2, 3))
        # (square side, rows, columns, values) per layer, in pasting order: fragments, then digits;
        # fragments are cut from a view of every f x f window of every digit (made per call: kept
        # as an attribute, pickling would copy out all the windows)
        pieces = sliding_window_view(self._pixels, (f, f), axis=(1, 2))
        layers = [
            (
                f,
                frag[:, j, 3],
                frag[:, j, 4],
                pieces[frag_source[:, j], frag[:, j, 1], frag[:, j, 2]],
            )
            for j in range(nf)
        ]
        layers += [(d, corners[:, j, 0], corners[:, j, 1], digits[j]) for j in range(k)]
        canvas = np.zeros((count, size, size), dtype=np.float32)
        # One paste per layer for all canvases at once, layers in pasting order: a pixel's
        # overlapping pastes add up in the same order as one by one. Values are clipped to [0, 1]
        # after the last layer; with pixels in [0, 1] (no augment) the partial sums only grow, so
        # capping each paste at 1 as it lands gives the same canvas without a pass over all of it.
        capped = self.augment is None
        rows = np.arange(count)
        slots = {  # every square window of the canvases, per paste side (one view each)
            side: sliding_window_view(canvas, (side, side), axis=(1, 2), writeable=True)
            for side in {f, d}
        }
        for side, top, left, values in layers:
            region = slots[side][rows, top, left]
            region += values
            if capped:
                np.minimum(region, 1.0, out=region)
            slots[side][rows, top, left] = region
        if not capped:
            np.clip(canvas, 0.0, 1.0, out=canvas)
        boxes = np.concatenate([corners, np.full_like(corners, d)], axis=2)
        labels = self.digits.labels[sources].max(axis=1)
        return Batch(canvas[:, None], labels, boxes if k > 1 else boxes[:, 0])
