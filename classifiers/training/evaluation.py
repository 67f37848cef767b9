"""The one per-step evaluation loop: accuracy after the glance and after each focus step.

Every kind of focus location (random, digit-centred, a policy's) is evaluated on the same images in
one pass, so their rows compare like for like: the images come from the batches, the random
locations of batch ``b`` from their own generator seeded ``(seed, rank, b)``, the same for every
kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch

from classifiers.data import ImageSource
from classifiers.interface import GlanceFocusClassifier
from classifiers.training.batches import Batch, Locate, eval_batches, random_locate
from classifiers.training.distributed import Distributed
from classifiers.training.steps import unroll

EVAL_SEED = 12345
"""Seed of the evaluation canvases and random locations: every evaluation sees the same ones."""


def step_correct(
    model: GlanceFocusClassifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    locations: torch.Tensor,
) -> np.ndarray:
    """How many of a batch the model gets right after each step (glance first) when it focuses at
    ``locations``."""
    steps = unroll(model, images, locations)
    return np.array([(logits.argmax(1).cpu() == labels.cpu()).sum().item() for logits, _ in steps])


@torch.inference_mode()
def evaluate_steps(
    model: GlanceFocusClassifier,
    batches: Iterable[Batch],
    locates: Mapping[str, Locate],
    seed: int = EVAL_SEED,
    distributed: Distributed | None = None,
) -> dict[str, list[float]]:
    """Accuracy after each step (glance first) per kind of location, on every image of ``batches``.

    Args:
        model: the classifier (an ``nn.Module`` is switched to eval mode and back).
        batches: ``(images, labels, boxes)``, e.g. :func:`~classifiers.training.batches.eval_batches`.
        locates: name -> :data:`~classifiers.training.batches.Locate`, each applied to every batch.
        seed: seeds each batch's location generator (with the rank and the batch index).
        distributed: when given, the counts are summed over its processes (each process passes
            its own share of the images, or all of them).

    Returns:
        name -> accuracies, one per step.
    """
    was_training = getattr(model, "training", False)
    if isinstance(model, torch.nn.Module):
        model.eval()
    rank = distributed.rank if distributed is not None else 0
    counts = {kind: 0 for kind in locates}
    total = 0
    for b, (images, labels, boxes) in enumerate(batches):
        images = images.to(model.device)
        for kind, locate in locates.items():
            locations = locate(images, labels, boxes, np.random.default_rng([seed, rank, b]))
            locations = torch.as_tensor(locations).to(model.device)
            counts[kind] = counts[kind] + step_correct(model, images, labels, locations)
        total += len(labels)
    if isinstance(model, torch.nn.Module):
        model.train(was_training)
    if total == 0:
        raise ValueError("evaluation got no images; pass a non-empty test set")
    kinds = list(locates)
    sums = torch.tensor(np.concatenate([*(counts[k] for k in kinds), [total]]), dtype=torch.float64)
    if distributed is not None:
        sums = distributed.all_sum(sums.to(distributed.device)).cpu()
    per_kind = sums[:-1].reshape(len(kinds), -1) / sums[-1]
    return {kind: row.tolist() for kind, row in zip(kinds, per_kind, strict=True)}


def evaluate(
    model: GlanceFocusClassifier,
    data: ImageSource,
    focus_steps: int,
    batch_size: int = 256,
    seed: int = EVAL_SEED,
    target_prob: float = 0.0,
    jitter: float = 0.25,
    locate: Locate | None = None,
) -> list[float]:
    """Accuracy after each step (glance first) on every image of ``data``, one rendering each.

    Locations are uniform (``target_prob=0``), all digit-centred (``target_prob=1``) or chosen by
    ``locate`` (e.g. a policy); the images and the locations depend only on ``seed``, so two calls
    with the same seed see the same canvases.
    """
    if locate is None:
        locate = random_locate(model.patch_size, focus_steps, target_prob, jitter)
    batches = eval_batches(data, batch_size, seed)
    return evaluate_steps(model, batches, {"accuracy": locate}, seed)["accuracy"]
