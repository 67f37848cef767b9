"""The published GFNet patch-selection policy as an agent.

GFNet's policy (``policy`` in its checkpoint files) is an actor-critic: a state encoder over the
previous step's feature map, a GRU, an actor ``Linear -> 2`` with a sigmoid (the mean location)
and a critic ``Linear -> 1``. Two state encoders exist (REFERENCE.md):

- ResNet/DenseNet: the flattened map ``C*h*w -> 2048 -> 1024`` (``state_encoder.0``, ``.2``, ReLU
  after each), GRU size 1024;
- MobileNet-V3/EfficientNet/RegNet: a 1x1 convolution to 32 channels without bias, ReLU, flatten,
  ``32*h*w -> H`` and ReLU (``state_encoder.0``, ``.3``), GRU size ``H`` = 256.

:class:`GFNetPolicy` wraps it behind SB3's ``predict`` signature (as :mod:`agents.baselines`), so
:func:`agents.evaluate_anytime` evaluates it like any other agent. Its input is the dict
observation's ``features``: the glance's feature map before the first focus, then each focus
step's; it declares ``env_kwargs = {"observation": "dict"}``. Deterministic prediction uses the
mean location (GFNet's test time); otherwise actions are drawn from a Gaussian with std 0.1 around
it and clipped to [0, 1], as in GFNet's training.

>>> from agents.gfnet_policy import load_gfnet_policy  # doctest: +SKIP
>>> policy = load_gfnet_policy("resnet50_patch_size_96.pth.tar")  # doctest: +SKIP
>>> evaluate_anytime(policy, "GlanceFocus-ImageNet-v0", classifier="gf-resnet50-p96",
...                  checkpoint="resnet50_patch_size_96.pth.tar", max_focus_steps=4)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.env_api import env_attr
from classifiers.checkpoint import CheckpointError, load_file
from classifiers.gfnet_import import strip_module_prefix

ACTION_STD = 0.1


class GFNetActorCritic(nn.Module):
    """GFNet's ``ActorCritic`` module layout (its parameter names), written anew.

    Args:
        state_dim: ``C * h * w``, the size of the flattened feature map.
        channels: ``C`` of the feature map (used by the convolutional encoder).
        hidden_size: the GRU size ``H``.
        conv: the convolutional state encoder (MobileNet/EfficientNet/RegNet) or the MLP one.
    """

    def __init__(self, state_dim: int, channels: int, hidden_size: int, conv: bool):
        super().__init__()
        self.channels = channels
        self.conv = conv
        if conv:
            self.state_encoder = nn.Sequential(
                nn.Conv2d(channels, 32, kernel_size=1, bias=False),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(state_dim * 32 // channels, hidden_size),
                nn.ReLU(),
            )
        else:
            self.state_encoder = nn.Sequential(
                nn.Linear(state_dim, 2048), nn.ReLU(), nn.Linear(2048, hidden_size), nn.ReLU()
            )
        self.gru = nn.GRU(hidden_size, hidden_size)
        self.actor = nn.Sequential(nn.Linear(hidden_size, 2), nn.Sigmoid())
        self.critic = nn.Sequential(nn.Linear(hidden_size, 1))
        self.hidden_size = hidden_size

    def forward(
        self, features: torch.Tensor, hidden: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean location ``(N, 2)``, value ``(N, 1)`` and the new GRU state ``(1, N, H)`` from
        feature maps ``(N, C, h, w)`` and the previous GRU state (``None`` = zeros)."""
        x = features if self.conv else features.flatten(1)
        encoded = self.state_encoder(x)
        out, hidden = self.gru(encoded.unsqueeze(0), hidden)
        return self.actor(out[0]), self.critic(out[0]), hidden

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], source: str) -> GFNetActorCritic:
        """Build the module a GFNet ``policy`` state dict was saved from and load it."""
        state = strip_module_prefix(state)
        needed = ["state_encoder.0.weight", "gru.weight_hh_l0", "actor.0.weight", "critic.0.weight"]
        missing = [k for k in needed if k not in state]
        if missing:
            raise CheckpointError(
                f"{source}: the policy lacks {missing}; expected GFNet's ActorCritic keys "
                f"(state_encoder.*, gru.*, actor.0.*, critic.0.*), got {sorted(state)[:8]}"
            )
        first = state["state_encoder.0.weight"]
        hidden = state["gru.weight_hh_l0"].shape[1]
        conv = first.ndim == 4
        if conv:
            channels = first.shape[1]
            linear = state.get("state_encoder.3.weight")
            if linear is None:
                raise CheckpointError(
                    f"{source}: a convolutional policy encoder needs 'state_encoder.3.weight'"
                )
            state_dim = linear.shape[1] * channels // 32
        else:
            channels, state_dim = 0, first.shape[1]
        module = cls(state_dim, max(channels, 1), hidden, conv)
        result = module.load_state_dict(state, strict=False)
        shapes = [
            f"{k}: file {tuple(v.shape)} vs model {tuple(module.state_dict()[k].shape)}"
            for k, v in state.items()
            if k in module.state_dict() and v.shape != module.state_dict()[k].shape
        ]
        if result.missing_keys or result.unexpected_keys or shapes:
            raise CheckpointError(
                f"{source}: the policy does not match GFNet's ActorCritic: missing "
                f"{result.missing_keys[:10]}, unexpected {result.unexpected_keys[:10]}, shapes {shapes}"
            )
        return module.eval()


