"""``GlanceFocus-ImageNet-v0``: registered so that users find it; it fails with what is missing."""

from __future__ import annotations

import os
from typing import Any

IMAGENET_ROOT_VARIABLE = "GF_IMAGENET_ROOT"


class ImageNetUnavailableError(RuntimeError):
    """The ImageNet environment cannot be built on this installation."""


def make_imagenet_env(root: str | os.PathLike | None = None, **kwargs: Any):
    """Entry point of ``GlanceFocus-ImageNet-v0`` (single and vector).

    Raises:
        ImageNetUnavailableError: always in this release, naming what is missing.
    """
    root = root or os.environ.get(IMAGENET_ROOT_VARIABLE)
    data = (
        f"ImageNet root: {root!r}"
        if root
        else f"no ImageNet root (pass root=PATH or set {IMAGENET_ROOT_VARIABLE} to a folder with "
        "train/ and val/ class sub-folders)"
    )
    raise ImageNetUnavailableError(
        "GlanceFocus-ImageNet-v0 needs ImageNet-scale GF classifiers (torchvision backbones or the "
        f"official GFNet checkpoints), which this release does not include yet; {data}. Until then, "
        "build an env on your own data with gf_env.GlanceFocusEnv(data=<ImageSource>, "
        "classifier=<GlanceFocusClassifier>), or use the offline MNIST ids "
        "(gf_env.list_envs())."
    )
