"""Train an SB3 agent for patch selection on the batched environment.

One function (:func:`train_agent`) and one command train any supported algorithm on any registered
id: PPO (default), A2C, SAC, TD3, RecurrentPPO and TQC (sb3-contrib) with continuous locations,
and DQN with grid actions. Each rollout step is one batched classifier call for all ``num_envs`` envs
(:func:`gf_env.sb3.make_sb3_vec_env`). The run folder gets TensorBoard logs, periodic test-split
evaluations (``--eval-freq``) and ``model.zip``, which reloads with the algorithm's own ``load``.

Usage::

    python -m agents.train --algo ppo --env GlanceFocus-ClutteredMNIST100-v0 --timesteps 50000
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import gymnasium as gym
import numpy as np
import tyro
from sb3_contrib import TQC, RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.noise import (
    ActionNoise,
    NormalActionNoise,
    OrnsteinUhlenbeckActionNoise,
)

from agents.evaluation import curve_point, evaluate_anytime
from agents.model_files import load_exactly, safe_custom_objects
from agents.plugins import HyperParams, PluginOptions, check_choice, merge_env_kwargs
from agents.reporting import write_json
from agents.settings import Training
from agents.torch_layers import GlanceStateExtractor
from classifiers.checkpoint import atomic_write
from gf_env.sb3 import make_sb3_vec_env

Algo = Literal["ppo", "a2c", "sac", "td3", "recurrent_ppo", "dqn", "tqc"]
"""The built-in algorithms (:data:`ALGORITHMS`), as a type ``tyro`` lists in ``--help``."""
Observation = Literal["dict", "hidden"]
"""The env's observations an agent can train on."""
ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO,
    "a2c": A2C,
    "sac": SAC,
    "td3": TD3,
    "recurrent_ppo": RecurrentPPO,
    "dqn": DQN,
    "tqc": TQC,
}
assert tuple(ALGORITHMS) == get_args(Algo), "ALGORITHMS and Algo name the same algorithms"
GRID_ONLY = {"dqn"}

# Defaults for these envs (short episodes; gamma 0.7 as in GFNet's PPO). Override with --hp.
# Gaussian policies start narrow (std e^-2 = 0.14 of the image; GFNet fixes 0.1): SB3's default
# std 1 on a [0, 1] location puts most early samples on the border after clipping.
NARROW = {"log_std_init": -2.0}
# SAC and TQC start their (auto-tuned) entropy coefficient at 0.01, not SB3's 1: a return is at
# most 1 here (the gain in true-class confidence) and 64 envs give one gradient step per 64
# transitions, so from 1 the entropy bonus outweighs the reward for the whole budget and the
# deterministic location stays the centre (ClutteredMNIST-v0, 100k steps: SAC 87.2% -> 96.1%,
# TQC 87.1% -> 96.5%; random 91.9%).
SMALL_ENTROPY = {"ent_coef": "auto_0.01"}
DEFAULT_HYPERPARAMS: dict[str, dict[str, Any]] = {
    "ppo": {
        "n_steps": 16,
        "batch_size": 256,
        "n_epochs": 4,
        "gamma": 0.7,
        "learning_rate": 3e-4,
        "policy_kwargs": NARROW,
    },
    "a2c": {"n_steps": 8, "gamma": 0.7, "learning_rate": 7e-4, "policy_kwargs": NARROW},
    "sac": {
        "buffer_size": 100_000,
        "learning_starts": 1_000,
        "batch_size": 256,
        "gamma": 0.7,
        **SMALL_ENTROPY,
    },
    # TD3: with SB3's settings the deterministic location runs into a corner of the image, where
    # tanh's gradient vanishes, and stays there for every image (ClutteredMNIST-v0, 100k steps:
    # 76.0% with and without noise; lr 1e-4 with noise: 96.2% there but a corner again on
    # TranslatedMNIST, 92.0%). 10,000 random transitions before learning and the Zoo's Gaussian
    # noise: with lr 3e-4 still a corner on MaxMNIST (pre-tanh outputs about +-20; seed 0, 250k
    # steps, 18.6% on the evaluation canvases) and ClutteredMNIST100 (87.3%); with lr 1e-4
    # 54.2%, 97.2% and TranslatedMNIST 98.6%.
    "td3": {
        "buffer_size": 100_000,
        "learning_starts": 10_000,
        "batch_size": 256,
        "gamma": 0.7,
        "learning_rate": 1e-4,
        "noise_type": "normal",
        "noise_std": 0.1,
    },
    "recurrent_ppo": {
        "n_steps": 16,
        "batch_size": 256,
        "n_epochs": 4,
        "gamma": 0.7,
        "policy_kwargs": NARROW,
    },
    "dqn": {"buffer_size": 100_000, "learning_starts": 1_000, "batch_size": 256, "gamma": 0.7},
    "tqc": {
        "buffer_size": 100_000,
        "learning_starts": 1_000,
        "batch_size": 256,
        "gamma": 0.7,
        **SMALL_ENTROPY,
    },
}
DEFAULT_TIMESTEPS = 400_000


