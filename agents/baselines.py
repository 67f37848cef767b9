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
from classifiers.patches import cell_locations, centre_locations, tiling_grid


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
            raise RuntimeError("the oracle needs the env: evaluate it with agents.evaluate_anytime")
        candidates = np.broadcast_to(self.cells, (len(steps), *self.cells.shape))
        best = self.lookahead(candidates).argmax(axis=1)
        return self.cells[best]


class LocatorPolicy(HeuristicPolicy):
    """REFERENCE, PRIVILEGED (reads no label): patches centred on the image's objects, where the
    canvas generator put them (the env's ``oracle_object_boxes``: every digit of an MNIST
    canvas), largest object first (ties in the generator's order). An object larger than a patch
    gets its centre first, then a grid of patches over it, row by row (on LargeMNIST, 4 steps:
    test accuracy 0.72 this way, 0.59 with the grid alone); after the last patch the visits
    start again. Where a policy could at best learn to look without the label; envs whose
    images have no boxes (image folders, ImageNet) are refused by name."""

    name = "locator"
    upper_bound = True

    def __init__(self, max_focus_steps: int, seed: int | None = None):
        super().__init__(max_focus_steps, seed)
        self._plan: np.ndarray | None = None

    def bind(self, env) -> None:
        super().bind(env)
        try:
            spec = env_attr(env, "spec")
        except AttributeError:
            spec = None
        self.env_name = getattr(spec, "id", None) or type(env).__name__
        try:
            self.boxes_of = env_attr(env, "oracle_object_boxes")
        except AttributeError:
            raise ValueError(self._refusal("it offers no oracle_object_boxes()")) from None

    def _refusal(self, reason: str) -> str:
        return (
            f"the locator needs the boxes of the objects in each image, which env "
            f"{self.env_name!r} cannot provide ({reason}); use an env over MNIST canvases "
            "(GlanceFocus-TranslatedMNIST-v0, ...), or a policy that needs no boxes"
        )

    def locations(self, steps, observation):
        if not hasattr(self, "boxes_of"):
            raise RuntimeError(
                "the locator needs the env: evaluate it with agents.evaluate_anytime"
            )
        n = len(steps)
        if self._plan is None or len(self._plan) != n:
            self._plan = np.zeros((n, self.max_focus_steps, 2))
        fresh = np.flatnonzero(steps == 0)
        if len(fresh):
            try:
                boxes = self.boxes_of()
            except ValueError as error:
                raise ValueError(self._refusal(str(error))) from None
            boxes = boxes.reshape(-1, *boxes.shape[-2:])  # a single env gives (K, 4)
            for i in fresh:
                self._plan[i] = self._exact_locations(self._visits(boxes[i]))
        return self._plan[np.arange(n), steps % self.max_focus_steps]

    def _exact_locations(self, centres: np.ndarray) -> np.ndarray:
        """Locations of the patches centred on ``centres`` (to the nearest pixel), placed half a
        pixel inside their corner so that ``floor(a * (H - P))`` lands on it after float32
        rounding (:meth:`location_of` can miss by one)."""
        span = np.array(self.image_size) - self.patch_size
        corners = np.clip(np.round(centres - self.patch_size / 2), 0, span)
        return np.clip((corners + 0.5) / np.maximum(span, 1), 0.0, 1.0)

    def _visits(self, boxes: np.ndarray) -> np.ndarray:
        """Patch centres ``(max_focus_steps, 2)`` for objects ``boxes`` ``(K, 4)``: largest
        object first; one larger than a patch gets its centre, then a grid of patches over it
        (``ceil(h / P) x ceil(w / P)``, shrunk to at most ``max_focus_steps`` cells)."""
        order = np.argsort(-boxes[:, 2] * boxes[:, 3], kind="stable")
        centres = []
        for top, left, height, width in boxes[order]:
            centres.append((top + height / 2, left + width / 2))
            rows, cols = math.ceil(height / self.patch_size), math.ceil(width / self.patch_size)
            while rows * cols > self.max_focus_steps:
                rows, cols = (rows - 1, cols) if rows >= cols else (rows, cols - 1)
            if rows * cols > 1:
                centres += [
                    (top + (r + 0.5) * height / rows, left + (c + 0.5) * width / cols)
                    for r in range(rows)
                    for c in range(cols)
                ]
        return np.array(centres)[np.arange(self.max_focus_steps) % len(centres)]


BASELINES: dict[str, type[HeuristicPolicy]] = {
    policy.name: policy
    for policy in (
        RandomPolicy,
        CenterPolicy,
        RasterPolicy,
        SaliencyPolicy,
        OraclePolicy,
        LocatorPolicy,
    )
}


def make_baseline(name: str, max_focus_steps: int, seed: int | None = None) -> HeuristicPolicy:
    """A heuristic policy by name (``random``, ``center``, ``raster``, ``saliency``, ``oracle``,
    ``locator``)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}")
    return BASELINES[name](max_focus_steps, seed)
