"""GFNet's stage-2 policy training (Wang et al., NeurIPS 2020), written anew as an agent.

GFNet trains its patch-selection policy with PPO while the encoders and the classifier head stay
frozen (REFERENCE.md, "Training (three stages)"). Here the frozen classifier is the env's: one
iteration resets a vector env of ``N`` images (one batch), runs every episode to its end with
locations sampled around the policy's mean, and makes one update. What is published, kept as it is:

- the actor-critic of :class:`agents.gfnet_policy.GFNetActorCritic` (the same module and parameter
  names the release loader reads): a state encoder over the *previous* step's feature map (the
  dict observation's ``features``: the glance's before the first focus), a GRU, a sigmoid mean
  location and a critic;
- a Gaussian with fixed std ``action_std`` (0.1); sampled locations clamped to [0, 1], and the
  log-probability taken of the clamped location;
- returns discounted with ``gamma`` (0.7) and normalised over the batch (all steps of all images:
  ``(R - mean) / (std + 1e-5)``), which are also the critic's targets;
- the loss ``-min(ratio * A, clip(ratio) * A) + 0.5 * MSE(V, R) - 0.01 * entropy`` with
  ``A = R - V`` (value detached), averaged over steps and images; Adam (3e-4, betas 0.9/0.999);
- ``k_epochs=1``: one gradient step per batch, with the old log-probabilities from the policy that
  sampled the batch, so the ratio is exactly 1 and the clip never acts (an advantage actor-critic).

``gfnet-ppo`` is the same agent with ``k_epochs=4``: four clipped steps on each batch against the
log-probabilities of the policy that sampled it, a real PPO (REFERENCE.md: "a real PPO is an
improvement").

The trained policy is a :class:`~agents.gfnet_policy.GFNetPolicy`, the class that runs an official
release's policy, and :meth:`GFNetAgent.save` writes ``{"policy": state_dict}``, the layout of a
GFNet checkpoint's ``policy``: :func:`agents.gfnet_policy.load_gfnet_policy` reads it back, so a
policy trained here and a released one are evaluated by the same code.

    glance-focus leaderboard --agents gfnet gfnet-ppo ...
    glance-focus benchmark --agents gfnet
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import nn

import gf_env
from agents.env_api import env_attr
from agents.gfnet_policy import GFNetActorCritic, GFNetPolicy, load_gfnet_policy
from agents.plugins import check_choice, with_hyperparams
from classifiers.checkpoint import atomic_write
from classifiers.utils import resolve_device

gym.register_envs(gf_env)

POLICY_FILE = "gfnet_policy.pth"


Encoder = Literal["conv", "mlp"]
"""GFNet's two policy state encoders."""


@dataclass(frozen=True)
class GFNetArgs:
    """The hyperparameters of GFNet's stage 2 (defaults: the official ``PPO(...)`` call)."""

    action_std: float = 0.1
    """std of the Gaussian around the mean location"""
    learning_rate: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam's betas"""
    gamma: float = 0.7
    """discount of the per-step confidence gains"""
    k_epochs: int = 1
    """gradient steps per batch (1 as published: the ratio is always 1)"""
    eps_clip: float = 0.2
    """PPO's clip range of the probability ratio"""
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    """weight of the entropy bonus (no gradient with a fixed std; kept as published)"""
    encoder: Encoder = "conv"
    """state encoder: "conv" (1x1 conv to 32 channels, GFNet's MobileNet/EfficientNet/RegNet
    policy) or "mlp" (flatten -> 2048 -> hidden, its ResNet/DenseNet policy)"""
    hidden_size: int = 256
    """GRU size H (the releases: 256 with "conv", 1024 with "mlp")"""

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))  # a list from a JSON hyperparams
        check_choice("encoder", self.encoder, Encoder)
        if self.k_epochs < 1 or self.hidden_size < 1:
            raise ValueError(
                f"k_epochs and hidden_size must be >= 1, got {self.k_epochs} and {self.hidden_size}"
            )
        if self.action_std <= 0 or not 0 <= self.gamma <= 1:
            raise ValueError(
                f"action_std must be > 0 and gamma in [0, 1], got {self.action_std} and "
                f"{self.gamma}"
            )


