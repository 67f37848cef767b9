"""A classifier that is not a GFModel: a plain ``nn.Module`` implementing the interface, with no
``unroll`` (so no deep supervision) and a ``config`` without ``to_dict``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from classifiers import StepFlops, StepOutput


class PlainClassifier(nn.Module):
    """One small conv encoder for glances and patches and a GRU cell over the steps.

    Args:
        patch_size: side of the focus patches.
        state_dim: size of the recurrent state (the observation).
        feature_shape: ``(C, h, w)`` of the reported feature maps.
    """

    num_classes = 10
    in_chans = 1

    def __init__(
        self,
        patch_size: int = 28,
        state_dim: int = 32,
        feature_shape: tuple[int, int, int] = (8, 2, 2),
    ):
        super().__init__()
        self.patch_size, self.state_dim, self.feature_shape = patch_size, state_dim, feature_shape
        self.config = {"patch_size": patch_size}  # a config, but no to_dict()
        self.conv = nn.Conv2d(1, feature_shape[0], 5, stride=3)
        self.cell = nn.GRUCell(feature_shape[0], state_dim)
        self.fc = nn.Linear(state_dim, self.num_classes)

    @property
    def device(self) -> torch.device:
        return self.fc.weight.device

    def _step(self, x: torch.Tensor, state: torch.Tensor | None) -> StepOutput:
        fmap = F.relu(self.conv(F.interpolate(x, size=(self.patch_size, self.patch_size))))
        state = self.cell(fmap.amax((2, 3)), state)
        features = F.adaptive_avg_pool2d(fmap, self.feature_shape[1:])
        return StepOutput(self.fc(state), state, features)

    def glance(self, images: torch.Tensor) -> StepOutput:
        return self._step(images, None)

    def focus(self, patches: torch.Tensor, state: torch.Tensor) -> StepOutput:
        return self._step(patches, state)

    def step_flops(self) -> StepFlops:
        return StepFlops(glance=1000, focus=1000)
