"""Your own RL algorithm on the batched env: REINFORCE with a learned baseline, in plain torch.

    python examples/custom_algorithm.py --iterations 150 --num-envs 64

A single readable script: arguments, seeding, the environment (``gym.make_vec``: one batched
classifier call per step for all episodes; no Stable-Baselines3), the policy, the training loop,
evaluation. Every episode has the same length (``max_focus_steps``), so with autoreset disabled
one batch of episodes starts and ends together: each iteration resets, rolls out, updates.

The same algorithm enters the benchmark and the leaderboard through the agent protocol
(:mod:`agents.protocol`): :func:`make_agent` returns an object with ``train(run)`` (and ``save`` /
``load``, so finished runs are reused), named by its import path::

    python -m agents.cli leaderboard --suite mnist --agents ppo examples.custom_algorithm:make_agent
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import tyro
from gymnasium.vector import AutoresetMode
from torch import nn

import gf_env
from classifiers.checkpoint import atomic_write

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


def make_envs(args: Args, split: str, **env_kwargs) -> gym.vector.VectorEnv:
    return gym.make_vec(
        args.env,
        num_envs=args.num_envs,
        split=split,
        autoreset_mode=AutoresetMode.DISABLED,
        **env_kwargs,
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


def update(envs, policy: Policy, optimizer, gamma: float, seed: int | None) -> tuple[float, float]:
    """One REINFORCE iteration: a batch of episodes, then one gradient step on policy and baseline.

    Returns the loss and the mean return from the first step; ``seed`` seeds the reset.
    """
    log_probs, values, rewards, _ = rollout(envs, policy, seed)
    returns = returns_to_go(rewards, gamma)
    advantages = returns - values.detach()
    loss = -(log_probs * advantages).mean() + 0.5 * (returns - values).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item(), returns[0].mean().item()


class ReinforcePolicy:
    """The trained network behind Stable-Baselines3's ``predict`` (what the benchmark evaluates)."""

    env_kwargs = {"observation": "hidden"}  # noqa: RUF012  (the flat state vector)

    def __init__(self, net: Policy):
        self.net = net

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        with torch.no_grad():
            dist, _ = self.net(torch.as_tensor(observation, dtype=torch.float32))
        action = dist.mean if deterministic else dist.sample()
        return action.numpy(), state


class ReinforceAgent:
    """REINFORCE under the agent protocol of :mod:`agents.protocol`.

    Args:
        **hyperparams: overrides of ``learning_rate``, ``gamma`` and ``std`` (see :class:`Args`).
    """

    version = "1"

    def __init__(self, **hyperparams):
        defaults = Args()
        self.hyperparams = {
            "learning_rate": defaults.learning_rate,
            "gamma": defaults.gamma,
            "std": defaults.std,
            **hyperparams,
        }

    def train(self, run) -> ReinforcePolicy:
        """Train on ``run.env_id`` for ``run.timesteps`` env steps (whole iterations of
        ``run.num_envs`` episodes), adding learning-curve points as ``run.eval_freq`` asks."""
        hp = {**self.hyperparams, **run.hyperparams}
        torch.manual_seed(run.seed)
        args = Args(env=run.env_id, num_envs=run.num_envs, seed=run.seed)
        envs = make_envs(args, "train", **{**run.env_kwargs, **ReinforcePolicy.env_kwargs})
        net = Policy(envs.single_observation_space.shape[0], hp["std"])
        optimizer = torch.optim.Adam(net.parameters(), lr=hp["learning_rate"])
        focus_steps = gym.spec(run.env_id).kwargs.get("max_focus_steps", 4)
        steps = run.num_envs * run.env_kwargs.get("max_focus_steps", focus_steps)  # per iteration
        for iteration in range(math.ceil(run.timesteps / steps)):
            update(envs, net, optimizer, hp["gamma"], run.seed if iteration == 0 else None)
            run.maybe_evaluate(ReinforcePolicy(net), (iteration + 1) * steps)
        envs.close()
        return ReinforcePolicy(net)

    def save(self, policy: ReinforcePolicy, run_dir: Path) -> None:
        """``reinforce.pt``: the network's weights and its input size, written atomically."""
        state = {"obs_dim": policy.net.actor[0].in_features, "weights": policy.net.state_dict()}
        atomic_write(Path(run_dir) / "reinforce.pt", lambda handle: torch.save(state, handle))

    def load(self, run_dir: Path, run) -> ReinforcePolicy:
        state = torch.load(Path(run_dir) / "reinforce.pt", weights_only=True)
        net = Policy(state["obs_dim"], self.hyperparams["std"])
        net.load_state_dict(state["weights"])
        return ReinforcePolicy(net)


def make_agent() -> ReinforceAgent:
    """The agent factory the benchmark resolves from ``examples.custom_algorithm:make_agent``."""
    return ReinforceAgent()


def main(argv: list[str] | None = None) -> dict:
    args = tyro.cli(Args, description=__doc__.split("\n\n")[0], args=argv)

    # seeding: torch draws the policy's weights and samples; the env's RNGs are seeded by the
    # first reset (sub-env i with seed + i) and the test canvases by their own seeds
    torch.manual_seed(args.seed)

    envs = make_envs(args, "train")
    policy = Policy(envs.single_observation_space.shape[0], args.std)
    optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate)
    history = {"loss": [], "return": []}
    for iteration in range(args.iterations):
        seed = args.seed if iteration == 0 else None
        loss, mean_return = update(envs, policy, optimizer, args.gamma, seed)
        history["loss"].append(loss)
        history["return"].append(mean_return)
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
