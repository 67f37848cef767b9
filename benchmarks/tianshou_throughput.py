"""Tianshou collection speed: the batched adapter vs Tianshou's own ``DummyVectorEnv``.

(a) :class:`gf_env.tianshou.TianshouVectorEnv` (one batched classifier call per collector step)
and (b) ``tianshou.env.DummyVectorEnv`` over N single envs (N classifier calls per step), both
filled by ``tianshou.data.Collector.collect(n_step=..., random=True)`` with N sub-environments, so
what is timed is what a Tianshou user's data collection costs without the policy. Grid actions
(``Discrete``) let a DQN policy object stand in (``random=True`` never calls it). The two run
interleaved in short rounds (this machine's speed drifts) and each rate is its total steps over
its total time.

Usage::

    python -m benchmarks.tianshou_throughput --json results/tianshou_throughput.json
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
from tianshou.data import Collector, VectorReplayBuffer
from tianshou.env import BaseVectorEnv, DummyVectorEnv
from tianshou.utils.net.common import Net

import gf_env  # noqa: F401  (registers the ids)
from agents.reporting import print_table, write_json
from benchmarks._report import machine
from gf_env.tianshou import make_tianshou_vec_env


def collector(envs: BaseVectorEnv, seed: int) -> Collector:
    """A collector over ``envs`` with a stand-in policy and a small replay buffer, reset."""
    space, obs = envs.action_space[0], envs.observation_space[0]
    net = Net(state_shape=obs.shape, action_shape=space.n, hidden_sizes=[16])
    policy = DiscreteQLearningPolicy(model=net, action_space=space)
    out = Collector(policy, envs, VectorReplayBuffer(64 * len(envs), len(envs)))
    out.reset(gym_reset_kwargs={"seed": seed})
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="GlanceFocus-ClutteredMNIST100-v0")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="collector steps per round, adapter")
    parser.add_argument("--dummy-steps", type=int, default=1, help="... and DummyVectorEnv")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=5, help="collector steps before timing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    n = args.num_envs

    kwargs = {"action_type": "grid", "device": "cpu"}
    variants = {
        "adapter": (collector(make_tianshou_vec_env(args.env, n, **kwargs), args.seed), args.steps),
        "dummy": (
            collector(DummyVectorEnv([lambda: gym.make(args.env, **kwargs)] * n), args.seed),
            args.dummy_steps,
        ),
    }
    for run, _ in variants.values():
        run.collect(n_step=args.warmup * n, random=True)
    seconds = dict.fromkeys(variants, 0.0)
    for _ in range(args.rounds):
        for name, (run, steps) in variants.items():
            start = time.perf_counter()
            run.collect(n_step=steps * n, random=True)
            seconds[name] += time.perf_counter() - start
    rates = {name: args.rounds * steps * n / seconds[name] for name, (_, steps) in variants.items()}
    speedup = rates["adapter"] / rates["dummy"]
    result = {
        "env": args.env,
        "num_envs": n,
        "adapter_steps_per_s": rates["adapter"],
        "dummy_steps_per_s": rates["dummy"],
        "adapter_over_dummy": speedup,
        "rounds": args.rounds,
        "steps_per_round": {"adapter": args.steps, "dummy": args.dummy_steps},
        "machine": machine(),
    }
    print(f"{args.env}, {n} envs, Tianshou Collector (random actions)")
    print_table(
        ["variant", "steps/s", "ratio"],
        [
            ["(a) gf_env.tianshou adapter", rates["adapter"], f"a/b = {speedup:.2f}"],
            ["(b) DummyVectorEnv x single env", rates["dummy"], ""],
        ],
    )
    if args.json:
        print(f"wrote {write_json(result, args.json)}")
    return result


if __name__ == "__main__":
    main()