def make_actor_critic(feature_shape: tuple[int, int, int], args: GFNetArgs) -> GFNetActorCritic:
    """GFNet's actor-critic for feature maps of ``feature_shape`` ``(C, h, w)``."""
    channels, height, width = feature_shape
    state_dim = channels * height * width
    return GFNetActorCritic(state_dim, channels, args.hidden_size, conv=args.encoder == "conv")


@dataclass
class EpisodeBatch:
    """One batch of finished episodes, steps first.

    Args:
        features: ``(T, N, C, h, w)`` the policy's input at each focus step.
        actions: ``(T, N, 2)`` the clamped sampled locations.
        log_probs: ``(T, N)`` their log-probabilities under the policy that sampled them.
        rewards: ``(T, N)`` the env's rewards (confidence gains).
    """

    features: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    rewards: torch.Tensor


def policy_outputs(
    module: GFNetActorCritic, features: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean locations ``(T, N, 2)`` and values ``(T, N)`` of whole episodes ``(T, N, C, h, w)``,
    the GRU starting from zeros: step by step, as in the rollout, so the numbers are the same."""
    means, values, hidden = [], [], None
    for step_features in features:
        mean, value, hidden = module(step_features, hidden)
        means.append(mean)
        values.append(value[:, 0])
    return torch.stack(means), torch.stack(values)


def rollout(
    envs: gym.vector.VectorEnv,
    module: GFNetActorCritic,
    action_std: float,
    generator: torch.Generator,
    seed: int | None = None,
) -> EpisodeBatch:
    """Run one batch of episodes (a reset, then every focus step) with sampled locations."""
    device = next(module.parameters()).device
    obs, _ = envs.reset(seed=seed)
    features, actions, log_probs, rewards = [], [], [], []
    hidden, done = None, np.zeros(envs.num_envs, dtype=bool)
    while not done.all():
        state = torch.as_tensor(obs["features"], dtype=torch.float32, device=device)
        with torch.no_grad():
            mean, _, hidden = module(state, hidden)
            noise = torch.randn(mean.shape, generator=generator).to(device)
            action = (mean + action_std * noise).clamp(0.0, 1.0)
            log_prob = torch.distributions.Normal(mean, action_std).log_prob(action).sum(-1)
        obs, reward, done, _, _ = envs.step(action.cpu().numpy())
        features.append(state)
        actions.append(action)
        log_probs.append(log_prob)
        rewards.append(torch.as_tensor(reward, dtype=torch.float32, device=device))
    return EpisodeBatch(
        torch.stack(features),
        torch.stack(actions),
        torch.stack(log_probs),
        torch.stack(rewards),
    )


def normalised_returns(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """Discounted returns ``(T, N)`` of ``rewards`` ``(T, N)``, normalised over the whole batch."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        returns[t] = running
    return (returns - returns.mean()) / (returns.std() + 1e-5)


def ppo_loss(
    module: GFNetActorCritic, batch: EpisodeBatch, returns: torch.Tensor, args: GFNetArgs
) -> tuple[torch.Tensor, dict[str, float]]:
    """GFNet's PPO loss on ``batch`` with normalised ``returns``; also its parts."""
    means, values = policy_outputs(module, batch.features)
    dist = torch.distributions.Normal(means, args.action_std)
    log_probs = dist.log_prob(batch.actions).sum(-1)
    entropy = dist.entropy().sum(-1)
    ratio = torch.exp(log_probs - batch.log_probs)
    advantages = returns - values.detach()
    clipped = ratio.clamp(1 - args.eps_clip, 1 + args.eps_clip)
    policy_loss = -torch.min(ratio * advantages, clipped * advantages).mean()
    value_loss = nn.functional.mse_loss(values, returns)
    loss = policy_loss + args.value_coef * value_loss - args.entropy_coef * entropy.mean()
    stats = {
        "policy_loss": policy_loss.item(),
        "value_loss": value_loss.item(),
        "ratio_max_deviation": (ratio - 1).abs().max().item(),
    }
    return loss, stats


def update(
    module: GFNetActorCritic, optimizer: torch.optim.Optimizer, batch: EpisodeBatch, args: GFNetArgs
) -> list[dict[str, float]]:
    """``k_epochs`` gradient steps on one batch; the statistics of each."""
    returns = normalised_returns(batch.rewards, args.gamma)
    history = []
    for _ in range(args.k_epochs):
        loss, stats = ppo_loss(module, batch, returns, args)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(stats)
    return history


class GFNetAgent:
    """GFNet's stage-2 PPO under the agent protocol of :mod:`agents.protocol`.

    Args:
        args: the hyperparameters (a run's ``hyperparams`` override them by name).
    """

    version = "1"
    resources = {"num_cpus": 1, "num_gpus": 0}  # noqa: RUF012  (read-only)

    def __init__(self, args: GFNetArgs | None = None):
        self.args = args or GFNetArgs()
        self.learner_seconds: float | None = None

    @property
    def hyperparams(self) -> dict[str, Any]:
        return asdict(self.args)

    def env_kwargs_for(self, run) -> dict[str, Any]:
        """The run's env arguments with the dict observation (the policy reads feature maps)."""
        kwargs = dict(run.env_kwargs)
        for name, value in (("observation", "dict"), ("action_type", "continuous")):
            if kwargs.get(name, value) != value:
                raise ValueError(
                    f"the gfnet agent needs {name}={value!r} (it picks continuous locations from "
                    f"feature maps), got {name}={kwargs[name]!r}; drop it from the env arguments"
                )
        if kwargs.get("stop_action"):
            raise ValueError(
                "the gfnet agent runs every focus step (GFNet's policy has no stop action); "
                "drop stop_action from the env arguments"
            )
        return {**kwargs, "observation": "dict"}

    def train(self, run) -> GFNetPolicy:
        """Train on ``run.env_id`` for ``run.timesteps`` env steps: whole batches of
        ``run.num_envs`` images, one :func:`update` each."""
        args = with_hyperparams(self.args, run.hyperparams, "gfnet")
        device = resolve_device(run.device)
        # seeding: torch draws the initial weights, the generator the exploration noise; the
        # env's first reset seeds its images (sub-env i with seed + i)
        torch.manual_seed(run.seed)
        generator = torch.Generator().manual_seed(run.seed)
        envs = gym.make_vec(
            run.env_id,
            num_envs=run.num_envs,
            autoreset_mode=AutoresetMode.DISABLED,
            **{"device": run.device, **self.env_kwargs_for(run)},  # as Run.evaluate makes it
        )
        module = make_actor_critic(env_attr(envs, "feature_shape"), args).to(device)
        optimizer = torch.optim.Adam(module.parameters(), lr=args.learning_rate, betas=args.betas)
        steps = run.num_envs * env_attr(envs, "max_focus_steps")  # env steps per batch
        self.learner_seconds = 0.0
        for iteration in range(math.ceil(run.timesteps / steps)):
            batch = rollout(
                envs, module, args.action_std, generator, run.seed if iteration == 0 else None
            )
            started = time.perf_counter()
            update(module, optimizer, batch, args)
            self.learner_seconds += time.perf_counter() - started
            run.maybe_evaluate(GFNetPolicy(module, run.seed, device), (iteration + 1) * steps)
        envs.close()
        return GFNetPolicy(module, run.seed, device)

    def save(self, policy: GFNetPolicy, run_dir: Path) -> None:
        """``gfnet_policy.pth``: ``{"policy": state_dict}``, a GFNet checkpoint's layout."""
        state = {"policy": {k: v.cpu() for k, v in policy.module.state_dict().items()}}
        atomic_write(Path(run_dir) / POLICY_FILE, lambda handle: torch.save(state, handle))

    def load(self, run_dir: Path, run) -> GFNetPolicy:
        """The policy :meth:`save` wrote, read by the release loader."""
        device = resolve_device(run.device)
        return load_gfnet_policy(Path(run_dir) / POLICY_FILE, seed=run.seed, device=device)


def make_gfnet_agent() -> GFNetAgent:
    """``gfnet``: stage 2 as published (``k_epochs=1``)."""
    return GFNetAgent()


def make_gfnet_ppo_agent() -> GFNetAgent:
    """``gfnet-ppo``: the same with a real PPO update (``k_epochs=4``)."""
    return GFNetAgent(GFNetArgs(k_epochs=4))
