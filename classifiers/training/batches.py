"""What a trainer draws each step: batches of labelled images, and where their focus patches go.

A *batch source* (:class:`BatchSource`) yields an epoch's ``(images, labels, boxes)``; a *locate*
callable (:data:`Locate`) maps a batch to its focus locations. The trainer composes the two, so
stage 1 (random or digit-centred patches, :func:`random_locate`) and stage 3 (a policy's patches,
``agents.finetune``) share one training loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from classifiers.data import ImageSource
from classifiers.patches import centre_locations

Locate = Callable[[torch.Tensor, torch.Tensor, np.ndarray, np.random.Generator], np.ndarray]
"""``(images, labels, boxes, rng) -> locations``: where a batch's focus patches go.

``images`` ``(N, C, H, W)`` on the model's device, ``labels`` ``(N,)`` on the CPU, ``boxes``
``(N, 4)`` (top, left, height, width) of the objects (the whole image when unknown); ``rng`` is the
epoch's generator (draw from it only for random locations). Returns ``(N, focus_steps, 2)`` floats
in [0, 1] (row, column), as the environment's continuous actions.
"""

Batch = tuple[torch.Tensor, torch.Tensor, np.ndarray]
"""``(images (N, C, H, W) float32 in [0, 1], labels (N,) int64, boxes (N, 4))``."""


@runtime_checkable
class BatchSource(Protocol):
    """The training batches of each epoch.

    Attributes:
        batches_per_epoch: how many batches :meth:`epoch` yields (sizes the LR schedule).
    """

    batches_per_epoch: int

    def epoch(self, epoch: int, rng: np.random.Generator) -> Iterator[Batch]:
        """The batches of epoch ``epoch`` (0-based), drawing any randomness from ``rng``."""
        ...


def sample_locations(
    boxes: np.ndarray,
    image_size: tuple[int, int],
    patch_size: int,
    steps: int,
    target_prob: float,
    jitter: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Focus locations ``(N, steps, 2)`` in [0, 1]: uniform, or around ``boxes`` with ``target_prob``.

    The same numbers are drawn whatever ``target_prob`` is, so two calls from equal generators
    differ only in which locations they keep.

    Args:
        boxes: ``(N, 4)`` (top, left, height, width) of the target objects, or ``(N, K, 4)``
            for K objects per image (several digits): step t is then around object
            ``(s + t) mod K`` from a random start s, so one image's steps visit every object.
        image_size: ``(H, W)`` of the images.
        patch_size: side P of the focus patches.
        steps: focus steps per image.
        target_prob: probability that a location is centred on the object (plus jitter).
        jitter: max offset of a centred patch from the object centre, as a fraction of P.
        rng: the generator drawn from.
    """
    n = len(boxes)
    uniform = rng.random((n, steps, 2))
    if boxes.ndim == 3:  # several objects per image: step t visits object (s + t) mod K
        k = boxes.shape[1]
        visit = (rng.integers(0, k, size=(n, 1)) + np.arange(steps)) % k
        boxes = boxes[np.arange(n)[:, None], visit]  # (N, steps, 4)
    else:
        boxes = boxes[:, None, :]
    centre = boxes[..., :2] + boxes[..., 2:] / 2.0
    offset = rng.uniform(-jitter, jitter, (n, steps, 2)) * patch_size
    targeted = centre_locations(centre + offset, image_size, patch_size)
    use_target = rng.random((n, steps, 1)) < target_prob
    return np.clip(np.where(use_target, targeted, uniform), 0.0, 1.0)


def random_locate(
    patch_size: int, steps: int, target_prob: float = 0.0, jitter: float = 0.25
) -> Locate:
    """Stage 1's :data:`Locate`: :func:`sample_locations` on each batch's boxes.

    Args:
        patch_size: side P of the model's focus patches.
        steps: focus steps per image.
        target_prob: probability of a digit-centred location; 0 is GFNet's uniform stage 1.
        jitter: max offset of a centred patch, as a fraction of P.
    """

    def locate(images, labels, boxes, rng):
        size = (images.shape[-2], images.shape[-1])
        return sample_locations(boxes, size, patch_size, steps, target_prob, jitter, rng)

    return locate


def draw_batch(data: ImageSource, indices: np.ndarray, rng: np.random.Generator) -> Batch:
    """Images ``indices`` of ``data`` drawn one after the other from one ``rng``.

    Sources with a ``sample(index, rng)`` method (the MNIST canvases) are drawn image by image;
    others through ``sample_batch(indices, [rng] * N)``. Boxes a source does not know are the whole
    image.
    """
    shape = data.image_shape
    whole = (0, 0, shape[1], shape[2])
    if hasattr(data, "sample"):
        samples = [data.sample(int(i), rng) for i in indices]
        images = np.stack([s.image for s in samples])
        labels = np.array([s.label for s in samples], dtype=np.int64)
        boxes = np.array([s.box if s.box is not None else whole for s in samples])
    else:
        batch = data.sample_batch(indices, [rng] * len(indices))
        images, labels = batch.images, np.asarray(batch.labels, dtype=np.int64)
        boxes = batch.boxes if batch.boxes is not None else np.tile(whole, (len(indices), 1))
    return torch.from_numpy(np.asarray(images)), torch.from_numpy(labels), np.asarray(boxes)


class SourceBatches:
    """Training batches from an :class:`~classifiers.data.ImageSource` (e.g. MNIST canvases).

    Every epoch visits the images in a fresh order and draws fresh renderings (new canvases), all
    from the epoch's generator; the last batch may be smaller.

    Args:
        data: the training images.
        batch_size: images per batch (per process).
        world_size: processes sharing an epoch; each draws ``1 / world_size`` of its batches.
    """

    def __init__(self, data: ImageSource, batch_size: int, world_size: int = 1):
        self.data = data
        self.batch_size = batch_size
        self.batches_per_epoch = -(-len(data) // (batch_size * world_size))
        if self.batches_per_epoch < 1:
            raise ValueError(f"the training data {data!r} is empty; pass a source with images")

    def epoch(self, epoch: int, rng: np.random.Generator) -> Iterator[Batch]:
        order = rng.permutation(len(self.data))
        for b in range(self.batches_per_epoch):
            indices = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield draw_batch(self.data, indices, rng)


def eval_batches(data: ImageSource, batch_size: int, seed: int) -> Iterator[Batch]:
    """Every image of ``data`` once, in order, rendered from ``default_rng(seed)``: the same
    canvases on every call."""
    rng = np.random.default_rng(seed)
    for start in range(0, len(data), batch_size):
        yield draw_batch(data, np.arange(start, min(start + batch_size, len(data))), rng)
