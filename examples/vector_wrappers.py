"""CleanRL-style loop over the native vector env with Gymnasium's vector wrappers.

    python examples/vector_wrappers.py --num-envs 16 --num-steps 100

Dict observations (``observation="dict"``: hidden state, feature map, step, locations) are
flattened for an MLP by ``gymnasium.wrappers.vector.FlattenObservation`` on the batched env
itself. Two rules of Gymnasium's vector API apply:

- vector wrappers that transform observations refuse ``AutoresetMode.SAME_STEP``; keep the
  default ``NEXT_STEP`` (or ``DISABLED``), and skip the transition after each episode's end
  (``next_done`` below), as CleanRL does;
- ``gym.make_vec(id, wrappers=[...])`` (single-env wrappers) is refused for ids with a native
  vector env; wrap the vector env instead, as here, or use ``vectorization_mode="sync"`` (N
  single envs stepped one by one, about 9x slower).

The policy is a small untrained torch MLP (the boilerplate of an agent, not a learner), sampling
Gaussian actions around its sigmoid output.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import tyro
from gymnasium.wrappers.vector import FlattenObservation, RecordEpisodeStatistics
from torch import nn

import gf_env

gym.register_envs(gf_env)


@dataclass
class Args:
    env: str = "GlanceFocus-ClutteredMNIST-v0"
    num_envs: int = 8
    num_steps: int = 50
    """vector steps (num_envs transitions each)"""
    seed: int = 0


def make_envs(args: Args) -> gym.vector.VectorEnv:
    """The batched env with flattened dict observations and episode statistics."""
    envs = gym.make_vec(args.env, num_envs=args.num_envs, observation="dict")  # NEXT_STEP
    return RecordEpisodeStatistics(FlattenObservation(envs))


def main(argv: list[str] | None = None) -> dict:
    args = tyro.cli(Args, description=__doc__.split("\n\n")[0], args=argv)

    # seeding: torch draws the policy's weights and its action noise, the envs seed + i
    torch.manual_seed(args.seed)
    envs = make_envs(args)
    obs_dim = envs.single_observation_space.shape[0]
    policy = nn.Sequential(nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 2), nn.Sigmoid())

    next_obs, _ = envs.reset(seed=args.seed)
    next_done = np.zeros(args.num_envs, dtype=bool)
    returns, transitions, reward_sum = [], 0, 0.0
    for _ in range(args.num_steps):
        with torch.no_grad():
            mean = policy(torch.as_tensor(next_obs, dtype=torch.float32))  # flattened: float64
        actions = (mean + 0.1 * torch.randn_like(mean)).clamp(0, 1).numpy()
        valid = ~next_done  # NEXT_STEP: a done env's next step is its reset, not a transition
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        transitions += int(valid.sum())
        reward_sum += float(rewards[valid].sum())
        next_done = terminations | truncations
        if "episode" in infos:
            returns.extend(infos["episode"]["r"][infos["_episode"]].tolist())
    print(
        f"{len(returns)} episodes, mean return {np.mean(returns):+.3f}; observation "
        f"{envs.single_observation_space.shape} (flattened from a dict), {transitions} transitions"
    )
    return {
        "returns": returns,
        "obs_dim": obs_dim,
        "transitions": transitions,
        "reward_sum": reward_sum,
    }


if __name__ == "__main__":
    main()
