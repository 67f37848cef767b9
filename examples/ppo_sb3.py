"""Train Stable-Baselines3 PPO on the batched env (one classifier call per step for all envs).

    python examples/ppo_sb3.py --timesteps 20000 --num-envs 64

A single readable script: arguments, seeding, environment, agent, evaluation.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
from stable_baselines3 import PPO

from gf_env.sb3 import make_sb3_vec_env


@dataclass
class Args:
    env: str = "GlanceFocus-ClutteredMNIST100-v0"
    timesteps: int = 20_000
    num_envs: int = 64
    seed: int = 0
    eval_episodes: int = 256
    device: str = "cpu"


def parse(argv: list[str] | None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, value in vars(Args()).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    return Args(**vars(parser.parse_args(argv)))


def evaluate(model: PPO, args: Args) -> float:
    """Final-step accuracy of the deterministic policy on test canvases."""
    venv = make_sb3_vec_env(
        args.env, num_envs=args.num_envs, seed=args.seed + 1, split="test", device=args.device
    )
    obs = venv.reset()
    correct = []
    while len(correct) < args.eval_episodes:
        actions, _ = model.predict(obs, deterministic=True)
        obs, _, dones, infos = venv.step(actions)
        correct += [
            info["prediction"] == info["label"]
            for info, done in zip(infos, dones, strict=True)
            if done
        ]
    return float(np.mean(correct[: args.eval_episodes]))


def main(argv: list[str] | None = None) -> float:
    args = parse(argv)
    venv = make_sb3_vec_env(args.env, num_envs=args.num_envs, seed=args.seed, device=args.device)
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=16,
        batch_size=min(256, 16 * args.num_envs),
        learning_rate=3e-4,
        gamma=0.7,
        seed=args.seed,
        device=args.device,
        verbose=0,
    )
    model.learn(args.timesteps)
    accuracy = evaluate(model, args)
    print(f"PPO ({args.timesteps} steps): final-step test accuracy {accuracy:.3f}")
    return accuracy


if __name__ == "__main__":
    main()
