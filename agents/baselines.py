"""Heuristic patch-selection policies behind the same ``predict`` interface as SB3 models.

Every policy here has ``predict(observation, state=None, episode_start=None, deterministic=True)
-> (actions, state)``, the signature of Stable-Baselines3's ``BaseAlgorithm.predict``, so the
evaluation harness treats trained agents and heuristics alike. ``episode_start`` (one bool per env)
tells stateful heuristics where a new episode begins; the harness always passes it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np


class HeuristicPolicy(ABC):
    """A fixed rule that picks continuous locations in [0, 1]^2 for a batch of episodes.

    Args:
        max_focus_steps: focus steps per episode (the env's ``max_focus_steps``).
        seed: seed of any randomness the rule uses.
    """

    name = "heuristic"

    def __init__(self, max_focus_steps: int, seed: int | None = None):
        if max_focus_steps < 1:
            raise ValueError(f"max_focus_steps must be >= 1, got {max_focus_steps}")
        self.max_focus_steps = max_focus_steps
        self.rng = np.random.default_rng(seed)
        self._steps: np.ndarray | None = None

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: object = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """Locations ``(N, 2)`` for a batch of observations (``N`` = first dimension)."""
        first = observation["hidden"] if isinstance(observation, dict) else observation
        n = len(first)
        if self._steps is None or len(self._steps) != n:
            self._steps = np.zeros(n, dtype=np.int64)
        if episode_start is not None:
            self._steps[np.asarray(episode_start, dtype=bool)] = 0
        actions = self.locations(self._steps.copy(), observation).astype(np.float32)
        self._steps += 1
        return actions, None

    @abstractmethod
    def locations(self, steps: np.ndarray, observation) -> np.ndarray:
        """Locations ``(N, 2)`` for episodes at focus step ``steps`` (0 = first focus)."""


class RandomPolicy(HeuristicPolicy):
    """Uniformly random locations (GFNet's stage-1 sampling)."""

    name = "random"

    def locations(self, steps, observation):
        return self.rng.random((len(steps), 2))


class CenterPolicy(HeuristicPolicy):
    """Always the image centre."""

    name = "center"

    def locations(self, steps, observation):
        return np.full((len(steps), 2), 0.5)


class RasterPolicy(HeuristicPolicy):
    """A fixed sweep: the focus budget tiles the image on a ``G x G`` grid, ``G = ceil(sqrt(T-1))``,
    visited row by row (4 focus steps: the four quadrants)."""

    name = "raster"

    def __init__(self, max_focus_steps: int, seed: int | None = None):
        super().__init__(max_focus_steps, seed)
        self.grid = math.ceil(math.sqrt(max_focus_steps))

    def locations(self, steps, observation):
        cell = steps % (self.grid * self.grid)
        rows, cols = np.divmod(cell, self.grid)
        scale = max(self.grid - 1, 1)
        return np.stack([rows, cols], axis=1) / scale


BASELINES: dict[str, type[HeuristicPolicy]] = {
    policy.name: policy for policy in (RandomPolicy, CenterPolicy, RasterPolicy)
}


def make_baseline(name: str, max_focus_steps: int, seed: int | None = None) -> HeuristicPolicy:
    """A heuristic policy by name (``random``, ``center``, ``raster``)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}")
    return BASELINES[name](max_focus_steps, seed)
