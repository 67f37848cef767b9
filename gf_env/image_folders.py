"""``GlanceFocus-Imagenette-v0``, ``GlanceFocus-ImageNet-v0`` and ``GlanceFocus-ImageFolder-v0``:
glance and focus on real photos.

All three build the ordinary :class:`~gf_env.GlanceFocusEnv` / :class:`~gf_env.GlanceFocusVectorEnv`
over a :class:`~classifiers.data.folder.ImageFolderSource` (decoding in background threads, see
there); everything else (actions, observations, rewards, info) is that of the other ids. This
module finds the folder and checks it; :mod:`gf_env.build` loads the images and the classifier, as
for every id.

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

``GlanceFocus-Imagenette-v0`` is ImageNet's models on Imagenette (10 ImageNet classes, about 13k
photos; fast.ai's subset, read through torchvision's ``datasets.Imagenette`` layout):
``<root>/imagenette2-320/{train,val}/<wnid>/*.JPEG`` (``size="320px"``, the default; ``"160px"``
and ``"full"`` read ``imagenette2-160``/``imagenette2``), ``root=`` or ``GF_IMAGENETTE_ROOT``;
``download=True`` downloads and extracts the archive there through torchvision when the folder is
missing. The classifier is an ImageNet GF model exactly as for ``GlanceFocus-ImageNet-v0`` (official
GFNet files load unchanged), restricted to the ten classes' logits
(:class:`classifiers.subset.ClassSubset`), so rewards and accuracies are over the ten classes.

``GlanceFocus-ImageFolder-v0`` takes any folder of class sub-folders (``root=``, required) and a
classifier of the user's (``classifier=``: an object implementing
:class:`~classifiers.GlanceFocusClassifier`, or a registry name with ``checkpoint=``) whose
``num_classes`` matches the number of class folders.

Extra arguments of both: ``image_size``, ``resize_size``, ``interpolation`` (default: the
classifier's), ``workers`` (decoding threads, default 4), ``cache_size``.

Version history: v0 (ImageNet): first working release (earlier it only raised an error naming what
was missing); preprocessing now follows the official GFNet code (the models' records), without a
version bump because no published results rest on the earlier one; v0 (ImageFolder, Imagenette):
first release.
"""

from __future__ import annotations

import os
from typing import Any

from classifiers.data.folder import scan_folder
from classifiers.subset import IMAGENETTE_CLASSES, ClassSubset
from classifiers.torchvision_models import MODEL_SPECS
from gf_env.build import folder_source, load_classifier

IMAGENET_ROOT_VARIABLE = "GF_IMAGENET_ROOT"
IMAGENETTE_ROOT_VARIABLE = "GF_IMAGENETTE_ROOT"
IMAGENETTE_FOLDERS = {"320px": "imagenette2-320", "160px": "imagenette2-160", "full": "imagenette2"}
DEFAULT_IMAGENET_CLASSIFIER = "gf-resnet50-p96"
SPLIT_FOLDERS = {"train": "train", "test": "val", "val": "val"}


class ImageNetUnavailableError(RuntimeError):
    """The ImageNet environment cannot be built: no root, or the root lacks the split's folder."""


def _given_root(root: str | os.PathLike | None, split: str, variable: str, missing: str) -> str:
    """``root``, else the environment ``variable``; a bad ``split`` or neither raises."""
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"split must be one of {sorted(SPLIT_FOLDERS)}, got {split!r}")
    root = root or os.environ.get(variable)
    if not root:
        raise ImageNetUnavailableError(missing)
    return str(root)


def imagenet_root(root: str | os.PathLike | None, split: str) -> str:
    """The split's folder under ``root`` (or ``$GF_IMAGENET_ROOT``).

    Raises:
        ImageNetUnavailableError: no root given, or it has no folder for ``split``.
    """
    root = _given_root(
        root,
        split,
        IMAGENET_ROOT_VARIABLE,
        "GlanceFocus-ImageNet-v0 needs the ImageNet images: pass root=PATH or set "
        f"{IMAGENET_ROOT_VARIABLE} to a folder with train/ and val/ class sub-folders "
        "(torchvision's ImageFolder layout; see the README's ImageNet section)",
    )
    folder = os.path.join(root, SPLIT_FOLDERS[split])
    if not os.path.isdir(folder):
        raise ImageNetUnavailableError(
            f"ImageNet root {str(root)!r} has no {SPLIT_FOLDERS[split]}/ folder for "
            f"split={split!r}; expected {str(root)!r}/train/<wnid>/*.JPEG and "
            f"{str(root)!r}/val/<wnid>/*.JPEG"
        )
    return folder


