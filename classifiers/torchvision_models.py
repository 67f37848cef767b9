"""ImageNet-scale GF models on torchvision backbones, registered as ``gf-<backbone>-p<P>``.

One registry entry per model of the GFNet release (REFERENCE.md): ResNet-50 (P = 96, 128),
DenseNet-121/169/201 (96), RegNet-Y-600MF/800MF/1.6GF (96) with the GRU head and T = 5;
MobileNet-V3-Large 1.00 (96, 128) and 1.25 (128) with cascaded heads and T = 3; EfficientNet-B2 (128)
and B3 (128, 144) with cascaded heads and T = 4. Each encoder is a torchvision model whose modules
keep torchvision's names (``conv1``, ``layer1`` .. for ResNet), so its weights enum and checkpoints
saved from torchvision modules load unchanged.

Built with random weights (``weights=None``: nothing is downloaded). ``pretrained_backbone=True``
initialises both encoders from torchvision's ImageNet weights enum (downloaded to the torch hub
cache, or read from it when already there); without network access and an empty cache that raises
:class:`BackboneWeightsUnavailableError` naming the file and where to put it.

>>> from classifiers import create_classifier
>>> model = create_classifier("gf-mobilenetv3-large-p96", device="cpu")  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from classifiers.backbones import register_backbone
from classifiers.gf_model import PREPROCESSING_FIELDS, GFConfig, GFModel
from classifiers.preprocessing import Preprocessing
from classifiers.registry import register_classifier


class BackboneWeightsUnavailableError(RuntimeError):
    """torchvision's pretrained weights could not be downloaded or read from the cache."""


