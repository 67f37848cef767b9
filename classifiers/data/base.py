"""The interface between image sources and their users (training loops and the environment)."""

from __future__ import annotations

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


@runtime_checkable
class ImageSource(Protocol):
    """A finite, indexable set of labelled images whose rendering may draw from an RNG.

    ``sample(index, rng)`` must be a pure function of ``index`` and the state of ``rng``, so that
    seeded episodes are reproducible.
    """

    num_classes: int
    image_shape: tuple[int, int, int]

    def __len__(self) -> int: ...

    def sample(self, index: int, rng: np.random.Generator) -> Sample: ...
