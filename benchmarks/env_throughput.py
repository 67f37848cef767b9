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
(written to a temporary folder, ``--images`` of them in 10 classes), an ImageNet GF model
(``--classifier``, default the MobileNet-V3 one at P = 96, ``gf-mobilenetv3-large-p96``, T = 3;
random weights, 10 classes, ``max_focus_steps`` = T - 1) and its standard preprocessing (resize to
256, centre crop 224). The env decodes every new image (background threads with decode-ahead,
:mod:`classifiers.data.folder`, with room in its cache for two batches); the limit (c) runs the same
classifier calls on one pre-decoded batch, so a/c is the share of the classifier's speed that
survives decoding. SyncVectorEnv is left out of this row.

On a GPU the limit (c) waits for the device at the end of each timed stretch (the env waits anyway:
it copies its outputs to the host every step). :func:`measure` is the whole measurement of one row,
for scripts that run several (``benchmarks/gpu.py``).

Usage::

    python -m benchmarks.env_throughput --json results/env_throughput.json
    python -m benchmarks.env_throughput --imagenet --num-envs 32 --json results/env_imagenet.json
    python -m benchmarks.env_throughput --imagenet --classifier gf-resnet50-p96 --device cuda
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import gf_env  # noqa: F401  (registers the ids)
from agents.reporting import print_table, write_json
from benchmarks._report import machine
from classifiers import create_classifier
from classifiers.torchvision_models import MODEL_SPECS

DEFAULT_ENV = "GlanceFocus-ClutteredMNIST100-v0"
IMAGENET_CLASSIFIER = "gf-mobilenetv3-large-p96"
FOLDER_ENV = "GlanceFocus-ImageFolder-v0"
IMAGENET_CLASSES = 10
"""Class folders of the generated JPEGs (the classifier is built with this many classes)."""


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


def _wait(device: torch.device) -> None:
    """Wait until ``device`` has done the work queued on it (CUDA runs kernels asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
    the seconds taken (until the device has finished them)."""
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
        _wait(engine.device)
        start = time.perf_counter()
        for _ in range(count):
            if step % period == 0:
                state = model.glance(images).state
            else:
                state = model.focus(patches, state).state
            step += 1
        _wait(engine.device)
        return time.perf_counter() - start

    return run


def round_orders(names: list[str], rounds: int) -> list[tuple[str, ...]]:
    """The order of the variants in each of ``rounds`` rounds: every permutation in turn, so that
    each variant holds each place equally often and none always runs after the same one."""
    orders = itertools.cycle(itertools.permutations(names))
    return [next(orders) for _ in range(rounds)]


def interleaved_rates(
    runners: dict[str, tuple[Callable[[int], float], int]],
    num_envs: int,
    rounds: int,
    warmup: int,
) -> dict[str, float]:
    """Steps/s of each ``name: (run, step calls per round)``, run interleaved in ``rounds`` short
    rounds after ``warmup`` step calls each: total transitions over total seconds."""
    for run, _ in runners.values():
        run(warmup)
    # The machine's speed drifts: interleave the variants in short rounds and sum their times,
    # cycling through the orders so that no variant always runs after the same one.
    seconds = dict.fromkeys(runners, 0.0)
    for order in round_orders(list(runners), rounds):
        for name in order:
            run, steps = runners[name]
            seconds[name] += run(steps)
    return {name: rounds * steps * num_envs / seconds[name] for name, (_, steps) in runners.items()}


def imagenet_vector_env(
    root: str,
    classifier: str,
    num_envs: int,
    device: str = "cpu",
    workers: int = 2,
    classifier_overrides: dict[str, Any] | None = None,
):
    """``GlanceFocus-ImageFolder-v0`` over the JPEG folder ``root`` (:func:`write_images`) with
    the ImageNet GF model ``classifier`` (random weights, :data:`IMAGENET_CLASSES` classes,
    architecture fields from ``classifier_overrides``) and ``max_focus_steps`` = T - 1. The image
    cache holds two batches, so that decode-ahead has room for the next one (the env's default
    of 256 leaves none from 256 envs on)."""
    if classifier not in MODEL_SPECS:
        raise ValueError(
            f"classifier {classifier!r} is not an ImageNet GF model; choose one of "
            f"{sorted(MODEL_SPECS)}"
        )
    model = create_classifier(
        classifier, device=device, num_classes=IMAGENET_CLASSES, **(classifier_overrides or {})
    )
    return gym.make_vec(
        FOLDER_ENV,
        num_envs=num_envs,
        root=root,
        classifier=model,
        max_focus_steps=MODEL_SPECS[classifier][0].steps - 1,
        workers=workers,
        cache_size=max(256, 2 * num_envs),
    )


