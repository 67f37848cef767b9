"""Frozen glance/focus classifiers: the interface, the GF model, a registry and training.

>>> from classifiers import create_classifier, list_classifiers
>>> list_classifiers("gf-mnist-c*")
['gf-mnist-cluttered100', 'gf-mnist-cluttered60']
>>> model = create_classifier("gf-mnist-cluttered100.mnist50k", pretrained=True)  # tagged weights
"""

from classifiers import mnist_models as _mnist_models  # noqa: F401  (registers the MNIST models)
from classifiers import torchvision_models as _torchvision_models  # noqa: F401  (ImageNet models)
from classifiers.checkpoint import CheckpointError, classifier_checkpoint, load_file, save_atomic
from classifiers.gf_model import GFConfig, GFModel
from classifiers.interface import GlanceFocusClassifier, StepFlops, StepOutput
from classifiers.preprocessing import Preprocessing
from classifiers.registry import (
    ClassifierEntry,
    create_classifier,
    get_entry,
    list_classifiers,
    preprocessing_of,
    register_classifier,
    register_weights,
)

__all__ = [
    "CheckpointError",
    "ClassifierEntry",
    "GFConfig",
    "GFModel",
    "GlanceFocusClassifier",
    "Preprocessing",
    "StepFlops",
    "StepOutput",
    "classifier_checkpoint",
    "create_classifier",
    "get_entry",
    "list_classifiers",
    "load_file",
    "preprocessing_of",
    "register_classifier",
    "register_weights",
    "save_atomic",
]
