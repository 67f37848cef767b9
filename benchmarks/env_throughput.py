"""Environment throughput: native vector env vs SyncVectorEnv vs the classifier alone.

(a) ``GlanceFocusVectorEnv`` with N envs; (b) Gymnasium's ``SyncVectorEnv`` over N single envs;
(c) the limit: the classifier calls the env makes (a focus forward every step, a glance on the step
that starts each episode), run alone on pre-cut batch-N tensors. Both envs use Gymnasium's default
NEXT_STEP autoreset, so every ``max_focus_steps + 1`` step calls hold one reset (glance) and
``max_focus_steps`` focus steps; (c) does the same calls in the same proportion. Steps/s count one
transition per sub-environment. All three run in one process on the same classifier, interleaved
in short rounds (this machine's speed drifts by tens of percent over seconds), and each variant's
rate is its total steps over its total time. The rounds cycle through every order of the variants,
so none always runs after the same one: the one that runs after SyncVectorEnv's 64 separate
envs finds the caches cold (in a fixed order that cost always fell on the vector env, about 4% of
its rate on the multi-look ids).

ImageNet-scale row (``--imagenet``): ``GlanceFocus-ImageFolder-v0`` over generated 224x224 JPEGs
(written to a temporary folder, ``--images`` of them in 10 classes), the MobileNet-V3 GF model at
P = 96 (``gf-mobilenetv3-large-p96``, random weights, T = 3) and its standard preprocessing (resize
to 256, centre crop 224). The env decodes every new image (background threads with decode-ahead,
:mod:`classifiers.data.folder`); the limit (c) runs the same classifier calls on one pre-decoded
batch, so a/c is the share of the classifier's speed that survives decoding. SyncVectorEnv is left
out of this row.

Usage::

    python benchmarks/env_throughput.py --json results/env_throughput.json
    python benchmarks/env_throughput.py --imagenet --num-envs 32 --json results/env_imagenet.json
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from collections.abc import Callable

import _path  # noqa: F401  (first: keeps benchmarks/classifiers.py from shadowing the package)
import gymnasium as gym
import numpy as np
import torch

import gf_env  # noqa: F401  (registers the ids)
from agents.reporting import print_table, write_json
from benchmarks._report import machine
from classifiers import create_classifier

IMAGENET_CLASSIFIER = "gf-mobilenetv3-large-p96"


def write_images(root: str, count: int, classes: int = 10, side: int = 224, seed: int = 0) -> None:
    """``count`` smooth random colour JPEGs (``side`` x ``side``) in ``classes`` class folders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(count):
        folder = f"{root}/class{i % classes:02d}"
        os.makedirs(folder, exist_ok=True)
        coarse = rng.integers(0, 256, (side // 16, side // 16, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((side, side), Image.Resampling.BICUBIC)
        image.save(f"{folder}/{i:05d}.jpg", quality=90)


def env_runner(env, num_envs: int, seed: int) -> Callable[[int], float]:
    """``run(k)``: step ``env`` ``k`` times with random actions; returns the seconds taken."""
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)

    def run(count: int) -> float:
        actions = rng.random((count, num_envs, 2)).astype(np.float32)
        start = time.perf_counter()
        for action in actions:
            env.step(action)
        return time.perf_counter() - start

    return run


def limit_runner(env, num_envs: int, seed: int) -> Callable[[int], float]:
    """``run(k)``: the classifier calls of ``k`` env steps alone, on tensors cut in advance; returns
    the seconds taken."""
    engine = env.engine
    model = engine.classifier
    period = engine.max_focus_steps + 1
    rng = np.random.default_rng(seed)
    batch = engine.source.sample_batch(
        rng.integers(len(engine.source), size=num_envs), [rng] * num_envs
    )
    images = torch.from_numpy(batch.images).to(engine.device)
    patches = images[:, :, : engine.patch_size, : engine.patch_size].contiguous()
    with torch.inference_mode():
        state = model.glance(images).state
    step = 0

    @torch.inference_mode()
    def run(count: int) -> float:
        nonlocal state, step
        start = time.perf_counter()
        for _ in range(count):
            if step % period == 0:
                state = model.glance(images).state
            else:
                state = model.focus(patches, state).state
            step += 1
        return time.perf_counter() - start

    return run


def round_orders(names: list[str], rounds: int) -> list[tuple[str, ...]]:
    """The order of the variants in each of ``rounds`` rounds: every permutation in turn, so that
    each variant holds each place equally often and none always runs after the same one."""
    orders = itertools.cycle(itertools.permutations(names))
    return [next(orders) for _ in range(rounds)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="GlanceFocus-ClutteredMNIST100-v0")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="step calls per round and variant")
    parser.add_argument(
        "--sync-steps", type=int, default=1, help="step calls per round for SyncVectorEnv"
    )
    parser.add_argument("--rounds", type=int, default=60, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument(
        "--imagenet",
        action="store_true",
        help=f"the ImageNet-scale row: {IMAGENET_CLASSIFIER} on generated 224x224 JPEGs",
    )
    parser.add_argument("--images", type=int, default=1000, help="generated images (--imagenet)")
    parser.add_argument("--workers", type=int, default=2, help="decoding threads (--imagenet)")
    args = parser.parse_args(argv)
    n = args.num_envs

    if args.imagenet:
        folder = tempfile.TemporaryDirectory(prefix="gf-bench-")
        write_images(folder.name, args.images)
        classifier = create_classifier(IMAGENET_CLASSIFIER, device=args.device, num_classes=10)
        args.env = "GlanceFocus-ImageFolder-v0"
        env_kwargs = dict(
            root=folder.name, classifier=classifier, max_focus_steps=2, workers=args.workers
        )
        vector = gym.make_vec(args.env, num_envs=n, **env_kwargs)
        sync = None
    else:
        vector = gym.make_vec(args.env, num_envs=n, device=args.device)
        sync = gym.make_vec(args.env, num_envs=n, vectorization_mode="sync", device=args.device)
    runners = {
        "vector": (env_runner(vector, n, args.seed), args.steps),
        "limit": (limit_runner(vector, n, args.seed), args.steps),
    }
    if sync is not None:
        runners["sync"] = (env_runner(sync, n, args.seed), args.sync_steps)
    for run, _ in runners.values():
        run(args.warmup)
    # The machine's speed drifts: interleave the variants in short rounds and sum their times,
    # cycling through the orders so that no variant always runs after the same one.
    seconds = dict.fromkeys(runners, 0.0)
    for order in round_orders(list(runners), args.rounds):
        for name in order:
            run, steps = runners[name]
            seconds[name] += run(steps)
    rates = {name: args.rounds * steps * n / seconds[name] for name, (_, steps) in runners.items()}
    vector_rate, sync_rate, limit = rates["vector"], rates.get("sync"), rates["limit"]
    over_limit = vector_rate / limit
    over_sync = None if sync_rate is None else vector_rate / sync_rate
    target = 0.8 if args.imagenet else 0.85

    flops = vector.engine.flops
    result = {
        "env": args.env,
        "classifier": IMAGENET_CLASSIFIER if args.imagenet else None,
        "num_envs": n,
        "device": args.device,
        "vector_steps_per_s": vector_rate,
        "sync_steps_per_s": sync_rate,
        "limit_steps_per_s": limit,
        "vector_over_limit": over_limit,
        "vector_over_sync": over_sync,
        "rounds": args.rounds,
        "steps_per_round": {"vector": args.steps, "sync": args.sync_steps, "limit": args.steps},
        "targets": {"vector_over_limit": target, "vector_over_sync": 1.5},
        "classifier_mflops": {"glance": flops.glance / 1e6, "focus": flops.focus / 1e6},
        "machine": machine(),
    }
    rows = [["(a) GlanceFocusVectorEnv", vector_rate, ""]]
    if sync_rate is not None:
        rows.append(
            ["(b) SyncVectorEnv x single env", sync_rate, f"a/b = {over_sync:.2f} (target >= 1.5)"]
        )
    rows.append(
        ["(c) classifier alone (limit)", limit, f"a/c = {over_limit:.2f} (target >= {target})"]
    )
    print(f"{args.env}, {n} envs, device {args.device}")
    print_table(["variant", "steps/s", "ratio"], rows)
    if args.json:
        print(f"wrote {write_json(result, args.json)}")
    return result


if __name__ == "__main__":
    main()
