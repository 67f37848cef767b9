"""Episodes on images the caller already has, with the environment's own observations and actions.

Stage 3 of GFNet fine-tunes the classifier on the locations a learned policy picks. The policy was
trained on this package's observations, so the locations must come from exactly the episode logic
of the environments: :func:`rollout_locations` runs the batched engine on given images with a
classifier that may be in training (it is neither frozen nor switched to eval mode here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from classifiers import GlanceFocusClassifier
from classifiers.data import ArraySource
from gf_env.build import build_engine
from gf_env.config import EnvConfig

Act = Callable[[Any], np.ndarray]
"""A batch of observations (as the vector env returns them) -> a batch of actions."""


def rollout_locations(
    classifier: GlanceFocusClassifier,
    images: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    act: Act,
    *,
    max_focus_steps: int = 4,
    observation: str = "hidden",
    action_type: str = "continuous",
    grid_size: int | None = None,
) -> np.ndarray:
    """Glance at ``images``, let ``act`` choose every focus step, return the locations used.

    Args:
        classifier: the glance/focus classifier the observations come from.
        images: ``(N, C, H, W)`` images in [0, 1].
        labels: ``(N,)`` true classes (only the rewards, which are discarded, use them).
        act: maps a batch of ``N`` observations to ``N`` actions, e.g.
            ``lambda obs: model.predict(obs)[0]`` for a Stable-Baselines3 model.
        max_focus_steps, observation, action_type, grid_size: as for the environments
            (:class:`~gf_env.EnvConfig`); they must match what ``act`` was trained on.

    Returns:
        ``(N, max_focus_steps, 2)`` ``float32`` locations in [0, 1], as the env applied them
        (continuous actions clipped, grid cells mapped to their locations).
    """
    images = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else images
    labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else labels
    source = ArraySource(images, labels, classifier.num_classes)
    config = EnvConfig(
        data=source,
        classifier=classifier,
        max_focus_steps=max_focus_steps,
        action_type=action_type,
        grid_size=grid_size,
        observation=observation,
    )
    n = len(source)
    # the classifier as given: not frozen, its mode and device unchanged
    engine = build_engine(config, n, freeze_classifier=False)
    observation = engine.reset([np.random.default_rng(0)] * n, indices=list(range(n))).observation
    for _ in range(max_focus_steps):
        observation = engine.step(act(observation), batch=n).observation
    return engine.locations.copy()
