"""One way to turn "which policy" into a policy: :func:`load_policy`.

``evaluate``, ``visualize``, ``benchmark`` and ``finetune`` all name a policy the same way: a
heuristic baseline (``random``, ``saliency``, ``oracle``, ...), a learned algorithm with the
path of its saved ``model.zip``, or ``gfnet`` with a GFNet release or training file. They get the
policy and the environment arguments it needs from here, so the policy and the env cannot
disagree (e.g. on the number of focus steps).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from agents.baselines import BASELINES, make_baseline
from agents.evaluation import Policy
from agents.gfnet_policy import GFNetPolicy, load_gfnet_policy
from agents.plugins import PluginOptions, env_spec, merge_env_kwargs
from agents.train import ALGORITHMS, load_agent
from classifiers.utils import did_you_mean, resolve_device

GFNET = GFNetPolicy.name


def policy_names() -> list[str]:
    """Every name :func:`load_policy` takes: baselines, learned algorithms and ``gfnet``."""
    return [*BASELINES, *ALGORITHMS, GFNET]


def check_policy(agent: str, model: str | os.PathLike | None) -> None:
    """Check that ``agent`` and ``model`` name a policy :func:`load_policy` can load, without
    loading anything.

    Raises:
        ValueError: an unknown name (with the closest names), a baseline with a model file, or a
            learned agent or ``gfnet`` without one.
    """
    if agent not in policy_names():
        raise ValueError(
            f"unknown agent {agent!r}.{did_you_mean(agent, policy_names())} Choose a baseline "
            f"{sorted(BASELINES)}, an algorithm {sorted(ALGORITHMS)} with the path of its saved "
            f"model, or {GFNET!r} with a GFNet checkpoint"
        )
    if agent in BASELINES and model is not None:
        raise ValueError(f"baseline {agent!r} takes no model file, got model={str(model)!r}")
    if agent not in BASELINES and not model:
        what = "GFNet checkpoint" if agent == GFNET else "saved model.zip"
        raise ValueError(f"agent {agent!r} needs the path of its {what} (model=PATH / --model)")


@dataclass
class PolicyOptions(PluginOptions):
    """The flags that name a policy and its env (``glance-focus evaluate`` and ``visualize``);
    checked when made (:func:`check_policy`), loaded by :func:`load_policy`."""

    env: str = "GlanceFocus-ClutteredMNIST100-v0"
    """the env id ("module:Id" imports module first)"""
    agent: str = "saliency"
    """a heuristic baseline (random, center, raster, saliency, oracle), a learned algorithm (ppo,
    a2c, sac, td3, recurrent_ppo, dqn, tqc: with --model its saved zip) or gfnet (with --model a
    GFNet checkpoint)"""
    model: str | None = None
    """saved model.zip of a learned agent, or a GFNet checkpoint"""
    device: str = "auto"
    """where the env's classifier (and a saved agent or GFNet policy) runs"""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_policy(self.agent, self.model)


def load_policy(
    agent: str,
    model: str | os.PathLike | None = None,
    env_id: str | None = None,
    seed: int | None = None,
    *,
    max_focus_steps: int | None = None,
    device: str = "cpu",
    env_kwargs: dict[str, Any] | None = None,
) -> tuple[Policy, dict[str, Any]]:
    """A policy by name and the environment arguments it needs.

    Args:
        agent: a heuristic baseline (:data:`~agents.baselines.BASELINES`), a learned algorithm
            (:data:`~agents.train.ALGORITHMS`, with ``model``) or ``"gfnet"`` (with ``model``).
        model: the saved ``model.zip`` of a learned agent, or the GFNet checkpoint of ``gfnet``.
        env_id: the registered env the policy will run on; a baseline takes its
            ``max_focus_steps`` from it unless given.
        seed: seed of the policy's own randomness (baselines, GFNet sampling).
        max_focus_steps: focus steps per episode; when given it is also returned as an env
            argument, so the env runs as many steps as the policy expects.
        device: where a GFNet policy or a saved agent runs.
        env_kwargs: the user's env arguments (``--env-kwargs``); their ``max_focus_steps``, if
            any, counts as ``max_focus_steps``.

    Returns:
        ``(policy, env_kwargs)``: pass ``env_kwargs`` to the env (e.g. to
        :func:`~agents.evaluation.evaluate_anytime`): the user's ``env_kwargs`` with what the
        policy needs on top. Saved agents bring the observation and action types they were
        trained with; baselines and ``gfnet`` their ``env_kwargs``.

    Raises:
        ValueError: an unknown name, a learned agent or ``gfnet`` without ``model``, a
            ``max_focus_steps`` other than the one a saved dict-observation agent was trained
            for, or user ``env_kwargs`` that contradict what the policy needs.
    """
    user = dict(env_kwargs or {})
    if max_focus_steps is None:
        max_focus_steps = user.get("max_focus_steps")
    policy, needed = _load(agent, model, env_id, seed, max_focus_steps, resolve_device(device).type)
    return policy, merge_env_kwargs(user, needed, by=f"agent {agent!r}")


def _load(
    agent: str,
    model: str | os.PathLike | None,
    env_id: str | None,
    seed: int | None,
    max_focus_steps: int | None,
    device: str,
) -> tuple[Policy, dict[str, Any]]:
    """:func:`load_policy` without the user's env arguments."""
    check_policy(agent, model)
    steps = {} if max_focus_steps is None else {"max_focus_steps": max_focus_steps}
    if agent in BASELINES:
        if max_focus_steps is None:
            max_focus_steps = env_spec(env_id).kwargs.get("max_focus_steps", 4) if env_id else 4
        policy = make_baseline(agent, max_focus_steps, seed=seed)
        return policy, {**policy.env_kwargs, **steps}
    if agent == GFNET:
        policy = load_gfnet_policy(model, seed=seed, device=device)
        return policy, {**policy.env_kwargs, **steps}
    policy, env_kwargs = load_agent(agent, model, device=device)
    space = getattr(policy, "observation_space", None)
    trained = space["locations"].shape[0] if isinstance(space, gym.spaces.Dict) else None
    if trained is not None and max_focus_steps not in (None, trained):
        raise ValueError(
            f"{str(model)!r} was trained with {trained} focus steps (its dict observation holds "
            f"that many locations), so it cannot run max_focus_steps={max_focus_steps}; drop "
            "--max-focus-steps, or train an agent for that many steps"
        )
    return policy, {**env_kwargs, **steps}
