"""The interface between image sources and their users (training loops and the environment)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from classifiers.data.digits import DigitSet


@dataclass(frozen=True)
class Sample:
    """One image of a source.

    Args:
        image: ``(C, H, W)`` ``float32`` array with values in [0, 1].
        label: the true class.
        box: where the object is, ``(top, left, height, width)`` in pixels, when the source knows.
    """

    image: np.ndarray
    label: int
    box: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class Batch:
    """Several images of a source.

    Args:
        images: ``(B, C, H, W)`` ``float32`` array with values in [0, 1].
        labels: ``(B,)`` ``int64`` true classes.
        boxes: ``(B, 4)`` object boxes (top, left, height, width), when the source knows.
        indices: ``(B,)`` index of the image each row shows, when a source may show another than
            the one asked for (an image folder replaces an unreadable file by the next one).
    """

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray | None = None
    indices: np.ndarray | None = None


def flat_squares(corner: np.ndarray, side: int, width: int) -> np.ndarray:
    """Flat indices of ``side x side`` squares whose top-left flat index is ``corner`` in an array
    of row length ``width``; ``corner``'s shape comes first, then rows, then columns (the index
    arithmetic of pasting many squares with one scatter-add)."""
    span = np.arange(side)
    return (corner[..., None, None] + (span * width)[:, None] + span[None, :]).reshape(-1)


@runtime_checkable
class ImageSource(Protocol):
    """A finite, indexable set of labelled images whose rendering may draw from RNGs.

    ``sample_batch(indices, rngs)`` renders image ``indices[j]`` drawing only from ``rngs[j]``; it
    must be a pure function of the indices and the RNG states, so that seeded episodes are
    reproducible and a batch equals the same images rendered one by one.
    """

    num_classes: int
    image_shape: tuple[int, int, int]

    def __len__(self) -> int: ...

    def sample_batch(
        self, indices: Sequence[int], rngs: Sequence[np.random.Generator]
    ) -> Batch: ...


class ArraySource:
    """An :class:`ImageSource` over images already in memory (nothing is drawn at random).

    Args:
        images: ``(N, C, H, W)`` ``float32`` array with values in [0, 1].
        labels: ``(N,)`` true classes.
        num_classes: number of classes of the task.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, num_classes: int):
        images = np.asarray(images, dtype=np.float32)
        labels = np.asarray(labels, dtype=np.int64)
        if images.ndim != 4 or len(labels) != len(images):
            raise ValueError(
                f"ArraySource takes images (N, C, H, W) and N labels, got images {images.shape} "
                f"and labels {labels.shape}"
            )
        self.images = images
        self.labels = labels
        self.num_classes = int(num_classes)
        self.image_shape = tuple(images.shape[1:])

    def __len__(self) -> int:
        return len(self.images)

    def sample_batch(self, indices: Sequence[int], rngs: Sequence[np.random.Generator]) -> Batch:
        index = np.asarray(indices, dtype=np.int64)
        return Batch(self.images[index], self.labels[index])


def spread_indices(available: int, count: int) -> np.ndarray:
    """``count`` indices out of ``available``, spread evenly (``i * available // count``): all of
    them, in order, when ``count == available``. The one rule by which a subset of images is
    picked for evaluation (:func:`agents.evaluate_anytime`'s ``max_images``,
    :meth:`DigitCanvases.spread`)."""
    if not 0 < count <= available:
        raise ValueError(f"cannot pick {count} of {available} images; pick 1 to {available}")
    return np.arange(count, dtype=np.int64) * available // count


class DigitCanvases:
    """What the canvas families drawn from a :class:`~classifiers.data.DigitSet` share: length,
    ``head``, ``sample`` and the seeded integer draws.

    Subclasses take ``(digits, spec, augment)``, set those attributes and ``_highs`` (the exclusive
    upper bound of each integer a canvas draws), and implement ``sample_batch``.
    """

    digits: DigitSet
    spec: Any
    augment: Any
    _highs: np.ndarray

    def __len__(self) -> int:
        return len(self.digits)

    def head(self, count: int) -> DigitCanvases:
        """The same canvases on only the first ``count`` digits."""
        return self.take(np.arange(min(count, len(self))))

    def spread(self, count: int) -> DigitCanvases:
        """The same canvases on ``count`` digits spread evenly over the set
        (:func:`spread_indices`): every class of a set stored in class order, like the embedded
        digits, where :meth:`head` would keep the lower digits only."""
        return self.take(spread_indices(len(self), min(count, len(self))))

    def take(self, indices: Sequence[int] | np.ndarray) -> DigitCanvases:
        """The same canvases on the digits at ``indices``, in that order."""
        index = np.asarray(indices, dtype=np.int64)
        digits = DigitSet(self.digits.images[index], self.digits.labels[index])
        return type(self)(digits, self.spec, self.augment)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)}, spec={self.spec}, augment={self.augment})"

    def sample(self, index: int, rng: np.random.Generator) -> Sample:
        """Render the canvas of digit ``index`` with placements drawn from ``rng``; ``box`` is the
        digit's box, or one box per digit on canvases with several."""
        batch = self.sample_batch([index], [rng])
        boxes = batch.boxes[0]
        if boxes.ndim == 1:
            box = tuple(int(v) for v in boxes)
        else:
            box = tuple(tuple(int(v) for v in b) for b in boxes)
        return Sample(batch.images[0], int(batch.labels[0]), box)

    def draw_integers(
        self, indices: Sequence[int], rngs: Sequence[np.random.Generator]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Checked ``indices`` and, for canvas ``j``, one integer below each of ``_highs`` from a
        single ``random`` call on ``rngs[j]``: ``(indices, draws (B, len(_highs)))``."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(indices) != len(rngs):
            raise ValueError(
                f"got {len(indices)} indices but {len(rngs)} RNGs; pass one RNG per index"
            )
        bad = indices[(indices < 0) | (indices >= len(self))]
        if len(bad):
            raise IndexError(f"digit index {int(bad[0])} out of range for {len(self)} digits")
        uniforms = np.stack([rng.random(len(self._highs)) for rng in rngs])
        return indices, np.minimum((uniforms * self._highs).astype(np.int64), self._highs - 1)