@dataclass
class AgentConfig(Training, PluginOptions):
    """Train one agent on the batched env; saves model.zip, summary.json and TensorBoard logs.
    The training settings (``num_envs``, ``eval_freq``, ``eval_images``, ``device``) are
    :class:`agents.settings.Training`'s."""

    algo: Algo = "ppo"
    """the algorithm (DQN with grid actions, the others with continuous locations)"""
    env: str = "GlanceFocus-ClutteredMNIST100-v0"
    """a registered glance-focus id"""
    timesteps: int = DEFAULT_TIMESTEPS
    seed: int = 0
    out: str | None = None
    """run folder; default runs/agents/<env>/<algo>-seed<seed>"""
    observation: Observation = "dict"
    """the env's observation: dict (the classifier's state and last feature map) or hidden (the
    state alone, which says little about where things are)"""
    features_dim: int = 256
    """output size of the GlanceStateExtractor"""
    hp: HyperParams = field(default_factory=dict)
    """algorithm hyperparameters overriding the defaults, e.g. --hp learning_rate=1e-4
    (policy_kwargs are merged key by key into the defaults)"""
    progress: bool = True
    stop_cost: float | None = None
    """learn when to stop: train with the env's stop_action and this flops_cost (reward per
    MFLOP of a focus step); default: no stop action"""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("algo", self.algo, Algo)
        check_choice("observation", self.observation, Observation)
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")

    @property
    def run_dir(self) -> Path:
        return Path(self.out or Path("runs") / "agents" / self.env / f"{self.algo}-seed{self.seed}")

    @property
    def env_arguments(self) -> dict[str, Any]:
        """Environment arguments of this run: ``env_kwargs``, the observation and, for DQN, grid
        actions (``env_kwargs`` may not set these differently)."""
        kwargs: dict[str, Any] = {"observation": self.observation}
        if self.algo in GRID_ONLY:
            kwargs["action_type"] = "grid"
        if self.stop_cost is not None:
            kwargs.update(stop_action=True, flops_cost=self.stop_cost)
        return merge_env_kwargs(self.env_kwargs, kwargs, by=f"--algo {self.algo} / --observation")


class AnytimeEvalCallback(BaseCallback):
    """Evaluate on the test split every ``eval_freq`` timesteps; log accuracy after each step."""

    def __init__(self, config: AgentConfig):
        super().__init__()
        self.config = config
        self.history: list[dict[str, Any]] = []
        self._next = config.eval_freq

    def _on_step(self) -> bool:
        if self.config.eval_freq and self.num_timesteps >= self._next:
            self._next += self.config.eval_freq
            self.evaluate()
        return True

    def evaluate(self) -> dict[str, Any]:
        """Run the harness now, log ``eval/acc_step<t>`` and keep the record."""
        cfg = self.config
        started = time.perf_counter()
        result = evaluate_anytime(
            self.model,
            cfg.env,
            max_images=cfg.eval_images,
            num_envs=min(cfg.num_envs, cfg.eval_images),
            device=self.model.device.type,
            **cfg.env_arguments,
        )
        record = curve_point(result, self.num_timesteps, time.perf_counter() - started)
        for t, accuracy in enumerate(result.anytime_accuracy):
            self.logger.record(f"eval/acc_step{t}", accuracy)
        self.logger.dump(self.num_timesteps)
        self.history.append(record)
        return record


