"""``GlanceFocus-ImageNet-v0`` and ``GlanceFocus-ImageFolder-v0``: glance and focus on real photos.

Both build the ordinary :class:`~gf_env.GlanceFocusEnv` / :class:`~gf_env.GlanceFocusVectorEnv`
over a :class:`~classifiers.data.folder.ImageFolderSource` (decoding in background threads, see
there); everything else (actions, observations, rewards, info) is that of the other ids.

``GlanceFocus-ImageNet-v0`` reads ImageNet in torchvision's ImageFolder layout:
``<root>/train/<wnid>/*.JPEG`` and ``<root>/val/<wnid>/*.JPEG`` (the validation images sorted
into class folders), ``root=`` or the ``GF_IMAGENET_ROOT`` variable; ``split="train"`` reads
``train/``, ``split="test"`` (or ``"val"``) reads ``val/``. The classifier is an ImageNet GF model:
a registry name (``gf-resnet50-p96`` by default) with ``checkpoint=`` (an official GFNet file or one
of ``classifiers.train``), or your own object. Images get the preprocessing of the model's record
(:mod:`classifiers.preprocessing`), for the GFNet models the official validation transform:
shorter side resized to ``int(image_size / crop_fraction)`` (256 for 224; 0.904 for EfficientNet-B3)
with bilinear filtering (bicubic for EfficientNet), centre crop of the model's ``image_size`` (224,
260 for EfficientNet-B2, 300 for B3). ``max_focus_steps`` defaults to the model's T - 1.

``GlanceFocus-ImageFolder-v0`` takes any folder of class sub-folders (``root=``, required) and a
classifier of the user's (``classifier=``: an object implementing
:class:`~classifiers.GlanceFocusClassifier`, or a registry name with ``checkpoint=``) whose
``num_classes`` matches the number of class folders.

Extra arguments of both: ``image_size``, ``resize_size``, ``interpolation`` (default: the
classifier's), ``workers`` (decoding threads, default 4), ``cache_size``.

Version history: v0 (ImageNet): first working release (earlier it only raised an error naming what
was missing); v0 (ImageFolder): first release.
"""

from __future__ import annotations

import os
from typing import Any

from classifiers.data.folder import ImageFolderSource
from classifiers.preprocessing import preprocessing_of
from classifiers.torchvision_models import MODEL_SPECS

IMAGENET_ROOT_VARIABLE = "GF_IMAGENET_ROOT"
DEFAULT_IMAGENET_CLASSIFIER = "gf-resnet50-p96"
SPLIT_FOLDERS = {"train": "train", "test": "val", "val": "val"}
SOURCE_ARGUMENTS = ("image_size", "resize_size", "interpolation", "workers", "cache_size")


class ImageNetUnavailableError(RuntimeError):
    """The ImageNet environment cannot be built: no root, or the root lacks the split's folder."""


def imagenet_root(root: str | os.PathLike | None, split: str) -> str:
    """The split's folder under ``root`` (or ``$GF_IMAGENET_ROOT``).

    Raises:
        ImageNetUnavailableError: no root given, or it has no folder for ``split``.
    """
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"split must be one of {sorted(SPLIT_FOLDERS)}, got {split!r}")
    root = root or os.environ.get(IMAGENET_ROOT_VARIABLE)
    if not root:
        raise ImageNetUnavailableError(
            "GlanceFocus-ImageNet-v0 needs the ImageNet images: pass root=PATH or set "
            f"{IMAGENET_ROOT_VARIABLE} to a folder with train/ and val/ class sub-folders "
            "(torchvision's ImageFolder layout; see the README's ImageNet section)"
        )
    folder = os.path.join(root, SPLIT_FOLDERS[split])
    if not os.path.isdir(folder):
        raise ImageNetUnavailableError(
            f"ImageNet root {str(root)!r} has no {SPLIT_FOLDERS[split]}/ folder for "
            f"split={split!r}; expected {str(root)!r}/train/<wnid>/*.JPEG and "
            f"{str(root)!r}/val/<wnid>/*.JPEG"
        )
    return folder


def _preprocessing(classifier: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Source arguments: the user's, else those of the classifier's preprocessing record."""
    options = {k: kwargs.pop(k) for k in SOURCE_ARGUMENTS if k in kwargs}
    if isinstance(classifier, str) and classifier in MODEL_SPECS:
        kwargs.setdefault("max_focus_steps", MODEL_SPECS[classifier][0].steps - 1)
    record = preprocessing_of(classifier)
    if record is not None:
        for key, value in record.folder_options().items():
            options.setdefault(key, value)
    else:
        size = getattr(getattr(classifier, "config", None), "image_size", None)
        if size is not None:
            options.setdefault("image_size", int(size[0]))
    return options


def _make(root: str, num_envs: int | None, kwargs: dict[str, Any]):
    from gf_env.glance_focus import GlanceFocusEnv
    from gf_env.vector import GlanceFocusVectorEnv

    classifier = kwargs.get("classifier")
    source = ImageFolderSource(root, **_preprocessing(classifier, kwargs))
    kwargs["data"] = source
    if num_envs is None:
        return GlanceFocusEnv(**kwargs)
    return GlanceFocusVectorEnv(num_envs=num_envs, **kwargs)


def _imagenet(root, split: str, num_envs: int | None, kwargs: dict[str, Any]):
    folder = imagenet_root(root, split)
    kwargs.setdefault("classifier", DEFAULT_IMAGENET_CLASSIFIER)
    kwargs["split"] = "train" if split == "train" else "test"
    return _make(folder, num_envs, kwargs)


def make_imagenet_env(root: str | os.PathLike | None = None, split: str = "train", **kwargs: Any):
    """Entry point of ``GlanceFocus-ImageNet-v0`` (see the module docstring)."""
    return _imagenet(root, split, None, kwargs)


def make_imagenet_vector_env(
    num_envs: int = 1, root: str | os.PathLike | None = None, split: str = "train", **kwargs: Any
):
    """Vector entry point of ``GlanceFocus-ImageNet-v0``."""
    return _imagenet(root, split, num_envs, kwargs)


def _folder(root, num_envs: int | None, kwargs: dict[str, Any]):
    if root is None:
        raise ValueError(
            "GlanceFocus-ImageFolder-v0 needs root=PATH, a folder with one sub-folder per class"
        )
    if "classifier" not in kwargs:
        raise ValueError(
            "GlanceFocus-ImageFolder-v0 needs classifier=: your GlanceFocusClassifier object, or a "
            "registry name with checkpoint=PATH, trained on the folder's classes"
        )
    kwargs.pop("split", None)  # one folder, no splits: the argument is accepted and ignored
    return _make(str(root), num_envs, kwargs)


def make_folder_env(root: str | os.PathLike | None = None, **kwargs: Any):
    """Entry point of ``GlanceFocus-ImageFolder-v0`` (see the module docstring)."""
    return _folder(root, None, kwargs)


def make_folder_vector_env(num_envs: int = 1, root: str | os.PathLike | None = None, **kwargs: Any):
    """Vector entry point of ``GlanceFocus-ImageFolder-v0``."""
    return _folder(root, num_envs, kwargs)
