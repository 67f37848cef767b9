"""Tianshou face of the batched environment.

Tianshou's ``Collector`` takes a ``tianshou.env.BaseVectorEnv`` (it calls ``len(env)``, resets the
sub-environments whose episodes ended, and may step only some of them); a Gymnasium ``VectorEnv``
fails there, and ``DummyVectorEnv([lambda: gym.make(id)] * N)`` steps N single envs one by one.
:class:`TianshouVectorEnv` gives Tianshou the natively batched
:class:`~gf_env.GlanceFocusVectorEnv` behind that API, so every collector step is one batched
classifier call.

Example:
    >>> from tianshou.data import Collector
    >>> from gf_env.tianshou import make_tianshou_vec_env
    >>> envs = make_tianshou_vec_env("GlanceFocus-ClutteredMNIST-v0", num_envs=16, seed=0)
    >>> collector = Collector(policy, envs)  # any Tianshou policy  # doctest: +SKIP

Requires Tianshou (``pip install glance-focus[clients]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode
from tianshou.env import BaseVectorEnv

from gf_env.sb3 import _split_infos, check_vector_env, native_vector_env
from gf_env.vector import GlanceFocusVectorEnv

_SPACES = {"observation_space": "single_observation_space", "action_space": "single_action_space"}


class TianshouVectorEnv(BaseVectorEnv):
    """Tianshou ``BaseVectorEnv`` over a :class:`~gf_env.GlanceFocusVectorEnv` in ``DISABLED``
    autoreset mode (Tianshou resets finished sub-environments itself, with ``reset(env_id)``).

    ``step(action, id)`` with ``id`` a strict subset of the sub-environments still runs one batched
    step: the sub-environments left out take a placeholder action, are reset when that ends their
    episode, and their results are dropped. This is what Tianshou's ``Collector`` needs (it leaves
    out only sub-environments it resets before using again, when it collects whole episodes); a
    left-out sub-environment that is stepped again without a reset raises, since its episode has
    moved on. Attributes: ``env`` is the wrapped vector env.

    Args:
        env: the vector env; it must use ``AutoresetMode.DISABLED``.
    """

    # BaseVectorEnv.__init__ builds one worker per single env; the sub-environments here share one
    # batched env, so the state that BaseVectorEnv's own methods read is set directly.
    def __init__(self, env: GlanceFocusVectorEnv):
        check_vector_env(env, AutoresetMode.DISABLED, "TianshouVectorEnv", "make_tianshou_vec_env")
        self.env = env
        self.env_num = env.num_envs
        self.wait_num = env.num_envs
        self.timeout = None
        self.is_async = False
        self.workers = []
        self.waiting_conn = []
        self.waiting_id = []
        self.ready_id = list(range(env.num_envs))
        self.is_closed = False
        self._stale = np.zeros(env.num_envs, dtype=bool)  # advanced while left out of a step
        self._seeds: list[int | None] = [None] * env.num_envs
        self._placeholder = np.zeros(env.action_space.shape, dtype=env.action_space.dtype)

    def get_env_attr(self, key: str, id: int | Sequence[int] | np.ndarray | None = None) -> list:
        """An attribute per sub-environment: the shared env's, except ``observation_space`` and
        ``action_space``, which are the per-sub-environment spaces (as Tianshou expects)."""
        self._assert_is_not_closed()
        value = getattr(self.env, _SPACES.get(key, key))
        return [value for _ in self._wrap_id(id)]

    def set_env_attr(
        self, key: str, value: Any, id: int | Sequence[int] | np.ndarray | None = None
    ) -> None:
        """Set an attribute of the shared batched env (it applies to every sub-environment)."""
        self._assert_is_not_closed()
        if id is not None and len(self._wrap_id(id)) != self.env_num:
            raise ValueError(
                "the sub-environments share one batched env: set_env_attr applies to all of them; "
                "call it without id"
            )
        setattr(self.env, key, value)

    def reset(
        self,
        env_id: int | Sequence[int] | np.ndarray | None = None,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, np.ndarray]:
        """Start new episodes in ``env_id`` (default all); returns their observations and infos.

        Args:
            env_id: the sub-environments to reset.
            seed: an int (``seed + i`` for sub-environment ``i``) or one seed per sub-environment;
                without it, seeds given to :meth:`seed` are used once.
            options: reset options of :class:`~gf_env.GlanceFocusVectorEnv` (``"index"``).
        """
        self._assert_is_not_closed()
        ids = np.asarray(self._wrap_id(env_id), dtype=np.int64)
        options = dict(options or {})
        if len(ids) != self.env_num or len(np.unique(ids)) != self.env_num:
            mask = np.zeros(self.env_num, dtype=bool)
            mask[ids] = True
            options["reset_mask"] = mask
        if seed is None and any(s is not None for s in self._seeds):
            seed = self._seeds
        obs, infos = self.env.reset(seed=seed, options=options or None)
        self._seeds = [None] * self.env_num
        self._stale[ids] = False
        return _select(obs, ids), self._infos(infos, ids)

    def step(
        self,
        action: np.ndarray | None,
        id: int | Sequence[int] | np.ndarray | None = None,
    ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One batched step; returns ``(obs, rew, terminated, truncated, info)`` of ``id``
        (default all), in the order of ``id``."""
        self._assert_is_not_closed()
        ids = np.asarray(self._wrap_id(id), dtype=np.int64)
        if action is None:
            raise ValueError("action is None: this vector env is synchronous; pass one per id")
        action = np.asarray(action)
        if len(action) != len(ids):
            raise ValueError(f"got {len(action)} actions for {len(ids)} sub-environments {ids}")
        if self._stale[ids].any():
            raise RuntimeError(
                f"sub-environment(s) {ids[self._stale[ids]].tolist()} were left out of an earlier "
                "step() and moved on with the batch; reset them (reset(env_id=...)) first"
            )
        # checked before the batch is assembled: casting into the placeholder's dtype would turn
        # cell 2.9 into 2, '4' into 4, True into 1 and NaN into -2**63
        self.env.engine.actions.decode_step(action, batch=len(ids))
        floats = action.dtype.kind == "f"
        actions = self._placeholder.astype(
            np.result_type(self._placeholder, action) if floats else self._placeholder.dtype
        )
        actions[ids] = action
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        left_out = np.ones(self.env_num, dtype=bool)
        left_out[ids] = False
        ended = left_out & (terminated | truncated)
        if ended.any():  # keep them steppable; nothing of theirs is returned
            self.env.reset(options={"reset_mask": ended})
        self._stale |= left_out
        return (
            _select(obs, ids),
            rewards[ids].astype(np.float32),
            terminated[ids],
            truncated[ids],
            self._infos(infos, ids),
        )

    def seed(self, seed: int | Sequence[int | None] | None = None) -> list[int | None]:
        """Seeds for the next :meth:`reset`: ``seed + i`` for sub-environment ``i`` (an int), one
        per sub-environment (a list), or none."""
        self._assert_is_not_closed()
        if seed is None:
            seeds = [None] * self.env_num
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.env_num)]
        else:
            seeds = list(seed)
            if len(seeds) != self.env_num:
                raise ValueError(
                    f"got {len(seeds)} seeds for {self.env_num} sub-environments; pass one seed "
                    "per sub-environment, a single int, or None"
                )
        self._seeds = seeds
        return list(seeds)

    def render(self, **kwargs: Any) -> list[Any]:
        """One frame per sub-environment (``render_mode="rgb_array"``), else ``None`` each."""
        self._assert_is_not_closed()
        frames = self.env.render()
        return [None] * self.env_num if frames is None else list(frames)

    def close(self) -> None:
        self._assert_is_not_closed()
        self.env.close()
        self.is_closed = True

    def _infos(self, infos: dict[str, Any], ids: np.ndarray) -> np.ndarray:
        """Gymnasium's dict of arrays to Tianshou's array of dicts (with ``env_id``), for ``ids``."""
        split = _split_infos(infos, self.env_num)
        out = np.empty(len(ids), dtype=object)
        for j, i in enumerate(ids):
            out[j] = {**split[i], "env_id": int(i)}
        return out


def _select(obs: Any, ids: np.ndarray) -> Any:
    """Rows ``ids`` of a batched observation; dict observations become an array of dicts, the
    layout Tianshou's own vector envs return."""
    if not isinstance(obs, dict):
        return obs[ids]
    out = np.empty(len(ids), dtype=object)
    for j, i in enumerate(ids):
        out[j] = {key: value[i] for key, value in obs.items()}
    return out


def make_tianshou_vec_env(
    env_id: str, num_envs: int = 8, seed: int | None = None, **kwargs: Any
) -> TianshouVectorEnv:
    """Build a batched env for Tianshou from a registered id.

    Args:
        env_id: a registered glance-focus id.
        num_envs: parallel episodes (one batched classifier call per step).
        seed: seeds the sub-environments on the first reset (``seed + i`` for env ``i``).
        **kwargs: environment arguments (:class:`~gf_env.EnvConfig`).
    """
    venv = TianshouVectorEnv(native_vector_env(env_id, num_envs, AutoresetMode.DISABLED, kwargs))
    if seed is not None:
        venv.seed(seed)
    return venv
