"""One way to turn "which policy" into a policy: :func:`load_policy`.

``evaluate``, ``visualize``, ``benchmark`` and ``finetune`` all name a policy the same way: a
heuristic baseline (``random``, ``saliency``, ``oracle``, ...), a learned algorithm with the
path of its saved ``model.zip``, or ``gfnet`` with a GFNet release or training file. They get the
policy and the environment arguments it needs from here, so the policy and the env cannot
disagree (e.g. on the number of focus steps).
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym

from agents.baselines import BASELINES, make_baseline
from agents.evaluation import Policy
from agents.gfnet_policy import GFNetPolicy, load_gfnet_policy
from agents.train import ALGORITHMS, load_agent
from classifiers.utils import did_you_mean

GFNET = GFNetPolicy.name


def policy_names() -> list[str]:
    """Every name :func:`load_policy` takes: baselines, learned algorithms and ``gfnet``."""
    return [*BASELINES, *ALGORITHMS, GFNET]


def load_policy(
    agent: str,
    model: str | os.PathLike | None = None,
    env_id: str | None = None,
    seed: int | None = None,
    *,
    max_focus_steps: int | None = None,
    device: str = "cpu",
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
        device: where a GFNet policy runs.

    Returns:
        ``(policy, env_kwargs)``: pass ``env_kwargs`` to the env (e.g. to
        :func:`~agents.evaluation.evaluate_policy`). Saved agents bring the observation and action
        types they were trained with; baselines and ``gfnet`` their ``env_kwargs``.

    Raises:
        ValueError: an unknown name, a learned agent or ``gfnet`` without ``model``, or a
            ``max_focus_steps`` other than the one a saved dict-observation agent was trained for.
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
    steps = {} if max_focus_steps is None else {"max_focus_steps": max_focus_steps}
    if agent in BASELINES:
        if max_focus_steps is None:
            max_focus_steps = gym.spec(env_id).kwargs.get("max_focus_steps", 4) if env_id else 4
        policy = make_baseline(agent, max_focus_steps, seed=seed)
        return policy, {**policy.env_kwargs, **steps}
    if agent == GFNET:
        policy = load_gfnet_policy(model, seed=seed, device=device)
        return policy, {**policy.env_kwargs, **steps}
    policy, env_kwargs = load_agent(agent, model)
    space = getattr(policy, "observation_space", None)
    trained = space["locations"].shape[0] if isinstance(space, gym.spaces.Dict) else None
    if trained is not None and max_focus_steps not in (None, trained):
        raise ValueError(
            f"{str(model)!r} was trained with {trained} focus steps (its dict observation holds "
            f"that many locations), so it cannot run max_focus_steps={max_focus_steps}; drop "
            "--max-focus-steps, or train an agent for that many steps"
        )
    return policy, {**env_kwargs, **steps}