def make_agent(config: AgentConfig) -> BaseAlgorithm:
    """Build the algorithm on the batched env with the project's feature extractor."""
    venv = make_sb3_vec_env(
        config.env,
        num_envs=config.num_envs,
        seed=config.seed,
        device=config.device,  # the env reads "auto" itself
        **config.env_arguments,
    )
    defaults = dict(DEFAULT_HYPERPARAMS[config.algo])
    hyperparams = {**defaults, **config.hp}
    policy_kwargs = {
        "features_extractor_class": GlanceStateExtractor,
        "features_extractor_kwargs": {"features_dim": config.features_dim},
        **defaults.get("policy_kwargs", {}),
        **config.hp.get("policy_kwargs", {}),
    }
    hyperparams.pop("policy_kwargs", None)
    noise = action_noise(
        hyperparams.pop("noise_type", None), hyperparams.pop("noise_std", None), venv.action_space
    )
    if noise is not None:
        hyperparams["action_noise"] = noise
    return ALGORITHMS[config.algo](
        _policy_name(config.algo, venv.observation_space),
        venv,
        seed=config.seed,
        device=config.device,
        tensorboard_log=str(config.run_dir / "tb"),
        policy_kwargs=policy_kwargs,
        verbose=0,
        **hyperparams,
    )


def train_agent(
    config: AgentConfig, extra_callback: BaseCallback | None = None
) -> tuple[BaseAlgorithm, dict[str, Any]]:
    """Train, evaluate on the test split, save ``model.zip`` and ``summary.json``. (To reuse a
    finished run with the same settings, train through :func:`agents.protocol.train_or_reuse`,
    as the benchmark and the leaderboard do.)

    Args:
        config: the run's settings.
        extra_callback: a further SB3 callback run during ``learn`` (e.g.
            :class:`agents.protocol.TimingCallback`, which measures the learner's share of time).

    Returns:
        The trained model and the summary (settings, evaluation history, paths).
    """
    model = make_agent(config)
    callback = AnytimeEvalCallback(config)
    callbacks = callback if extra_callback is None else CallbackList([callback, extra_callback])
    model.learn(
        config.timesteps, callback=callbacks, progress_bar=config.progress, tb_log_name=config.algo
    )
    history = callback.history
    done = bool(history) and history[-1]["timesteps"] == model.num_timesteps
    final = history[-1] if done else callback.evaluate()
    path = save_model(model, config.run_dir / "model.zip")
    summary = {
        "config": dataclasses.asdict(config),
        "model": str(path),
        "evaluations": callback.history,
        "final_anytime_accuracy": final["anytime_accuracy"],
    }
    write_json(summary, config.run_dir / "summary.json")
    return model, summary


def save_model(model: BaseAlgorithm, path: str | os.PathLike) -> Path:
    """``model.save`` atomically (temporary file, sync, rename): a crash never leaves half a model."""
    return atomic_write(path, model.save)


def load_model(
    algo: str, path: str | os.PathLike, *, trusted: bool = False, **kwargs: Any
) -> BaseAlgorithm:
    """Reload a saved agent with its algorithm's own ``load``.

    Unless ``trusted``, the pickled parts of the file are read with an allowlist
    (:func:`agents.model_files.safe_custom_objects`), so a file from elsewhere cannot run code;
    ``trusted=True`` lets SB3 unpickle them as they are (files you made yourself). Either way
    the weights must fill the model exactly (:func:`agents.model_files.load_exactly`).
    """
    check_choice("algo", algo, Algo)
    if not Path(path).is_file():
        raise FileNotFoundError(f"no saved agent at {str(path)!r}; pass the model.zip of a run")
    if not trusted:
        kwargs["custom_objects"] = {**safe_custom_objects(path), **kwargs.get("custom_objects", {})}
    return load_exactly(ALGORITHMS[algo], path, **kwargs)


