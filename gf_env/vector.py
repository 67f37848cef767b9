"""The natively batched glance-and-focus vector environment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from gf_env import rendering
from gf_env.build import build_engine
from gf_env.config import EnvConfig, check_options, check_render_mode
from gf_env.surface import EnvSurface


class GlanceFocusVectorEnv(EnvSurface, VectorEnv):
    """``num_envs`` glance-and-focus episodes stepped with one batched classifier call.

    Same dynamics, spaces and arguments as :class:`~gf_env.GlanceFocusEnv` (see its docstring);
    ``gym.make_vec(id, num_envs=N)`` returns this class. Sub-environment ``i`` draws from its own RNG,
    seeded with ``seed + i`` by ``reset(seed=seed)``, so it reproduces a single env seeded with
    ``seed + i`` step for step: the same images, labels and patches, and the same classifier
    outputs up to the float rounding that differs between batch sizes.

    Args:
        num_envs: number of sub-environments.
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default, as Gymnasium's own vector envs): the
            step after an episode ends resets that sub-environment and returns reward 0;
            ``SAME_STEP``: a finished sub-environment is reset within the same step, its last
            observation and info go to ``info["final_obs"]`` and ``info["final_info"]``;
            ``DISABLED``: the caller resets with ``reset(options={"reset_mask": mask})``.
        render_mode: ``None`` or ``"rgb_array"``: ``render()`` returns one frame per
            sub-environment, drawn as :class:`~gf_env.GlanceFocusEnv` draws its frame.
        **kwargs: the environment arguments (:class:`~gf_env.EnvConfig`).

    Reset options: ``"reset_mask"`` (bool array, which sub-environments to reset) and ``"index"``
    (one image index or ``None`` per sub-environment).

    With ``stop_action=True`` each sub-environment ends on its own stop action; the autoreset
    mode then treats it as any other end of episode (``final_info["stopped"]`` in ``SAME_STEP``
    mode). :meth:`action_masks` gives one mask row per sub-environment (grid actions).

    Attributes: the read-only task attributes of :class:`~gf_env.GlanceFocusEnv` (``num_images``,
    ``image_size``, ``patch_size``, ``max_focus_steps``, ``step_flops``, ``feature_shape``,
    ``grid_size``, ...), also as ``get_attr(name)`` (one value per sub-environment, as Gymnasium's
    ``SyncVectorEnv``), the label-reading :meth:`oracle_true_class_probs` and the privileged
    :meth:`oracle_object_boxes`.

    White-box attributes: ``classifier`` (the frozen classifier object all sub-environments share)
    and ``image_source`` (their images), as on :class:`~gf_env.GlanceFocusEnv` (see its *White-box
    attributes*): for agents that differentiate through the classifier, never to be changed.
    """

    def __init__(
        self,
        num_envs: int = 1,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        **kwargs: Any,
    ):
        check_render_mode(render_mode, list(rendering.RENDER_MODES))
        self.render_mode = render_mode
        self.config = EnvConfig.from_kwargs(**kwargs)
        self.engine = build_engine(self.config, num_envs, keep_probs=render_mode is not None)
        self.num_envs = num_envs
        try:
            self.autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError:
            valid = [mode.value for mode in AutoresetMode]
            raise ValueError(
                f"autoreset_mode must be one of {valid}, got {autoreset_mode!r}"
            ) from None
        self.metadata = {
            "render_modes": list(rendering.RENDER_MODES),
            "render_fps": rendering.RENDER_FPS,
            "autoreset_mode": self.autoreset_mode,
        }
        self.single_action_space = self.engine.action_space
        self.single_observation_space = self.engine.observation_space
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._rngs: list[np.random.Generator | None] = [None] * num_envs
        self._autoreset = np.zeros(num_envs, dtype=bool)
        self._all = np.arange(num_envs)

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ):
        options = check_options(options, ("reset_mask", "index"))
        mask = options.get("reset_mask")
        ids = self._all if mask is None else np.flatnonzero(_mask(mask, self.num_envs))
        self._seed(seed, ids)
        indices = options.get("index")
        if indices is not None:
            if np.ndim(indices) == 0 or len(indices) != self.num_envs:
                raise ValueError(
                    f"options['index'] needs one entry (int or None) per sub-env ({self.num_envs}), "
                    f"got {indices!r}"
                )
            indices = [indices[i] for i in ids]
        result = self.engine.reset(self._rngs, None if mask is None else ids, indices)
        self._autoreset[ids] = False
        infos = self._infos(result.info) if mask is None else self._infos(result.info, ids)
        return result.observation, infos

    def step(self, actions):
        next_step = self.autoreset_mode == AutoresetMode.NEXT_STEP
        result = self.engine.step(
            actions,
            batch=self.num_envs,
            rngs=self._rngs,
            reset_first=self._autoreset if next_step else None,
            reset_ended=self.autoreset_mode == AutoresetMode.SAME_STEP,
        )
        terminated = result.terminated
        infos = self._infos(result.info)
        if result.ended is not None and len(result.ended):
            last = result.final_observation
            final_obs = np.full(self.num_envs, None, dtype=object)
            for j, i in enumerate(result.ended):
                final_obs[i] = (
                    {k: v[j] for k, v in last.items()} if isinstance(last, dict) else last[j]
                )
            infos["final_obs"], infos["_final_obs"] = final_obs, terminated.copy()
            infos["final_info"] = self._infos(result.final_info, result.ended)
            infos["_final_info"] = terminated.copy()
        self._autoreset = terminated if next_step else np.zeros_like(terminated)
        truncated = np.zeros(self.num_envs, dtype=bool)
        return result.observation, result.reward, terminated, truncated, infos

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One frame per sub-environment (a tuple, as Gymnasium's ``SyncVectorEnv``), see
        :class:`~gf_env.GlanceFocusEnv`; ``None`` without a render mode."""
        frames = rendering.render(self.engine, self._all, self.render_mode)
        return None if frames is None else tuple(frames)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Attribute ``name`` of every sub-environment (Gymnasium's ``SyncVectorEnv.get_attr``):
        they share one engine, so each gets this env's value, except ``observation_space`` and
        ``action_space``, which are the per-sub-environment spaces."""
        single = {
            "observation_space": "single_observation_space",
            "action_space": "single_action_space",
        }
        return (getattr(self, single.get(name, name)),) * self.num_envs

    def action_masks(self) -> np.ndarray:
        """Allowed grid actions ``(num_envs, G * G [+ 1])`` bool, one row per sub-environment
        (sb3-contrib's ``MaskablePPO``): cells already focused on in the episode are ``False``,
        the stop action stays allowed; a sub-environment whose episode ended (it resets on the
        next step in ``NEXT_STEP`` mode) allows everything. Grid actions only."""
        return self.engine.action_masks()

    def oracle_true_class_probs(self, locations: np.ndarray) -> np.ndarray:
        """ORACLE, READS THE LABELS: what each sub-environment's true-class probability would
        become after focusing at each of ``K`` candidate ``locations`` ``(num_envs, K, 2)`` in
        [0, 1] instead of its next step; returns ``(num_envs, K)`` ``float64``. The episodes do
        not change. For upper-bound baselines only, never a policy under evaluation."""
        return self.engine.true_class_probs_at(np.asarray(locations, dtype=np.float32))

    def oracle_object_boxes(self) -> np.ndarray:
        """PRIVILEGED: the boxes ``(num_envs, K, 4)`` (top, left, height, width, in pixels) of
        the K objects of each sub-environment's image (every digit of an MNIST canvas), as the
        canvas generator placed them. Reads no label, but is no observation: for reference
        policies (``agents`` "locator"), never a policy under evaluation. Raises ``ValueError``
        where the images come without boxes (image folders, ImageNet)."""
        return self.engine.boxes_of_objects()

    def _seed(self, seed: int | Sequence[int | None] | None, ids: np.ndarray) -> None:
        """Seed the RNGs of ``ids`` (as Gymnasium does: ``seed + i`` for sub-env ``i``)."""
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        elif isinstance(seed, (Sequence, np.ndarray)) and not isinstance(seed, str):
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(
                    f"got {len(seeds)} seeds for {self.num_envs} sub-environments; pass one seed "
                    "per sub-environment, a single int, or None"
                )
        else:
            raise TypeError(
                f"seed must be an int, a list of one int-or-None per sub-environment "
                f"({self.num_envs}), or None; got {seed!r}"
            )
        for i in ids:
            if seeds[i] is not None or self._rngs[i] is None:
                self._rngs[i] = seeding.np_random(seeds[i])[0]
        if isinstance(seed, (int, np.integer)):
            self._np_random, self._np_random_seed = seeding.np_random(int(seed))

    def _infos(
        self, values: dict[str, np.ndarray], ids: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Gymnasium's vector info layout of the engine's ``values`` (rows of ``ids``, default
        every sub-environment): one array per key plus a ``_key`` mask."""
        if ids is None:
            mask = np.ones(self.num_envs, dtype=bool)
        else:
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[ids] = True
            values = {k: _scatter(v, ids, self.num_envs) for k, v in values.items()}
        infos: dict[str, np.ndarray] = {}
        for key, value in values.items():
            infos[key] = value
            infos["_" + key] = mask
        return infos


def _mask(mask: Any, num_envs: int) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != (num_envs,) or mask.dtype != np.bool_:
        raise ValueError(
            f"reset_mask must be a bool array of shape ({num_envs},), got {mask.dtype} {mask.shape}"
        )
    return mask


def _scatter(values: np.ndarray, ids: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((size, *values.shape[1:]), dtype=values.dtype)
    out[ids] = values
    return out
