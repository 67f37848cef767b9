"""Soak: many steps of the native vector env in one process; speed over time and memory.

Steps the batched env (Gymnasium's default NEXT_STEP autoreset, random actions) until ``--steps``
transitions (one per sub-environment per step call, as in ``env_throughput.py``) and reports, per
time window, steps/s and the resident set size (RSS, from ``/proc/self/statm``), plus the live
Python objects at start and end. A leak shows as RSS or object count growing window after window;
a slowdown as steps/s falling. It also checks that the env's classifier state carries no autograd
history (the engine runs the classifier under ``torch.inference_mode``).

Usage::

    python -m benchmarks.soak --steps 100000 --json results/soak.json
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import resource
import time

import gymnasium as gym
import numpy as np
import torch

import gf_env  # noqa: F401  (registers the ids)
from agents.reporting import print_table, write_json
from benchmarks._report import machine


def rss_mb() -> float:
    """Current resident set size in MiB (``/proc/self/statm``; peak RSS where there is no /proc)."""
    try:
        with open("/proc/self/statm") as handle:
            resident_pages = int(handle.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux


def live_objects() -> int:
    gc.collect()
    return len(gc.get_objects())


def autograd_free(env) -> bool:
    """No tensor the engine keeps between steps requires grad or has a graph behind it."""
    engine = env.engine
    kept = [engine.state, engine.images, engine.labels]
    params = getattr(engine.classifier, "parameters", lambda: [])()
    return not any(t.requires_grad or t.grad_fn is not None for t in kept) and not any(
        p.requires_grad for p in params
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="GlanceFocus-ClutteredMNIST100-v0")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=100_000, help="transitions in all")
    parser.add_argument("--windows", type=int, default=10, help="report this many time windows")
    parser.add_argument("--warmup", type=int, default=20, help="step calls before measuring")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0: default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    n = args.num_envs
    calls = -(-args.steps // n)
    if calls < args.windows:
        parser.error(f"--steps {args.steps} is fewer than one step call per window")

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    env = gym.make_vec(args.env, num_envs=n, device=args.device)
    rng = np.random.default_rng(args.seed)
    env.reset(seed=args.seed)
    for _ in range(args.warmup):
        env.step(rng.random((n, 2), dtype=np.float32))
    rss_start, objects_start = rss_mb(), live_objects()

    bounds = np.linspace(0, calls, args.windows + 1).round().astype(int)
    windows = []
    episodes = 0
    for first, end in itertools.pairwise(bounds):
        actions = rng.random((end - first, n, 2), dtype=np.float32)
        start = time.perf_counter()
        for action in actions:
            episodes += int(env.step(action)[2].sum())
        seconds = time.perf_counter() - start
        windows.append(
            {
                "transitions": int((end - first) * n),
                "seconds": seconds,
                "steps_per_s": (end - first) * n / seconds,
                "rss_mb": rss_mb(),
            }
        )
    rss_end, objects_end = rss_mb(), live_objects()

    result = {
        "env": args.env,
        "num_envs": n,
        "device": args.device,
        "transitions": int(calls * n),
        "step_calls": int(calls),
        "episodes": episodes,
        "seconds": sum(w["seconds"] for w in windows),
        "steps_per_s_first_window": windows[0]["steps_per_s"],
        "steps_per_s_last_window": windows[-1]["steps_per_s"],
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        "rss_mb_growth": rss_end - rss_start,
        "rss_mb_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10,
        "live_objects_start": objects_start,
        "live_objects_end": objects_end,
        "autograd_free": autograd_free(env),
        "inference_mode_outside_env": torch.is_inference_mode_enabled(),
        "windows": windows,
        "machine": machine(),
    }
    print_table(
        ["window", "transitions", "steps/s", "RSS MiB"],
        [
            [i + 1, w["transitions"], round(w["steps_per_s"]), round(w["rss_mb"], 1)]
            for i, w in enumerate(windows)
        ],
    )
    print(
        f"RSS {rss_start:.1f} -> {rss_end:.1f} MiB ({rss_end - rss_start:+.1f}); live objects "
        f"{objects_start} -> {objects_end}; autograd-free: {result['autograd_free']}"
    )
    if args.json:
        print(f"wrote {write_json(result, args.json)}")
    return result


if __name__ == "__main__":
    main()