def measure(
    env_id: str = DEFAULT_ENV,
    num_envs: int = 64,
    *,
    device: str = "cpu",
    sync: bool = True,
    imagenet: str | None = None,
    images_root: str | None = None,
    workers: int = 2,
    classifier_overrides: dict[str, Any] | None = None,
    steps: int = 5,
    sync_steps: int = 1,
    rounds: int = 60,
    warmup: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """One row: (a) the vector env, (b) SyncVectorEnv (if ``sync``) and (c) the classifier alone.

    Args:
        env_id: a registered id (ignored with ``imagenet``).
        num_envs: N.
        device: where the classifier runs.
        sync: also measure Gymnasium's SyncVectorEnv over N single envs (not with ``imagenet``).
        imagenet: an ImageNet GF model name: the ImageNet-scale row (:func:`imagenet_vector_env`)
            over the JPEGs in ``images_root``, decoded by ``workers`` threads.
        steps, sync_steps: step calls per round of (a) and (c), and of (b).
        rounds, warmup: interleaved rounds, and untimed step calls of each variant first.

    Returns:
        The row's record (steps/s of each variant, the ratios a/c and a/b, the settings).
    """
    if imagenet is not None:
        if images_root is None:
            raise ValueError("the ImageNet-scale row needs images_root: a folder of write_images")
        env_id, sync = FOLDER_ENV, False
        vector = imagenet_vector_env(
            images_root, imagenet, num_envs, device, workers, classifier_overrides
        )
    else:
        vector = gym.make_vec(env_id, num_envs=num_envs, device=device)
    runners = {
        "vector": (env_runner(vector, num_envs, seed), steps),
        "limit": (limit_runner(vector, num_envs, seed), steps),
    }
    sync_env = None
    if sync:
        sync_env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync", device=device)
        runners["sync"] = (env_runner(sync_env, num_envs, seed), sync_steps)
    try:
        rates = interleaved_rates(runners, num_envs, rounds, warmup)
        engine = vector.engine
    finally:
        vector.close()
        if sync_env is not None:
            sync_env.close()
    vector_rate, sync_rate, limit = rates["vector"], rates.get("sync"), rates["limit"]
    return {
        "env": env_id,
        "classifier": imagenet,
        "num_envs": num_envs,
        "device": str(engine.device),
        "max_focus_steps": engine.max_focus_steps,
        "vector_steps_per_s": vector_rate,
        "sync_steps_per_s": sync_rate,
        "limit_steps_per_s": limit,
        "vector_over_limit": vector_rate / limit,
        "vector_over_sync": None if sync_rate is None else vector_rate / sync_rate,
        "rounds": rounds,
        "steps_per_round": {"vector": steps, "sync": sync_steps, "limit": steps},
        "decode_workers": workers if imagenet is not None else None,
        "targets": {"vector_over_limit": 0.8 if imagenet else 0.85, "vector_over_sync": 1.5},
        "classifier_mflops": {
            "glance": engine.flops.glance / 1e6,
            "focus": engine.flops.focus / 1e6,
        },
        "machine": machine(),
    }


def print_row(result: dict[str, Any]) -> None:
    """The row as a table: each variant's steps/s and the ratios against their targets."""
    targets = result["targets"]
    rows = [["(a) GlanceFocusVectorEnv", result["vector_steps_per_s"], ""]]
    if result["sync_steps_per_s"] is not None:
        rows.append(
            [
                "(b) SyncVectorEnv x single env",
                result["sync_steps_per_s"],
                f"a/b = {result['vector_over_sync']:.2f} (target >= {targets['vector_over_sync']})",
            ]
        )
    rows.append(
        [
            "(c) classifier alone (limit)",
            result["limit_steps_per_s"],
            f"a/c = {result['vector_over_limit']:.2f} (target >= {targets['vector_over_limit']})",
        ]
    )
    model = f" ({result['classifier']})" if result["classifier"] else ""
    print(f"{result['env']}{model}, {result['num_envs']} envs, device {result['device']}")
    print_table(["variant", "steps/s", "ratio"], rows)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default=DEFAULT_ENV)
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
        help="the ImageNet-scale row: --classifier on generated 224x224 JPEGs",
    )
    parser.add_argument(
        "--classifier",
        default=IMAGENET_CLASSIFIER,
        choices=sorted(MODEL_SPECS),
        help="the ImageNet GF model (--imagenet)",
    )
    parser.add_argument("--images", type=int, default=1000, help="generated images (--imagenet)")
    parser.add_argument("--workers", type=int, default=2, help="decoding threads (--imagenet)")
    args = parser.parse_args(argv)
    settings = dict(
        device=args.device,
        steps=args.steps,
        sync_steps=args.sync_steps,
        rounds=args.rounds,
        warmup=args.warmup,
        seed=args.seed,
    )
    if args.imagenet:
        with tempfile.TemporaryDirectory(prefix="gf-bench-") as folder:
            write_images(folder, args.images, IMAGENET_CLASSES)
            result = measure(
                num_envs=args.num_envs,
                imagenet=args.classifier,
                images_root=folder,
                workers=args.workers,
                **settings,
            )
    else:
        result = measure(args.env, args.num_envs, **settings)
    print_row(result)
    if args.json:
        print(f"wrote {write_json(result, args.json)}")
    return result


if __name__ == "__main__":
    main()
