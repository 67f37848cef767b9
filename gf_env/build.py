"""Everything an environment runs on, loaded once: its images and its classifier.

Every env kind is built here, and only here; the :class:`~gf_env.engine.GlanceFocusEngine` this
module returns then only steps:

- MNIST canvases (``data="cluttered100"``, ...): :func:`load_source` loads the preset's digits
  (:func:`classifiers.data.mnist_canvases`);
- a user's :class:`~classifiers.data.ImageSource` (``data=<object>``): used as given;
- image folders (``GlanceFocus-ImageFolder-v0``, ``-ImageNet-v0``, ``-Imagenette-v0``):
  :func:`folder_source` reads the folder with the classifier's preprocessing
  (:mod:`gf_env.image_folders` finds the folder first);
- the classifier: :func:`load_classifier` creates a registry name with its weights (shipped, or
  ``checkpoint``); an object is used as given. :func:`build_engine` then freezes it
  (:func:`classifiers.utils.freeze`) unless told not to.
"""

from __future__ import annotations

import os
from typing import Any

from classifiers import GlanceFocusClassifier, create_classifier, preprocessing_of
from classifiers.data import ImageSource, mnist_canvases
from classifiers.data.folder import ImageFolderSource
from classifiers.torchvision_models import MODEL_SPECS
from classifiers.utils import freeze, resolve_device
from gf_env.config import EnvConfig
from gf_env.engine import GlanceFocusEngine, single_threaded_if_forked

__all__ = ["SOURCE_ARGUMENTS", "build_engine", "folder_source", "load_classifier", "load_source"]

SOURCE_ARGUMENTS = ("image_size", "resize_size", "interpolation", "workers", "cache_size")
"""Arguments of the image-folder ids that go to :class:`~classifiers.data.folder.ImageFolderSource`
rather than to the environment."""


def build_engine(
    config: EnvConfig,
    num_envs: int,
    keep_probs: bool = False,
    freeze_classifier: bool = True,
) -> GlanceFocusEngine:
    """The engine of an environment: load the data (:func:`load_source`) and the classifier
    (:func:`load_classifier`), freeze the classifier (:func:`classifiers.utils.freeze`, moved to
    ``config.device`` where one is named), and build the engine with its spaces.

    Args:
        config: the validated environment arguments.
        num_envs: episodes run side by side.
        keep_probs: keep class probabilities (rendering needs them).
        freeze_classifier: ``False`` leaves a classifier object as it is (mode, gradients,
            device): :func:`gf_env.rollout.rollout_locations` runs one that is in training.
    """
    single_threaded_if_forked()  # before the first torch op of a forked worker
    source = load_source(config.data, config.split, config.mnist_root)
    classifier = load_classifier(config.classifier, config.checkpoint, config.device)
    if freeze_classifier:
        # a registry classifier was created on its device; a given object stays where it is
        # unless a device is named
        named = not isinstance(config.classifier, str) and config.device not in (None, "auto")
        classifier = freeze(classifier, resolve_device(config.device) if named else None)
    return GlanceFocusEngine(
        source,
        classifier,
        num_envs,
        config.max_focus_steps,
        reward=config.reward,
        observation=config.observation,
        action_type=config.action_type,
        grid_size=config.grid_size,
        keep_probs=keep_probs,
        stop_action=config.stop_action,
        flops_cost=config.flops_cost,
    )


def load_source(
    data: str | ImageSource, split: str = "train", mnist_root: str | os.PathLike | None = None
) -> ImageSource:
    """The images of ``data``: a canvas preset's MNIST canvases of ``split`` (from
    ``mnist_root``, else the embedded digits), or the :class:`~classifiers.data.ImageSource`
    given."""
    if isinstance(data, str):
        return mnist_canvases(data, split, mnist_root)
    return data


def load_classifier(
    classifier: str | GlanceFocusClassifier,
    checkpoint: str | os.PathLike | None = None,
    device: str | None = None,
) -> GlanceFocusClassifier:
    """A registry name created on ``device`` with ``checkpoint`` (else its shipped weights); an
    object as given (neither moved nor frozen here)."""
    if isinstance(classifier, str):
        return create_classifier(
            classifier, pretrained=checkpoint is None, checkpoint=checkpoint, device=device
        )
    return classifier


def folder_source(root: str, kwargs: dict[str, Any]) -> ImageFolderSource:
    """The images of an image-folder id under ``root``, preprocessed for ``kwargs["classifier"]``.

    The source arguments (:data:`SOURCE_ARGUMENTS`) are taken out of the env arguments
    ``kwargs``; those not given come from the classifier's preprocessing record
    (:mod:`classifiers.preprocessing`), else its configured image size. A registry name of an
    ImageNet GF model also sets ``kwargs``' default ``max_focus_steps`` to its T - 1.
    """
    classifier = kwargs.get("classifier")
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
    return ImageFolderSource(root, **options)
