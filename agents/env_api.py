"""How agents read an environment: its documented attributes, through the public APIs only.

The glance-and-focus environments offer read-only task attributes (``patch_size``,
``image_size``, ``max_focus_steps``, ``step_flops``, ...; see :class:`gf_env.GlanceFocusEnv`).
:func:`env_attr` reads one from whatever a consumer holds: a Gymnasium env (through its
wrappers), a Gymnasium vector env, or a Stable-Baselines3 ``VecEnv`` (``get_attr``). Any other
environment that offers the same attributes works too.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym


def env_attr(env: Any, name: str) -> Any:
    """Attribute ``name`` of ``env`` (for a vector env, that of its first sub-environment).

    Raises:
        AttributeError: the environment does not offer ``name``.
    """
    if isinstance(env, gym.Env):
        return env.get_wrapper_attr(name)
    getter = getattr(env, "get_attr", None)
    if getter is None:
        getter = getattr(getattr(env, "unwrapped", None), "get_attr", None)
    if getter is None:
        raise AttributeError(
            f"{type(env).__name__} has no get_attr(); pass a Gymnasium env, a Gymnasium vector "
            f"env or a Stable-Baselines3 VecEnv offering {name!r}"
        )
    return getter(name)[0]
