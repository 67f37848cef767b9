"""One preprocessing record per model (timm's ``pretrained_cfg`` idea).

A :class:`Preprocessing` says how images reach a model: the dataset transform (shorter side resized
to ``image_size / crop_fraction`` with ``interpolation``, then a centre crop of ``image_size``), the
glance resize (``glance_interpolation``, ``glance_align_corners``, ``glance_antialias``), the
normalisation, the encoders' BatchNorm ``eps`` and which head predicts the glance. The image-folder
loader (:mod:`classifiers.data.folder`, the ImageNet env), the trainer and the model all read the
same record (:func:`classifiers.registry.preprocessing_of`), so preprocessing cannot drift between
training, evaluation and import. The record does not look itself up: a registry entry carries it
(``ClassifierEntry.preprocessing``), a model its ``preprocessing`` attribute; this module knows
neither the registry nor the models.

The GFNet entries reproduce the official GFNet-Pytorch code (``configs.py``, ``utils.get_prime``,
``inference.py``): glance resize with ``align_corners=True`` and no antialiasing, bicubic for
ResNet, MobileNet-V3 and EfficientNet, bilinear for DenseNet and RegNet; dataset resize bicubic for
EfficientNet, bilinear otherwise; BatchNorm eps 1e-5 everywhere; the glance of RegNet, MobileNet-V3
and EfficientNet predicted by the global encoder's own classifier. The MNIST models keep their
documented choice: a bilinear, antialiased glance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("bilinear", "bicubic")
GLANCE_MODES = ("nearest", "bilinear", "bicubic", "area", "nearest-exact")
GLANCE_LOGITS = ("head", "encoder")


@dataclass(frozen=True)
class Preprocessing:
    """How a model's images are prepared.

    Args:
        image_size: side of the square full-resolution images (the centre crop).
        crop_fraction: the crop's share of the resized shorter side; the shorter side is resized to
            ``int(image_size / crop_fraction)`` (256 for 224 at 0.875), as torchvision's
            ``Resize`` + ``CenterCrop`` evaluation transform does.
        interpolation: Pillow filter of the dataset resize, ``"bilinear"`` or ``"bicubic"``.
        glance_interpolation: ``torch.nn.functional.interpolate`` mode of the glance resize.
        glance_align_corners: ``align_corners`` of the glance resize (``True`` in GFNet's
            ``get_prime``; only used by the linear and cubic modes).
        glance_antialias: low-pass filter the glance resize (off in GFNet; on for the MNIST models,
            whose small glances alias otherwise).
        mean: per-channel mean subtracted from inputs in [0, 1].
        std: per-channel standard deviation dividing them.
        bn_eps: ``eps`` of every BatchNorm layer of the encoders (``None``: no BatchNorm).
        glance_logits: which prediction the glance step returns: ``"head"`` (the recurrent or
            cascaded head) or ``"encoder"`` (the global encoder's own classifier, as GFNet's
            ``inference.py`` does for RegNet, MobileNet-V3 and EfficientNet; the head still runs
            to start its state).
    """

    image_size: int
    crop_fraction: float = 0.875
    interpolation: str = "bilinear"
    glance_interpolation: str = "bilinear"
    glance_align_corners: bool = False
    glance_antialias: bool = True
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    bn_eps: float | None = 1e-5
    glance_logits: str = "head"

    def __post_init__(self) -> None:
        if self.image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {self.image_size}")
        if not 0 < self.crop_fraction <= 1:
            raise ValueError(f"crop_fraction must be in (0, 1], got {self.crop_fraction}")
        check_choice("interpolation", self.interpolation, RESIZE_MODES)
        check_choice("glance_interpolation", self.glance_interpolation, GLANCE_MODES)
        check_choice("glance_logits", self.glance_logits, GLANCE_LOGITS)

    @property
    def resize_size(self) -> int:
        """Shorter side before the centre crop: ``int(image_size / crop_fraction)``."""
        return int(self.image_size / self.crop_fraction)

    def folder_options(self) -> dict[str, Any]:
        """``image_size``, ``resize_size`` and ``interpolation`` for an image-folder loader
        (:class:`~classifiers.data.folder.FolderDataset` and the image-folder envs)."""
        return {
            "image_size": self.image_size,
            "resize_size": self.resize_size,
            "interpolation": self.interpolation,
        }


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise a ValueError naming ``name``, ``value`` and the ``choices`` when they differ."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def resize_glance(
    images: torch.Tensor, size: int, mode: str, align_corners: bool, antialias: bool
) -> torch.Tensor:
    """Resize ``(N, C, H, W)`` images to ``size x size`` for the glance.

    ``align_corners`` and ``antialias`` apply only where ``interpolate`` accepts them (the linear
    and cubic modes; ``antialias`` also needs bilinear or bicubic).

    Args:
        images: the full-resolution images.
        size: the glance side.
        mode: an ``interpolate`` mode.
        align_corners: see :class:`Preprocessing`.
        antialias: see :class:`Preprocessing`.
    """
    if images.shape[-2:] == (size, size):
        return images
    linear = mode in ("bilinear", "bicubic")
    return F.interpolate(
        images,
        size=(size, size),
        mode=mode,
        align_corners=align_corners if linear else None,
        antialias=antialias and linear,
    )


def __getattr__(name: str) -> object:
    """``preprocessing_of`` lived here before it moved to :mod:`classifiers.registry` (it looks
    the record up by registry name); the old import still works, with a warning."""
    if name == "preprocessing_of":
        import warnings

        from classifiers import registry  # at call time: this module does not import the registry

        warnings.warn(
            "classifiers.preprocessing.preprocessing_of moved to classifiers.preprocessing_of "
            "(classifiers.registry)",
            DeprecationWarning,
            stacklevel=2,
        )
        return registry.preprocessing_of
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
