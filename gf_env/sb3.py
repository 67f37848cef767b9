"""Stable-Baselines3 face of the batched environment.

SB3 rejects Gymnasium ``VectorEnv`` objects and its own ``DummyVecEnv`` would step N single envs one
by one. :class:`SB3VecEnv` gives SB3 the natively batched :class:`~gf_env.GlanceFocusVectorEnv`
behind SB3's ``VecEnv`` API (``reset`` returns observations only, ``step`` returns four values,
infos are a list of dicts, a finished episode's last observation is in ``terminal_observation``),
so every rollout step is one batched classifier call.

Example:
    >>> from stable_baselines3 import PPO
    >>> from gf_env.sb3 import make_sb3_vec_env
    >>> venv = make_sb3_vec_env("GlanceFocus-ClutteredMNIST100-v0", num_envs=16, seed=0)
    >>> model = PPO("MlpPolicy", venv, n_steps=8, batch_size=64, verbose=0)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from gf_env.install import require_extra

require_extra("agents", "stable_baselines3", feature="gf_env.sb3 (the Stable-Baselines3 adapter)")

from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from gf_env.vector import GlanceFocusVectorEnv


class SB3VecEnv(VecEnv):
    """SB3 ``VecEnv`` over a :class:`~gf_env.GlanceFocusVectorEnv` in ``SAME_STEP`` autoreset mode.

    Args:
        env: the vector env; it must use ``AutoresetMode.SAME_STEP`` (what SB3 expects).
    """

    def __init__(self, env: GlanceFocusVectorEnv):
        check_vector_env(env, AutoresetMode.SAME_STEP, "SB3VecEnv", "make_sb3_vec_env")
        self.env = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self.metadata = env.metadata
        self._actions: np.ndarray | None = None

    def reset(self):
        seeds = self._seeds
        seed = None if all(s is None for s in seeds) else seeds
        indices = [opts.get("index") for opts in self._options]
        options = {"index": indices} if any(i is not None for i in indices) else None
        obs, infos = self.env.reset(seed=seed, options=options)
        self.reset_infos = _split_infos(infos, self.num_envs)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async(actions); call step(actions)")
        actions, self._actions = self._actions, None
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        dones = terminated | truncated
        out = _split_infos(infos, self.num_envs)
        if dones.any():
            final = _split_infos(infos["final_info"], self.num_envs)
            for i in np.flatnonzero(dones):
                self.reset_infos[i] = out[i]  # the new episode's first info
                out[i] = {**final[i], "terminal_observation": infos["final_obs"][i]}
        for i in range(self.num_envs):
            out[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, rewards.astype(np.float32), dones, out

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: Iterable[int] | int | None = None) -> list[Any]:
        """An attribute of the sub-environments. They share one batched env, so each gets the
        batched env's attribute, except ``observation_space``/``action_space``, which are the
        per-sub-environment spaces."""
        name = {
            "observation_space": "single_observation_space",
            "action_space": "single_action_space",
        }
        value = getattr(self.env, name.get(attr_name, attr_name))
        return [value for _ in self._get_indices(indices)]

    def set_attr(
        self, attr_name: str, value: Any, indices: Iterable[int] | int | None = None
    ) -> None:
        """Set an attribute of the shared batched env (it applies to every sub-environment)."""
        if indices is not None and len(list(self._get_indices(indices))) != self.num_envs:
            raise ValueError(
                "the sub-environments share one batched env: set_attr applies to all of them; "
                "call it without indices"
            )
        setattr(self.env, attr_name, value)

    def env_method(
        self, method_name: str, *method_args, indices=None, **method_kwargs
    ) -> list[Any]:
        """Call a method of the shared batched env once; every index gets its result, except for
        ``action_masks`` (per-sub-environment rows: index ``i`` gets row ``i``, as sb3-contrib's
        ``MaskablePPO`` expects)."""
        if method_name in ("reset", "step"):
            raise ValueError(
                f"call SB3VecEnv.{method_name}() itself, not env_method({method_name!r})"
            )
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        if method_name == "action_masks":
            return [result[i] for i in self._get_indices(indices)]
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices=None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]


def _split_infos(infos: dict[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """Gymnasium's dict-of-arrays infos to SB3's list of dicts (keys whose mask is set)."""
    out: list[dict[str, Any]] = [{} for _ in range(num_envs)]
    for key, values in infos.items():
        if key.startswith("_") or key in ("final_obs", "final_info"):
            continue
        mask = infos.get("_" + key, np.ones(num_envs, dtype=bool))
        for i in np.flatnonzero(mask):
            value = values[i]
            out[i][key] = value.item() if isinstance(value, np.generic) else value
    return out


def make_sb3_vec_env(
    env_id: str,
    num_envs: int = 8,
    seed: int | None = None,
    monitor: bool = True,
    **kwargs: Any,
) -> VecEnv:
    """Build a batched env for SB3 from a registered id.

    Args:
        env_id: a registered glance-focus id.
        num_envs: parallel episodes (one batched classifier call per step).
        seed: seeds the sub-environments on the first reset (``seed + i`` for env ``i``).
        monitor: wrap in SB3's ``VecMonitor`` so episode returns and lengths are logged.
        **kwargs: environment arguments (:class:`~gf_env.EnvConfig`).
    """
    venv: VecEnv = SB3VecEnv(native_vector_env(env_id, num_envs, AutoresetMode.SAME_STEP, kwargs))
    if seed is not None:
        venv.seed(seed)
    return VecMonitor(venv) if monitor else venv


def check_vector_env(env: Any, mode: AutoresetMode, adapter: str, maker: str) -> None:
    """Raise unless ``env`` is a :class:`~gf_env.GlanceFocusVectorEnv` in autoreset ``mode``: what
    a library adapter (``adapter``, built by ``maker``) needs."""
    if not isinstance(env, GlanceFocusVectorEnv):
        raise TypeError(
            f"{adapter} wraps a GlanceFocusVectorEnv, got {type(env).__name__}; build one with "
            f"{maker}(env_id, num_envs=...)"
        )
    if env.autoreset_mode != mode:
        raise ValueError(
            f"{adapter} needs a vector env with autoreset_mode={mode.name}, got "
            f"{env.autoreset_mode}; build it with {maker}() or "
            f"gym.make_vec(..., autoreset_mode=AutoresetMode.{mode.name})"
        )


def native_vector_env(
    env_id: str, num_envs: int, mode: AutoresetMode, kwargs: dict[str, Any]
) -> GlanceFocusVectorEnv:
    """``gym.make_vec(env_id, ...)`` in autoreset ``mode``, refusing ids that do not build a
    :class:`~gf_env.GlanceFocusVectorEnv`."""
    vector = gym.make_vec(env_id, num_envs=num_envs, autoreset_mode=mode, **kwargs)
    if not isinstance(vector, GlanceFocusVectorEnv):
        raise TypeError(
            f"{env_id!r} builds a {type(vector).__name__}, not a GlanceFocusVectorEnv; pass a "
            "GlanceFocus-* id (gf_env.list_envs())"
        )
    return vector
