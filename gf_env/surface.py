"""The read-only attributes both environments offer their users (agents, baselines, tools).

Consumers read these, never the engine: on a single env through ``env.unwrapped.<name>`` or
``env.get_wrapper_attr("<name>")`` (Gymnasium wrappers), on the vector env directly or through
``get_attr("<name>")``, on the Stable-Baselines3 adapter through ``venv.get_attr("<name>")``.
"""

from __future__ import annotations

from classifiers.data import ImageSource
from classifiers.interface import GlanceFocusClassifier, StepFlops
from gf_env.engine import GlanceFocusEngine


class EnvSurface:
    """Read-only properties of an environment's task, shared by both faces.

    Attributes:
        num_images: images in the split the env draws from (``reset(options={"index": i})``
            takes ``i`` in ``[0, num_images)``).
        image_size: ``(H, W)`` of the full-resolution images.
        image_channels: channels of the images.
        num_classes: classes the classifier predicts.
        patch_size: side P of the square focus patches.
        max_focus_steps: focus steps after the glance; then the episode terminates.
        step_flops: classifier FLOPs per image of the glance and of one focus step
            (:class:`~classifiers.StepFlops`; ``info["flops"]`` is the running total).
        feature_shape: ``(C, h, w)`` of the feature map in dict observations.
        grid_size: G of grid actions (``action_type="grid"``), or of the grid that tiles the image
            with continuous actions: ``grid_size`` if given, else ``ceil(max(H, W) / P)``.
        image_source: the :class:`~classifiers.data.ImageSource` images come from (to evaluate a
            classifier on the same images outside the env).
        stop_action: whether actions can end the episode early (``stop_action=True``).
        flops_cost: the reward's price per MFLOP of a focus step (0 unless set).
        classifier: WHITE-BOX: the frozen classifier object the env runs
            (:class:`~classifiers.GlanceFocusClassifier`; a torch module is in eval mode with
            gradients off), for agents that compute through it (``agents`` "differentiable"
            back-propagates through its ``focus``). Read it, never change it: the env's
            episodes run on this object.
    """

    engine: GlanceFocusEngine

    @property
    def num_images(self) -> int:
        return len(self.engine.source)

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.engine.height, self.engine.width)

    @property
    def image_channels(self) -> int:
        return int(self.engine.source.image_shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.engine.classifier.num_classes)

    @property
    def patch_size(self) -> int:
        return int(self.engine.patch_size)

    @property
    def max_focus_steps(self) -> int:
        return int(self.engine.max_focus_steps)

    @property
    def step_flops(self) -> StepFlops:
        return self.engine.flops

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        return tuple(self.engine.classifier.feature_shape)

    @property
    def grid_size(self) -> int:
        return self.engine.actions.grid_size

    @property
    def image_source(self) -> ImageSource:
        return self.engine.source

    @property
    def classifier(self) -> GlanceFocusClassifier:
        return self.engine.classifier

    @property
    def stop_action(self) -> bool:
        return self.engine.stop_action

    @property
    def flops_cost(self) -> float:
        return self.engine.flops_cost
