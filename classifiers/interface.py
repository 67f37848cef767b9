"""The interface that the environment depends on: a frozen glance/focus classifier.

Any object with these attributes and methods can drive :mod:`gf_env`; :class:`~classifiers.GFModel`
is the project's implementation. All tensors are batched (first dimension N) and live on
``classifier.device``; the environment calls the methods under ``torch.inference_mode()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch


@dataclass(frozen=True)
class StepOutput:
    """What one glance or focus step produces.

    Args:
        logits: ``(N, num_classes)`` class scores after this step.
        state: ``(N, state_dim)`` recurrent state after this step; the environment's observation and
            the ``state`` argument of the next :meth:`GlanceFocusClassifier.focus` call.
        features: ``(N, C, h, w)`` last feature map of the encoder that ran (``feature_shape``).
    """

    logits: torch.Tensor
    state: torch.Tensor
    features: torch.Tensor


@dataclass(frozen=True)
class StepFlops:
    """Floating-point operations per image of one glance and one focus step (head included)."""

    glance: int
    focus: int

    def cumulative(self, num_focus_steps: int) -> int:
        """FLOPs of the glance plus ``num_focus_steps`` focus steps."""
        return self.glance + num_focus_steps * self.focus


@runtime_checkable
class GlanceFocusClassifier(Protocol):
    """A recurrent classifier that first glances at a whole image, then focuses on patches.

    Attributes:
        num_classes: number of classes.
        in_chans: channels of the images it takes.
        patch_size: side P of the square patches :meth:`focus` takes.
        state_dim: size of the recurrent state vector.
        feature_shape: ``(C, h, w)`` of :attr:`StepOutput.features` (the focus encoder's map).
        device: where its parameters live; inputs must be moved there.

    Optional: ``state_range = (low, high)`` bounds the state values (the environment's observation
    space); without it the observation space is unbounded.
    """

    num_classes: int
    in_chans: int
    patch_size: int
    state_dim: int
    feature_shape: tuple[int, int, int]
    device: torch.device

    def glance(self, images: torch.Tensor) -> StepOutput:
        """Classify whole images ``(N, in_chans, H, W)`` in [0, 1], seen at low resolution."""
        ...

    def focus(self, patches: torch.Tensor, state: torch.Tensor) -> StepOutput:
        """Update ``state`` with full-resolution ``(N, in_chans, P, P)`` patches in [0, 1]."""
        ...

    def step_flops(self) -> StepFlops:
        """FLOPs per image of a glance on the training image size and of one focus step."""
        ...
