"""Quickstart: one episode of the 100x100 cluttered-MNIST env with random patch locations.

python examples/quickstart.py --seed 0
"""

from __future__ import annotations

import argparse

import gymnasium as gym

import gf_env

gym.register_envs(gf_env)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="GlanceFocus-ClutteredMNIST100-v0")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    env = gym.make(args.env, split="test")
    _, info = env.reset(seed=args.seed)
    env.action_space.seed(args.seed)
    print(
        f"label {info['label']}: glance predicts {info['prediction']} (p(y) = {info['true_class_prob']:.2f})"
    )
    total, terminated = 0.0, False
    while not terminated:
        _, reward, terminated, _, info = env.step(env.action_space.sample())
        total += reward
        print(
            f"step {info['step']}: patch {info['patch_box']} -> predicts {info['prediction']} "
            f"(p(y) = {info['true_class_prob']:.2f}, reward {reward:+.3f}, {info['flops'] / 1e6:.1f} MFLOPs)"
        )
    print(f"return {total:+.3f}")
    return total


if __name__ == "__main__":
    main()
