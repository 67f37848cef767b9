"""Feature extractors for Stable-Baselines3 policies on glance-and-focus observations."""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class GlanceStateExtractor(BaseFeaturesExtractor):
    """Encodes the classifier's state for the policy, in the spirit of GFNet's state encoder.

    With the default ``Box`` observation (the classifier's recurrent state) it is an MLP. With
    ``observation="dict"`` the last feature map goes through GFNet's convolutional state encoder
    (a 1x1 convolution to ``map_channels`` channels, flatten, linear) and is joined with the
    recurrent state, the one-hot step index and the locations visited so far.

    Args:
        observation_space: the env's single observation space (``Box`` or ``Dict``).
        features_dim: size of the output features.
        map_channels: channels of the 1x1 convolution on the feature map (dict observations).

    Example:
        >>> from stable_baselines3 import PPO
        >>> from agents import GlanceStateExtractor
        >>> policy_kwargs = {"features_extractor_class": GlanceStateExtractor,
        ...                  "features_extractor_kwargs": {"features_dim": 256}}
    """

    def __init__(
        self, observation_space: gym.Space, features_dim: int = 256, map_channels: int = 32
    ):
        super().__init__(observation_space, features_dim)
        if isinstance(observation_space, gym.spaces.Box):
            self.hidden = nn.Sequential(
                nn.Linear(observation_space.shape[0], features_dim), nn.ReLU()
            )
            self.feature_map = None
            return
        if (
            not isinstance(observation_space, gym.spaces.Dict)
            or "hidden" not in observation_space.spaces
        ):
            raise TypeError(
                f"GlanceStateExtractor takes the env's Box or Dict observation space, got {observation_space}"
            )
        spaces = observation_space.spaces
        channels, height, width = spaces["features"].shape
        self.feature_map = nn.Sequential(
            nn.Conv2d(channels, map_channels, 1, bias=False),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(map_channels * height * width, features_dim),
            nn.ReLU(),
        )
        self.num_steps = int(spaces["step"].n)
        extra = (
            spaces["hidden"].shape[0]
            + self.num_steps
            + int(torch.tensor(spaces["locations"].shape).prod())
        )
        self.hidden = nn.Sequential(nn.Linear(extra, features_dim), nn.ReLU())
        self.join = nn.Sequential(nn.Linear(2 * features_dim, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        if self.feature_map is None:
            return self.hidden(observations)
        # SB3 one-hot encodes Discrete entries of a Dict observation before the extractor.
        step = observations["step"].reshape(len(observations["hidden"]), -1)
        flat = torch.cat(
            [observations["hidden"], step, observations["locations"].flatten(1)], dim=1
        )
        return self.join(
            torch.cat([self.feature_map(observations["features"]), self.hidden(flat)], dim=1)
        )
