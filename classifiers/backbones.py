"""Encoders for the GF model: each maps an image to a feature map, a pooled vector and its own logits.

An encoder is an ``nn.Module`` built from ``in_chans``, ``num_classes`` and ``input_size`` (the side of
its square inputs), with ``feature_dim``, ``feature_map_shape`` and two methods:
``forward_features(x) -> (N, C, h, w)`` and ``forward_head(fmap) -> (pooled (N, C), logits)``; the
logits are the encoder's own prediction, used for deep supervision during training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

_BACKBONES: dict[str, Callable[..., nn.Module]] = {}


def register_backbone(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers an encoder builder under ``name`` (see the module docstring)."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _BACKBONES[name] = builder
        return builder

    return wrap


def build_backbone(name: str, *, in_chans: int, num_classes: int, **kwargs) -> nn.Module:
    """Build a registered encoder by name."""
    if name not in _BACKBONES:
        raise ValueError(
            f"unknown backbone {name!r}; registered: {sorted(_BACKBONES)} "
            "(add one with @register_backbone)"
        )
    return _BACKBONES[name](in_chans=in_chans, num_classes=num_classes, **kwargs)


def _conv_block(cin: int, cout: int, stride: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(min(groups, cout), cout),
        nn.ReLU(inplace=True),
    )


@register_backbone("small_cnn")
class SmallCNN(nn.Module):
    """A plain CNN for small grayscale inputs (MNIST canvases and their patches).

    3x3 convolutions with GroupNorm and ReLU; the first keeps the resolution, every later one
    halves it. The feature map is max-pooled over space and projected to ``embed_dim``, followed
    by the encoder's own linear head. Global max pooling because the object can be anywhere in a
    glance: in a side experiment on 100x100 cluttered canvases glanced at 32x32, a glance-only
    encoder reached 63% test accuracy after 12 epochs with max pooling, 27% with average pooling
    and 25% with a flattened map. GroupNorm rather than BatchNorm: its output does not depend on
    batch statistics, so the same weights behave alike on glances, random patches and a policy's
    patches.

    Args:
        in_chans: input channels.
        num_classes: classes of the encoder's own head.
        input_size: side of the square inputs (fixes ``feature_map_shape``).
        widths: output channels of each convolution.
        embed_dim: size of the pooled feature vector.
        groups: GroupNorm groups.
    """

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 10,
        input_size: int = 32,
        widths: tuple[int, ...] = (16, 32, 64, 128),
        embed_dim: int = 256,
        groups: int = 8,
    ):
        super().__init__()
        strides = [1] + [2] * (len(widths) - 1)
        channels = [in_chans, *widths]
        self.features = nn.Sequential(
            *(
                _conv_block(channels[i], channels[i + 1], strides[i], groups)
                for i in range(len(widths))
            )
        )
        side = input_size
        for stride in strides:
            side = (side - 1) // stride + 1
        self.feature_map_shape = (widths[-1], side, side)
        self.feature_dim = embed_dim
        self.proj = nn.Sequential(nn.Linear(widths[-1], embed_dim), nn.ReLU())
        self.fc = nn.Linear(embed_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.proj(fmap.amax(dim=(2, 3)))
        return pooled, self.fc(pooled)
