"""One differentiable episode of a classifier (glance, then focus at given locations) and its loss.

Any :class:`~classifiers.GlanceFocusClassifier` unrolls through its ``glance``/``focus`` methods,
the patches cut as the environment cuts them (:func:`~classifiers.patches.patch_corners`,
:func:`~classifiers.patches.crop_patches`). A model may offer more, optionally:

``unroll(images, locations) -> [(logits, aux_logits), ...]``
    per step (glance first) the head's logits and auxiliary logits to supervise as well, such as
    GFNet's encoder classifiers (deep supervision; :class:`~classifiers.GFModel` offers it). The
    loss then adds ``dsn_ratio`` times their cross-entropy. ``aux_logits`` may be ``None``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from classifiers.interface import GlanceFocusClassifier
from classifiers.patches import crop_patches, patch_corners

Steps = list[tuple[torch.Tensor, torch.Tensor | None]]
"""Per step (glance first): the logits and the auxiliary logits (``None`` when not offered)."""


def unroll(model: GlanceFocusClassifier, images: torch.Tensor, locations: torch.Tensor) -> Steps:
    """Glance at ``images`` ``(N, C, H, W)``, then focus at ``locations`` ``(N, T-1, 2)`` in [0, 1].

    Uses the model's own ``unroll`` when it has one (deep supervision, see the module docstring),
    else its ``glance`` and ``focus``; differentiable either way.
    """
    offered = getattr(model, "unroll", None)
    if callable(offered):
        return list(offered(images, locations))
    out = model.glance(images)
    steps: Steps = [(out.logits, None)]
    size = (images.shape[-2], images.shape[-1])
    for t in range(locations.shape[1]):
        corners = patch_corners(locations[:, t], size, model.patch_size)
        out = model.focus(crop_patches(images, corners, model.patch_size), out.state)
        steps.append((out.logits, None))
    return steps


class Unrolled(nn.Module):
    """:func:`unroll` as a module's ``forward``, so that DistributedDataParallel sees the
    training computation of any classifier.

    Args:
        model: the classifier (an ``nn.Module`` implementing the interface).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, locations: torch.Tensor) -> Steps:
        return unroll(self.model, images, locations)


def step_loss(steps: Steps, labels: torch.Tensor, dsn_ratio: float) -> torch.Tensor:
    """Mean over steps of the cross-entropy of each step's logits, plus ``dsn_ratio`` times that
    of its auxiliary logits where the model gives them."""
    losses = [
        F.cross_entropy(logits, labels)
        if aux is None
        else F.cross_entropy(logits, labels) + dsn_ratio * F.cross_entropy(aux, labels)
        for logits, aux in steps
    ]
    return torch.stack(losses).mean()
