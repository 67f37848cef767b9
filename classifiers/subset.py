"""A classifier restricted to some of its classes (an ImageNet model on Imagenette's ten)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from classifiers.interface import GlanceFocusClassifier, StepFlops, StepOutput

IMAGENETTE_CLASSES: dict[str, int] = {
    "n01440764": 0,  # tench
    "n02102040": 217,  # English springer
    "n02979186": 482,  # cassette player
    "n03000684": 491,  # chain saw
    "n03028079": 497,  # church
    "n03394916": 566,  # French horn
    "n03417042": 569,  # garbage truck
    "n03425413": 571,  # gas pump
    "n03445777": 574,  # golf ball
    "n03888257": 701,  # parachute
}
"""Imagenette's class folders (WordNet ids) -> their ImageNet-1k class index."""


class ClassSubset(nn.Module):
    """``classifier`` whose logits keep only ``class_ids``, in that order.

    Everything else (state, features, patch size, FLOPs, preprocessing) is the wrapped
    classifier's: the arg-max over the kept logits is the classifier's choice among those classes.

    Args:
        classifier: a :class:`~classifiers.GlanceFocusClassifier`.
        class_ids: the classifier's class indices to keep; class ``k`` of the subset is
            ``class_ids[k]`` of the classifier.

    Example:
        >>> from classifiers import GFConfig, GFModel
        >>> model = ClassSubset(GFModel(GFConfig(image_size=(60, 60), patch_size=28)), [7, 1])
        >>> model.num_classes
        2
    """

    def __init__(self, classifier: GlanceFocusClassifier, class_ids: Sequence[int]):
        super().__init__()
        ids = [int(i) for i in class_ids]
        total = classifier.num_classes
        bad = [i for i in ids if not 0 <= i < total]
        if not ids or bad or len(set(ids)) != len(ids):
            raise ValueError(
                f"class_ids must be distinct indices in [0, {total}) of the classifier's classes, "
                f"got {list(class_ids)}"
            )
        self.classifier = classifier
        self.class_ids = ids
        self.register_buffer("index", torch.tensor(ids), persistent=False)

    num_classes = property(lambda self: len(self.class_ids))
    in_chans = property(lambda self: self.classifier.in_chans)
    patch_size = property(lambda self: self.classifier.patch_size)
    state_dim = property(lambda self: self.classifier.state_dim)
    feature_shape = property(lambda self: self.classifier.feature_shape)
    device = property(lambda self: torch.device(self.classifier.device))

    def __getattr__(self, name: str):
        """``state_range``, ``preprocessing``, ``config`` ..: the wrapped classifier's."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name.startswith("_") or name == "classifier":
                raise
            return getattr(super().__getattr__("classifier"), name)

    def _keep(self, out: StepOutput) -> StepOutput:
        return StepOutput(out.logits[:, self.index.to(out.logits.device)], out.state, out.features)

    def glance(self, images: torch.Tensor) -> StepOutput:
        """The classifier's glance, with the kept classes' logits."""
        return self._keep(self.classifier.glance(images))

    def focus(self, patches: torch.Tensor, state: torch.Tensor) -> StepOutput:
        """The classifier's focus step, with the kept classes' logits."""
        return self._keep(self.classifier.focus(patches, state))

    def step_flops(self) -> StepFlops:
        """The classifier's FLOPs (selecting logits costs nothing worth counting)."""
        return self.classifier.step_flops()