def _make(root: str, num_envs: int | None, kwargs: dict[str, Any]):
    from gf_env.glance_focus import GlanceFocusEnv
    from gf_env.vector import GlanceFocusVectorEnv

    kwargs["data"] = folder_source(root, kwargs)
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


def imagenette_root(
    root: str | os.PathLike | None, split: str, size: str = "320px", download: bool = False
) -> str:
    """The split's folder of Imagenette under ``root`` (or ``$GF_IMAGENETTE_ROOT``), downloaded
    through ``torchvision.datasets.Imagenette`` first when ``download`` and it is missing.

    Raises:
        ImageNetUnavailableError: no root given, or the folder is missing and ``download`` is off.
    """
    if size not in IMAGENETTE_FOLDERS:
        raise ValueError(f"size must be one of {sorted(IMAGENETTE_FOLDERS)}, got {size!r}")
    root = _given_root(
        root,
        split,
        IMAGENETTE_ROOT_VARIABLE,
        "GlanceFocus-Imagenette-v0 needs a folder for Imagenette: pass root=PATH (add "
        f"download=True to fetch it there, about 330 MB for 320px) or set {IMAGENETTE_ROOT_VARIABLE}",
    )
    folder = os.path.join(root, IMAGENETTE_FOLDERS[size], SPLIT_FOLDERS[split])
    if not os.path.isdir(folder) and download:
        from torchvision.datasets import Imagenette

        Imagenette(str(root), split=SPLIT_FOLDERS[split], size=size, download=True)
    if not os.path.isdir(folder):
        raise ImageNetUnavailableError(
            f"Imagenette ({size}) is not under {str(root)!r}: expected {folder!r}/<wnid>/*.JPEG; "
            "pass download=True to download it through torchvision.datasets.Imagenette"
        )
    return folder


def _imagenette(root, split, size, download, num_envs, kwargs):
    folder = imagenette_root(root, split, size, download)
    classes, _ = scan_folder(folder)
    unknown = sorted(set(classes) - set(IMAGENETTE_CLASSES))
    if unknown:
        raise ValueError(
            f"{folder!r} has class folders that are not Imagenette's WordNet ids: {unknown[:5]}; "
            f"expected some of {sorted(IMAGENETTE_CLASSES)}"
        )
    classifier = kwargs.get("classifier", DEFAULT_IMAGENET_CLASSIFIER)
    if isinstance(classifier, str):
        if classifier in MODEL_SPECS:
            kwargs.setdefault("max_focus_steps", MODEL_SPECS[classifier][0].steps - 1)
        classifier = load_classifier(
            classifier, kwargs.pop("checkpoint", None), kwargs.get("device")
        )
    kwargs["classifier"] = ClassSubset(classifier, [IMAGENETTE_CLASSES[c] for c in classes])
    kwargs["split"] = "train" if split == "train" else "test"
    return _make(folder, num_envs, kwargs)


def make_imagenette_env(
    root: str | os.PathLike | None = None,
    split: str = "train",
    size: str = "320px",
    download: bool = False,
    **kwargs: Any,
):
    """Entry point of ``GlanceFocus-Imagenette-v0`` (see the module docstring)."""
    return _imagenette(root, split, size, download, None, kwargs)


def make_imagenette_vector_env(
    num_envs: int = 1,
    root: str | os.PathLike | None = None,
    split: str = "train",
    size: str = "320px",
    download: bool = False,
    **kwargs: Any,
):
    """Vector entry point of ``GlanceFocus-Imagenette-v0``."""
    return _imagenette(root, split, size, download, num_envs, kwargs)
