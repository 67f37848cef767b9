"""The interface between image sources and their users (training loops and the environment)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


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
    """

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray | None = None


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
