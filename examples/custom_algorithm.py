"""Your own RL algorithm on the batched env: REINFORCE with a learned baseline, in plain torch.

    python examples/custom_algorithm.py --iterations 150 --num-envs 64

A single readable script: arguments, seeding, the environment (``gym.make_vec``: one batched
classifier call per step for all episodes; no Stable-Baselines3), the policy, the training loop,
evaluation. Every episode has the same length (``max_focus_steps``), so with autoreset disabled
one batch of episodes starts and ends together: each iteration resets, rolls out, updates.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import nn

import gf_env
from classifiers.flags import add_dataclass_arguments

gym.register_envs(gf_env)


@dataclass
class Args:
    env: str = "GlanceFocus-ClutteredMNIST100-v0"
    iterations: int = 150
    num_envs: int = 64
    learning_rate: float = 3e-3
    gamma: float = 1.0
    """discount; with 1 the return from step t is p_T(y) - p_{t-1}(y)"""
    std: float = 0.15
    """fixed exploration noise of the location, as in GFNet's policy"""
    eval_episodes: int = 500
    seed: int = 0


class Policy(nn.Module):
    """Mean location (sigmoid, in [0, 1]^2) of a Gaussian with fixed std, and a value baseline."""

    def __init__(self, obs_dim: int, std: float, hidden: int = 128):
        super().__init__()
        self.actor = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, 2))
        self.critic = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.std = std

    def forward(self, obs: torch.Tensor) -> tuple[torch.distributions.Normal, torch.Tensor]:
        mean = torch.sigmoid(self.actor(obs))
        return torch.distributions.Normal(mean, self.std), self.critic(obs).squeeze(-1)


def make_envs(args: Args, split: str) -> gym.vector.VectorEnv:
    return gym.make_vec(
        args.env, num_envs=args.num_envs, split=split, autoreset_mode=AutoresetMode.DISABLED
    )


def rollout(envs, policy: Policy, seed: int | None, deterministic: bool = False):
    """One batch of episodes; returns per-step log-probs, values, rewards and the last info."""
    obs, info = envs.reset(seed=seed)
    log_probs, values, rewards = [], [], []
    terminated = np.zeros(envs.num_envs, dtype=bool)
    while not terminated.all():
        dist, value = policy(torch.as_tensor(obs))
        action = dist.mean if deterministic else dist.sample()
        obs, reward, terminated, _, info = envs.step(action.numpy())  # the env clips to [0, 1]
        log_probs.append(dist.log_prob(action).sum(-1))
        values.append(value)
        rewards.append(torch.as_tensor(reward, dtype=torch.float32))
    return torch.stack(log_probs), torch.stack(values), torch.stack(rewards), info


def returns_to_go(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """``(T, N)`` discounted sums of the rewards from each step on."""
    out, running = torch.zeros_like(rewards), torch.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_dataclass_arguments(parser, Args)
    args = Args(**vars(parser.parse_args(argv)))

    # seeding: torch draws the policy's weights and samples; the env's RNGs are seeded by the
    # first reset (sub-env i with seed + i) and the test canvases by their own seeds
    torch.manual_seed(args.seed)

    envs = make_envs(args, "train")
    policy = Policy(envs.single_observation_space.shape[0], args.std)
    optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate)
    history = {"loss": [], "return": []}
    for iteration in range(args.iterations):
        log_probs, values, rewards, _ = rollout(envs, policy, args.seed if iteration == 0 else None)
        returns = returns_to_go(rewards, args.gamma)
        advantages = returns - values.detach()
        loss = -(log_probs * advantages).mean() + 0.5 * (returns - values).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history["loss"].append(loss.item())
        history["return"].append(returns[0].mean().item())
        if iteration % 10 == 0 or iteration == args.iterations - 1:
            print(f"iteration {iteration}: mean return {history['return'][-1]:+.4f}")

    test = make_envs(args, "test")
    correct = []
    with torch.no_grad():
        for start in range(0, args.eval_episodes, args.num_envs):
            *_, info = rollout(test, policy, seed=10_000 + start, deterministic=True)
            correct.extend(info["prediction"] == info["label"])
    accuracy = float(np.mean(correct[: args.eval_episodes]))
    print(f"REINFORCE ({args.iterations} iterations): final-step test accuracy {accuracy:.3f}")
    return {**history, "accuracy": accuracy, "policy": policy}


if __name__ == "__main__":
    main()