def policy_env_kwargs(policy: BaseAlgorithm) -> dict[str, Any]:
    """The env arguments a saved policy was trained with, read off its spaces (a stop action
    shows as a third continuous component or one action more than the ``G * G`` cells; its
    ``flops_cost`` only shaped training and is not needed to act)."""
    kwargs: dict[str, Any] = {
        "observation": "dict" if isinstance(policy.observation_space, gym.spaces.Dict) else "hidden"
    }
    space = policy.action_space
    if isinstance(space, gym.spaces.Discrete):
        kwargs["action_type"] = "grid"
        kwargs["grid_size"] = math.isqrt(int(space.n))
        if kwargs["grid_size"] ** 2 != space.n:  # G * G cells and the stop action
            kwargs["stop_action"] = True
    elif space.shape == (3,):  # row, column, stop
        kwargs["stop_action"] = True
    return kwargs


def load_agent(
    algo: str, path: str | os.PathLike, device: str = "auto"
) -> tuple[BaseAlgorithm, dict[str, Any]]:
    """A saved agent (:func:`load_model`, on ``device``) and the env arguments it was trained
    with."""
    policy = load_model(algo, path, device=device)
    return policy, policy_env_kwargs(policy)


ACTION_NOISES: dict[str, type[ActionNoise]] = {
    "normal": NormalActionNoise,
    "ornstein-uhlenbeck": OrnsteinUhlenbeckActionNoise,
}


def action_noise(
    noise_type: str | None, noise_std: float | None, action_space: gym.Space
) -> ActionNoise | None:
    """Exploration noise of the off-policy algorithms from the RL Zoo's two hyperparameters
    (``noise_type``, ``noise_std``), so the defaults and the generated Zoo files say the same.
    SB3 adds it to the action scaled to [-1, 1]: ``noise_std=0.1`` moves a location by 5% of the
    image."""
    if noise_type is None:
        if noise_std is not None:
            raise ValueError(
                f"noise_std={noise_std!r} needs a noise_type: one of {sorted(ACTION_NOISES)}"
            )
        return None
    check_choice("noise_type", noise_type, sorted(ACTION_NOISES))
    if not isinstance(action_space, gym.spaces.Box):
        raise ValueError(
            f"noise_type={noise_type!r} needs continuous actions, got {action_space}; "
            "leave the noise out for grid actions"
        )
    std = 0.1 if noise_std is None else float(noise_std)
    if not std > 0:
        raise ValueError(f"noise_std must be > 0, got {noise_std!r}")
    size = action_space.shape[-1]
    return ACTION_NOISES[noise_type](mean=np.zeros(size), sigma=std * np.ones(size))


def _policy_name(algo: str, observation_space: gym.Space) -> str:
    prefix = "MultiInput" if isinstance(observation_space, gym.spaces.Dict) else "Mlp"
    return f"{prefix}LstmPolicy" if algo == "recurrent_ppo" else f"{prefix}Policy"


def main(argv: list[str] | None = None) -> int:
    """``glance-focus train`` (``python -m agents.train``): train one agent, print its accuracy."""
    return run_train(tyro.cli(AgentConfig, prog="glance-focus train", args=argv))


def run_train(config: AgentConfig) -> int:
    """Train ``config``'s agent and print where it was saved and its test accuracy per step."""
    _, summary = train_agent(config)
    accuracy = " ".join(f"{a:.3f}" for a in summary["final_anytime_accuracy"])
    print(f"saved {summary['model']}; test accuracy per step: {accuracy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
