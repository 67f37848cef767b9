"""Heuristic patch-selection policies behind the same ``predict`` interface as SB3 models.

Every policy here has ``predict(observation, state=None, episode_start=None, deterministic=True)
-> (actions, state)``, the signature of Stable-Baselines3's ``BaseAlgorithm.predict``, so the
evaluation harness treats trained agents and heuristics alike. ``episode_start`` (one bool per env)
tells stateful heuristics where a new episode begins; the harness always passes it. A policy may
also declare ``env_kwargs`` (environment arguments it needs, e.g. dict observations) and a
``bind(env)`` hook that the harness calls with the vector env before the first episode; the
hooks here read only the env's documented attributes (:func:`agents.env_api.env_attr`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from agents.env_api import env_attr
from classifiers.ops import cell_locations, centre_locations, tiling_grid


class HeuristicPolicy(ABC):
    """A fixed rule that picks continuous locations in [0, 1]^2 for a batch of episodes.

    Args:
        max_focus_steps: focus steps per episode (the env's ``max_focus_steps``).
        seed: seed of any randomness the rule uses.
    """

    name = "heuristic"
    env_kwargs: dict = {}  # noqa: RUF012  (read-only)
    upper_bound = False  # True for policies that peek at the label

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

    def bind(self, env) -> None:
        """Called by the harness with the env it evaluates on (e.g. a
        :class:`~gf_env.GlanceFocusVectorEnv`): reads its ``max_focus_steps``, ``image_size``
        and ``patch_size``."""
        steps = env_attr(env, "max_focus_steps")
        if steps != self.max_focus_steps:
            raise ValueError(
                f"policy built for {self.max_focus_steps} focus steps, env has "
                f"{steps}; build it with max_focus_steps={steps}"
            )
        self.image_size = tuple(env_attr(env, "image_size"))
        self.patch_size = env_attr(env, "patch_size")

    def location_of(self, centres: np.ndarray) -> np.ndarray:
        """Locations in [0, 1]^2 of patches centred on pixel ``centres`` ``(N, 2)`` (row, col)."""
        if not hasattr(self, "patch_size"):
            raise RuntimeError(
                f"{type(self).__name__} needs the env's geometry: call bind(env) first"
            )
        return centre_locations(centres, self.image_size, self.patch_size)

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
        return cell_locations(steps % (self.grid * self.grid), self.grid)


class SaliencyPolicy(HeuristicPolicy):
    """Look where the glance's feature map is strongest: the cells of the glance feature map
    (the dict observation's ``features`` at the glance), ranked by activation energy (L2 norm over
    channels), visited strongest first. Needs ``observation="dict"`` (declared in ``env_kwargs``)."""

    name = "saliency"
    env_kwargs = {"observation": "dict"}  # noqa: RUF012

    def __init__(self, max_focus_steps: int, seed: int | None = None):
        super().__init__(max_focus_steps, seed)
        self._order: np.ndarray | None = None

    def locations(self, steps, observation):
        if not isinstance(observation, dict):
            raise ValueError(
                "the saliency baseline needs dict observations: make the env with observation='dict'"
            )
        fmap = observation["features"]
        n, _, h, w = fmap.shape
        if self._order is None or len(self._order) != n:
            self._order = np.zeros((n, h * w), dtype=np.int64)
        fresh = steps == 0  # the observation is the glance's
        if fresh.any():
            energy = np.linalg.norm(fmap[fresh], axis=1).reshape(int(fresh.sum()), h * w)
            self._order[fresh] = np.argsort(-energy, axis=1, kind="stable")
        cell = self._order[np.arange(n), steps % (h * w)]
        rows, cols = np.divmod(cell, w)
        centres = (np.stack([rows, cols], axis=1) + 0.5) * (np.array(self.image_size) / (h, w))
        return self.location_of(centres)


class OraclePolicy(HeuristicPolicy):
    """UPPER BOUND, not a policy: at each step, the cell of the grid that tiles the image that
    most raises the true-class probability, found by trying every cell with the label (greedy,
    the env's label-reading ``oracle_true_class_probs``). Needs the vector env (``bind``)."""

    name = "oracle"
    upper_bound = True

    def bind(self, env) -> None:
        super().bind(env)
        self.lookahead = env_attr(env, "oracle_true_class_probs")
        grid = tiling_grid(self.image_size, self.patch_size)
        self.cells = cell_locations(np.arange(grid * grid), grid)

    def locations(self, steps, observation):
        if not hasattr(self, "lookahead"):
            raise RuntimeError("the oracle needs the env: evaluate it with agents.evaluate_policy")
        candidates = np.broadcast_to(self.cells, (len(steps), *self.cells.shape))
        best = self.lookahead(candidates).argmax(axis=1)
        return self.cells[best]


BASELINES: dict[str, type[HeuristicPolicy]] = {
    policy.name: policy
    for policy in (RandomPolicy, CenterPolicy, RasterPolicy, SaliencyPolicy, OraclePolicy)
}


def make_baseline(name: str, max_focus_steps: int, seed: int | None = None) -> HeuristicPolicy:
    """A heuristic policy by name (``random``, ``center``, ``raster``, ``saliency``, ``oracle``)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}")
    return BASELINES[name](max_focus_steps, seed)
