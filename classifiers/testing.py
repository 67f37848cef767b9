"""Stand-ins for tests: a tiny random classifier that needs no trained weights.

:class:`FakeClassifier` implements :class:`~classifiers.GlanceFocusClassifier` for any image size,
patch size, number of classes and channels, with a few hundred random (seeded) parameters, so
an environment built on it starts and steps in microseconds. Use it wherever a test checks the
environment's or an agent's mechanics (spaces, seeding, bad input, wrappers) rather than what a
trained classifier sees, as Stable-Baselines3's ``IdentityEnv`` and ``FakeImageEnv`` stand in for
real tasks.

>>> import gymnasium as gym
>>> import gf_env
>>> from classifiers.testing import FakeClassifier
>>> env = gym.make("GlanceFocus-ClutteredMNIST-v0", classifier=FakeClassifier(patch_size=28))
>>> obs, info = env.reset(seed=0)
>>> obs.shape
(16,)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from classifiers.interface import StepFlops, StepOutput


class FakeClassifier(nn.Module):
    """A tiny, random, deterministic glance/focus classifier.

    A step average-pools its input (the whole image or a patch) to a ``feature_size`` square,
    mixes channels with a 1x1 convolution (the feature map), and updates a ``tanh`` recurrent
    state from the previous state and the flattened map; a linear head gives the logits. The
    glance starts from a zero state. Outputs depend on the input, so different patches give
    different rewards, but nothing is learned.

    Args:
        num_classes: classes it predicts.
        in_chans: channels of the images it takes.
        patch_size: side P of the focus patches (any P up to the image size).
        state_dim: size of the recurrent state (the env's ``hidden`` observation).
        feature_channels: channels C of the feature map (``feature_shape = (C, s, s)``).
        feature_size: side s of the feature map.
        seed: seed of the random parameters (the global torch RNG is left untouched).
        device: where the parameters live.
    """

    state_range = (-1.0, 1.0)

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        patch_size: int = 8,
        state_dim: int = 16,
        feature_channels: int = 4,
        feature_size: int = 2,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ):
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.patch_size = patch_size
        self.state_dim = state_dim
        self.feature_shape = (feature_channels, feature_size, feature_size)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.mix = nn.Conv2d(in_chans, feature_channels, kernel_size=1)
            self.update = nn.Linear(state_dim + feature_channels * feature_size**2, state_dim)
            self.head = nn.Linear(state_dim, num_classes)
        self.to(device).eval()

    @property
    def device(self) -> torch.device:
        """Where the parameters live."""
        return self.head.weight.device

    def _step(self, pixels: torch.Tensor, state: torch.Tensor) -> StepOutput:
        features = self.mix(F.adaptive_avg_pool2d(pixels, self.feature_shape[1:]))
        state = torch.tanh(self.update(torch.cat([state, features.flatten(1)], dim=1)))
        return StepOutput(logits=self.head(state), state=state, features=features)

    def glance(self, images: torch.Tensor) -> StepOutput:
        """Classify whole images ``(N, in_chans, H, W)`` of any size."""
        return self._step(images, images.new_zeros(len(images), self.state_dim))

    def focus(self, patches: torch.Tensor, state: torch.Tensor) -> StepOutput:
        """Update ``state`` with patches ``(N, in_chans, P, P)``."""
        return self._step(patches, state)

    def step_flops(self) -> StepFlops:
        """Nominal FLOPs: twice the parameter count per step (glance and focus alike)."""
        flops = 2 * sum(p.numel() for p in self.parameters())
        return StepFlops(glance=flops, focus=flops)