class GFNetPolicy:
    """A GFNet policy behind SB3's ``predict`` signature (see the module docstring).

    Args:
        module: the actor-critic.
        seed: seed of the Gaussian exploration noise (``deterministic=False``).
        device: where the module runs.
    """

    name = "gfnet"
    env_kwargs = {"observation": "dict"}  # noqa: RUF012  (read-only)
    upper_bound = False

    def __init__(
        self, module: GFNetActorCritic, seed: int | None = None, device: str | torch.device = "cpu"
    ):
        self.module = module.to(device).eval()
        self.device = torch.device(device)
        self.generator = torch.Generator(device="cpu").manual_seed(0 if seed is None else seed)
        self._hidden: torch.Tensor | None = None

    def bind(self, env) -> None:
        """Check that the env's feature maps fit the policy's state encoder."""
        shape = tuple(env_attr(env, "feature_shape"))
        size = int(np.prod(shape))
        m = self.module
        expected = m.state_encoder[3].in_features * m.channels // 32 if m.conv else None
        if m.conv and (shape[0] != m.channels or size != expected):
            raise ValueError(
                f"the policy takes {m.channels}-channel feature maps of {expected} values, the "
                f"env's classifier gives {shape}; use the classifier of the policy's checkpoint"
            )
        if not m.conv and size != m.state_encoder[0].in_features:
            raise ValueError(
                f"the policy takes feature maps of {m.state_encoder[0].in_features} values, the "
                f"env's classifier gives {shape} = {size}; use the classifier of its checkpoint"
            )

    @torch.inference_mode()
    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """Locations ``(N, 2)`` from the previous step's feature maps (``observation["features"]``)."""
        if not isinstance(observation, dict) or "features" not in observation:
            raise ValueError(
                "the GFNet policy reads the feature map: make the env with observation='dict'"
            )
        features = torch.as_tensor(observation["features"], dtype=torch.float32, device=self.device)
        n = features.shape[0]
        hidden = self._hidden
        if hidden is None or hidden.shape[1] != n:
            hidden = torch.zeros(1, n, self.module.hidden_size, device=self.device)
        if episode_start is not None:
            fresh = torch.as_tensor(np.asarray(episode_start, dtype=bool), device=self.device)
            hidden = hidden.masked_fill(fresh.view(1, n, 1), 0.0)
        mean, _, self._hidden = self.module(features, hidden)
        actions = mean.cpu()
        if not deterministic:
            noise = torch.randn(actions.shape, generator=self.generator) * ACTION_STD
            actions = (actions + noise).clamp(0.0, 1.0)
        return actions.numpy().astype(np.float32), None


def load_gfnet_policy(
    checkpoint: str | os.PathLike | dict[str, Any],
    seed: int | None = None,
    device: str | torch.device = "cpu",
) -> GFNetPolicy:
    """The ``policy`` of a GFNet release or training file (read with ``weights_only=True``)."""
    source = "policy" if isinstance(checkpoint, dict) else str(checkpoint)
    data = checkpoint if isinstance(checkpoint, dict) else load_file(checkpoint)
    policy = data.get("policy")
    if not isinstance(policy, dict):
        raise CheckpointError(
            f"{source} has no GFNet 'policy' state dict (keys: {sorted(data)[:10]}); pass a file "
            "of the GFNet release or one saved by its training script"
        )
    return GFNetPolicy(GFNetActorCritic.from_state_dict(policy, source), seed, device)