class TorchvisionEncoder(nn.Module):
    """A torchvision classification network split into ``forward_features`` / ``forward_head``.

    The network's top-level modules become this module's own (same names), so its state dict
    is torchvision's. ``family`` picks how the feature map and the pooled vector are formed:

    - ``resnet``: ``layer4`` output; pooled = global average; logits = ``fc``.
    - ``densenet``: ``relu(features)``; pooled = global average; logits = ``classifier``.
    - ``regnet``: ``trunk_output`` output; pooled = global average; logits = ``fc``.
    - ``mobilenet_v3``: ``features`` output (960 channels); pooled = the first layers of
      ``classifier`` (Linear to 1280 + Hardswish, GFNet's 1280 features); logits = the rest.
    - ``efficientnet``: ``features`` output (1408/1536 channels); pooled = global average;
      logits = ``classifier``.

    Args:
        arch: torchvision model name (``torchvision.models.list_models()``).
        family: one of the families above.
        in_chans: must be 3 (torchvision's stems take RGB).
        num_classes: classes of the encoder's own head.
        input_size: side of the square inputs (fixes ``feature_map_shape``).
        bn_eps: ``eps`` of every BatchNorm layer (``None``: torchvision's own; GFNet's encoders
            all use 1e-5, where torchvision's MobileNet-V3 uses 1e-3).
        **arch_kwargs: passed to :func:`_build_network` (e.g. ``width_mult``, ``geffnet_widths``).
    """

    def __init__(
        self,
        arch: str,
        family: str,
        in_chans: int = 3,
        num_classes: int = 1000,
        input_size: int = 224,
        bn_eps: float | None = None,
        **arch_kwargs,
    ):
        super().__init__()
        if in_chans != 3:
            raise ValueError(
                f"torchvision backbone {arch!r} takes RGB images (in_chans=3), got {in_chans}"
            )
        net = _build_network(arch, num_classes, **arch_kwargs)
        if bn_eps is not None:
            for module in net.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eps = bn_eps
        for name, child in net.named_children():
            self.add_module(name, child)
        self.arch = arch
        self.family = family
        if family == "mobilenet_v3":
            channels = net.classifier[0].in_features
            self.feature_dim = net.classifier[0].out_features
        elif family == "efficientnet":
            channels = self.feature_dim = net.classifier[1].in_features
        elif family == "densenet":
            channels = self.feature_dim = net.classifier.in_features
        elif family in ("resnet", "regnet"):
            channels = self.feature_dim = net.fc.in_features
        else:
            raise ValueError(
                f"unknown family {family!r}; one of resnet, densenet, regnet, mobilenet_v3, efficientnet"
            )
        side = input_size
        for _ in range(5):  # every family here downsamples by 2, five times (stride 32)
            side = math.ceil(side / 2)
        self.feature_map_shape = (channels, side, side)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.family == "resnet":
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            return self.layer4(self.layer3(self.layer2(self.layer1(x))))
        if self.family == "densenet":
            return F.relu(self.features(x))
        if self.family == "regnet":
            return self.trunk_output(self.stem(x))
        return self.features(x)

    def forward_head(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = fmap.mean(dim=(2, 3))
        if self.family == "mobilenet_v3":
            pooled = self.classifier[1](self.classifier[0](pooled))
            return pooled, self.classifier[3](self.classifier[2](pooled))
        head = self.classifier if self.family in ("densenet", "efficientnet") else self.fc
        return pooled, head(pooled)


PYCLS_REGNETS = {
    "regnet_y_600mf": dict(depth=15, w_0=48, w_a=32.54, w_m=2.32, group_width=16),
    "regnet_y_800mf": dict(depth=14, w_0=56, w_a=38.84, w_m=2.4, group_width=16),
    "regnet_y_1_6gf": dict(depth=27, w_0=48, w_a=20.71, w_m=2.65, group_width=24),
}
"""The RegNet-Y parameters of GFNet's pycls configs (``pycls/cfgs/RegNetY-*_dds_8gpu.yaml``)."""


def pycls_block_params(depth: int, w_0: int, w_a: float, w_m: float, group_width: int):
    """torchvision ``BlockParams`` of a RegNet-Y with the stage widths pycls computes.

    Both libraries quantise the per-block widths ``w_0 * w_m ** round(log(...))`` to multiples of
    8 and group the blocks into stages; they differ in the last step, fitting each stage width to
    its group width. pycls rounds ``width / group`` to the nearest integer (halves to even, with
    Python's ``round``); torchvision's ``_make_divisible`` rounds halves up and never goes below
    90%. For RegNet-Y-800MF that gives pycls ``(64, 128, 320, 768)`` against torchvision's
    ``(64, 144, 320, 784)``: GFNet's files hold the former. 600MF and 1.6GF agree.

    Args:
        depth: number of blocks.
        w_0: initial width.
        w_a: width slope.
        w_m: width multiplier per stage.
        group_width: group convolution width.
    """
    import numpy as np
    from torchvision.models.regnet import BlockParams

    continuous = np.arange(depth) * w_a + w_0
    exponents = np.round(np.log(continuous / w_0) / np.log(w_m))
    block_widths = (np.round(w_0 * np.power(w_m, exponents) / 8) * 8).astype(int).tolist()
    widths, depths = [], []
    for width in block_widths:
        if widths and widths[-1] == width:
            depths[-1] += 1
        else:
            widths.append(width)
            depths.append(1)
    groups = [min(group_width, w) for w in widths]
    widths = [int(round(w / g) * g) for w, g in zip(widths, groups, strict=True)]
    n = len(widths)
    return BlockParams(depths, widths, groups, [1.0] * n, [2] * n, se_ratio=0.25)


def geffnet_mobilenet_v3_large(width_mult: float, num_classes: int, **kwargs) -> nn.Module:
    """torchvision's MobileNetV3-Large with the widths of GFNet's geffnet model at ``width_mult``.

    The two libraries scale a width multiplier differently. torchvision scales every block's
    expanded width as an absolute number (``64 * 1.25 -> 80``); geffnet keeps each block's
    expansion *ratio* and applies it to the block's scaled input (``24 * 4 = 96``); and geffnet
    keeps the pooled head at 1280 features where torchvision scales it to 1600. At 1.00 both give
    the same network. Everything else (kernels, SE, activations, strides) is torchvision's.

    Args:
        width_mult: channel multiplier (1.25 for GFNet's ``mobilenetv3_large_125``).
        num_classes: classes of the encoder's own head.
        **kwargs: passed to ``torchvision.models.MobileNetV3``.
    """
    from torchvision.models.mobilenetv3 import (
        InvertedResidualConfig,
        MobileNetV3,
        _mobilenet_v3_conf,
    )

    base, last_channel = _mobilenet_v3_conf("mobilenet_v3_large")
    scaled = []
    for cnf in base:
        width_in = InvertedResidualConfig.adjust_channels(cnf.input_channels, width_mult)
        ratio = cnf.expanded_channels / cnf.input_channels
        scaled.append(
            InvertedResidualConfig(
                width_in,
                cnf.kernel,
                InvertedResidualConfig.adjust_channels(width_in, ratio),
                InvertedResidualConfig.adjust_channels(cnf.out_channels, width_mult),
                cnf.use_se,
                "HS" if cnf.use_hs else "RE",
                cnf.stride,
                cnf.dilation,
                1.0,
            )
        )
    return MobileNetV3(scaled, last_channel, num_classes=num_classes, **kwargs)


def _build_network(
    arch: str, num_classes: int, geffnet_widths: bool = False, **kwargs
) -> nn.Module:
    """A randomly initialised torchvision network.

    RegNets are built with GFNet's pycls widths (:func:`pycls_block_params`; ``regnet_y_600mf`` is
    not in torchvision's model list at all); ``geffnet_widths`` builds MobileNet-V3-Large with
    geffnet's widths (:func:`geffnet_mobilenet_v3_large`).
    """
    import torchvision  # here, not at import: registering the names needs no torchvision
    from torchvision.models.regnet import RegNet

    if arch in PYCLS_REGNETS:
        return RegNet(pycls_block_params(**PYCLS_REGNETS[arch]), num_classes=num_classes, **kwargs)
    if geffnet_widths:
        return geffnet_mobilenet_v3_large(num_classes=num_classes, **kwargs)
    return torchvision.models.get_model(arch, weights=None, num_classes=num_classes, **kwargs)


def gfnet_preprocessing(
    image_size: int,
    glance: str,
    dataset: str = "bilinear",
    crop_fraction: float = 0.875,
    glance_logits: str = "head",
) -> Preprocessing:
    """The record of a GFNet model: ``configs.py``'s ``image_size``, ``crop_pct``,
    ``dataset_interpolation`` and ``prime_interpolation``; ``get_prime``'s ``align_corners=True``
    without antialiasing; BatchNorm eps 1e-5; ``inference.py``'s glance prediction."""
    return Preprocessing(
        image_size=image_size,
        crop_fraction=crop_fraction,
        interpolation=dataset,
        glance_interpolation=glance,
        glance_align_corners=True,
        glance_antialias=False,
        bn_eps=1e-5,
        glance_logits=glance_logits,
    )


@dataclass(frozen=True)
class BackboneSpec:
    """A torchvision backbone as GFNet used it.

    Args:
        name: short name in registry names (``gf-<name>-p<P>``).
        arch: torchvision model name.
        family: :class:`TorchvisionEncoder` family.
        weights: torchvision weights enum value for ``pretrained_backbone=True`` (empty when
            torchvision has none of GFNet's widths).
        head: ``"gru"`` or ``"cascade"``.
        steps: T, steps per image including the glance.
        preprocessing: the official preprocessing of the model (:func:`gfnet_preprocessing`).
        patch_sizes: the released patch sizes.
        arch_kwargs: extra torchvision builder arguments.
    """

    name: str
    arch: str
    family: str
    weights: str
    head: str
    steps: int
    preprocessing: Preprocessing
    patch_sizes: tuple[int, ...]
    arch_kwargs: tuple[tuple[str, float | bool], ...] = ()

    @property
    def image_size(self) -> int:
        """Full-resolution image side."""
        return self.preprocessing.image_size

    @property
    def resize_size(self) -> int:
        """Shorter side before the centre crop."""
        return self.preprocessing.resize_size


_BICUBIC_224 = gfnet_preprocessing(224, "bicubic")
_BILINEAR_224 = gfnet_preprocessing(224, "bilinear")
_REGNET = gfnet_preprocessing(224, "bilinear", glance_logits="encoder")
_MOBILENET = gfnet_preprocessing(224, "bicubic", glance_logits="encoder")
BACKBONES: tuple[BackboneSpec, ...] = (
    BackboneSpec("resnet50", "resnet50", "resnet", "ResNet50_Weights.IMAGENET1K_V1", "gru", 5, _BICUBIC_224, (96, 128)),
    BackboneSpec("densenet121", "densenet121", "densenet", "DenseNet121_Weights.IMAGENET1K_V1", "gru", 5, _BILINEAR_224, (96,)),
    BackboneSpec("densenet169", "densenet169", "densenet", "DenseNet169_Weights.IMAGENET1K_V1", "gru", 5, _BILINEAR_224, (96,)),
    BackboneSpec("densenet201", "densenet201", "densenet", "DenseNet201_Weights.IMAGENET1K_V1", "gru", 5, _BILINEAR_224, (96,)),
    BackboneSpec("regnety600mf", "regnet_y_600mf", "regnet", "", "gru", 5, _REGNET, (96,)),
    BackboneSpec("regnety800mf", "regnet_y_800mf", "regnet", "", "gru", 5, _REGNET, (96,)),
    BackboneSpec("regnety1.6gf", "regnet_y_1_6gf", "regnet", "RegNet_Y_1_6GF_Weights.IMAGENET1K_V1", "gru", 5, _REGNET, (96,)),
    BackboneSpec("mobilenetv3-large", "mobilenet_v3_large", "mobilenet_v3", "MobileNet_V3_Large_Weights.IMAGENET1K_V1", "cascade", 3, _MOBILENET, (96, 128)),
    BackboneSpec("mobilenetv3-large125", "mobilenet_v3_large", "mobilenet_v3", "", "cascade", 3, _MOBILENET, (128,), (("width_mult", 1.25), ("geffnet_widths", True))),
    BackboneSpec("efficientnetb2", "efficientnet_b2", "efficientnet", "EfficientNet_B2_Weights.IMAGENET1K_V1", "cascade", 4, gfnet_preprocessing(260, "bicubic", "bicubic", glance_logits="encoder"), (128,)),
    BackboneSpec("efficientnetb3", "efficientnet_b3", "efficientnet", "EfficientNet_B3_Weights.IMAGENET1K_V1", "cascade", 4, gfnet_preprocessing(300, "bicubic", "bicubic", 0.904, glance_logits="encoder"), (128, 144)),
)  # fmt: skip


def _backbone_builder(spec: BackboneSpec):
    def build(**kwargs) -> TorchvisionEncoder:
        return TorchvisionEncoder(spec.arch, spec.family, **dict(spec.arch_kwargs), **kwargs)

    build.__name__ = f"tv_{spec.name}"
    return build


def gf_config(spec: BackboneSpec, patch_size: int, num_classes: int = 1000) -> GFConfig:
    """The :class:`GFConfig` of a GFNet model on ``spec`` with patches of ``patch_size``; its
    preprocessing fields are those of ``spec.preprocessing``."""
    record = spec.preprocessing
    return GFConfig(
        backbone=f"tv_{spec.name}",
        num_classes=num_classes,
        in_chans=3,
        image_size=(record.image_size, record.image_size),
        patch_size=patch_size,
        glance_size=patch_size,
        hidden_size=1024,
        head=spec.head,
        **{name: getattr(record, name) for name in PREPROCESSING_FIELDS},
    )


def load_backbone_weights(model: GFModel, spec: BackboneSpec) -> None:
    """Initialise both encoders of ``model`` from torchvision's ImageNet weights of ``spec``.

    The encoders' own last classifier layer is loaded only when ``model`` predicts 1000 classes.

    Raises:
        BackboneWeightsUnavailableError: the weights cannot be downloaded nor found in the cache.
    """
    if not spec.weights:
        raise BackboneWeightsUnavailableError(
            f"torchvision has no pretrained weights for {spec.name!r}; build it without "
            "pretrained_backbone, or load a checkpoint"
        )
    import torchvision

    weights = torchvision.models.get_weight(spec.weights)
    try:
        state = weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError, OSError, hash mismatch: all mean "not available here"
        target = f"{torch.hub.get_dir()}/checkpoints/{weights.url.rsplit('/', 1)[-1]}"
        raise BackboneWeightsUnavailableError(
            f"could not get torchvision's {spec.weights} ({type(exc).__name__}: {exc}). Download "
            f"{weights.url} on a machine with network access and copy it to {target}, or build "
            "the model without pretrained_backbone=True"
        ) from None
    own = model.local_encoder.state_dict()
    # with num_classes != 1000 the encoders' own last classifier layer keeps its random init
    state = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    for encoder in (model.global_encoder, model.local_encoder):
        encoder.load_state_dict(state, strict=False)


def _register(spec: BackboneSpec, patch_size: int) -> None:
    name = f"gf-{spec.name}-p{patch_size}"
    config = gf_config(spec, patch_size)

    def factory(pretrained_backbone: bool = False, **overrides) -> GFModel:
        model = GFModel(replace(config, **overrides))
        if pretrained_backbone:
            load_backbone_weights(model, spec)
        return model

    factory.__name__ = name.replace("-", "_").replace(".", "_")
    register_classifier(
        name,
        preprocessing=spec.preprocessing,
        description=(
            f"GFNet on torchvision {spec.arch}{' x' + str(dict(spec.arch_kwargs)) if spec.arch_kwargs else ''}, "
            f"{spec.image_size}px images, patch {patch_size}, T={spec.steps}, {spec.head} head"
        ),
    )(factory)


SPECS: dict[str, BackboneSpec] = {spec.name: spec for spec in BACKBONES}
"""Backbone specs by short name."""

MODEL_SPECS: dict[str, tuple[BackboneSpec, int]] = {}
"""Registry name -> (backbone spec, patch size) of every model registered here."""

for _spec in BACKBONES:
    register_backbone(f"tv_{_spec.name}")(_backbone_builder(_spec))
    for _patch in _spec.patch_sizes:
        _register(_spec, _patch)
        MODEL_SPECS[f"gf-{_spec.name}-p{_patch}"] = (_spec, _patch)
