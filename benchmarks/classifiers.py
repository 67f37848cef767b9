"""Shipped classifiers on the test split: accuracy per step, glance alone, MFLOPs per step.

For every MNIST id, each of the test digits is one episode of the id's vector env
(``split="test"``, one canvas per digit, seeded placements) with uniformly random patch locations;
accuracy is the share of correct predictions after the glance and after each focus step. The
"digit-centred" row focuses every patch on the digit instead (locations from the canvas's known
digit box): what a perfect policy could get from the same classifier.

Usage::

    python benchmarks/classifiers.py --json results/classifiers.json
"""

from __future__ import annotations

import argparse

import _path  # noqa: F401  (first: keeps benchmarks/classifiers.py from shadowing the package)
import gymnasium as gym
import numpy as np

import gf_env
from benchmarks._report import machine, print_table, write_json
from classifiers.data import CanvasDataset, DigitSet
from classifiers.train import evaluate


def random_policy_accuracy(
    env_id: str, batch: int, seed: int, device: str, max_images: int | None
) -> tuple[list[float], object]:
    """Accuracy after each step with uniformly random locations, one episode per test image."""
    env = gym.make_vec(env_id, num_envs=batch, split="test", device=device)
    engine = env.engine
    total = min(len(engine.source), max_images or len(engine.source))
    steps = engine.max_focus_steps
    correct = np.zeros(steps + 1)
    rng = np.random.default_rng(seed)
    for start in range(0, total, batch):
        index = [i if i < total else None for i in range(start, start + batch)]
        count = sum(i is not None for i in index)
        _, info = env.reset(seed=seed + start, options={"index": index})
        correct[0] += (info["prediction"] == info["label"])[:count].sum()
        for t in range(steps):
            _, _, _, _, info = env.step(rng.random((batch, 2)).astype(np.float32))
            correct[t + 1] += (info["prediction"] == info["label"])[:count].sum()
    return (correct / total).tolist(), engine


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="*", default=gf_env.list_envs(offline_only=True))
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-images", type=int, default=None, help="only the first N test images")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    results = {}
    rows = []
    for env_id in args.envs:
        accuracy, engine = random_policy_accuracy(
            env_id, args.batch, args.seed, args.device, args.max_images
        )
        steps = engine.max_focus_steps
        source = engine.source
        if args.max_images is not None:
            source = CanvasDataset(
                DigitSet(
                    source.digits.images[: args.max_images], source.digits.labels[: args.max_images]
                ),
                source.spec,
            )
        centred = evaluate(engine.classifier, source, steps, seed=args.seed, target_prob=1.0)
        flops = engine.flops
        results[env_id] = {
            "classifier": gym.spec(env_id).kwargs["classifier"],
            "test_images": len(source),
            "glance_accuracy": accuracy[0],
            "random_accuracy_per_step": accuracy,
            "digit_centred_accuracy_per_step": centred,
            "mflops_glance": flops.glance / 1e6,
            "mflops_focus": flops.focus / 1e6,
            "mflops_cumulative": [flops.cumulative(t) / 1e6 for t in range(steps + 1)],
            "patch_size": engine.patch_size,
            "glance_size": engine.classifier.config.glance_size,
        }
        rows.append([env_id, "random", *accuracy])
        rows.append(["", "digit-centred", *centred])
        rows.append(["", "MFLOPs (cum.)", *results[env_id]["mflops_cumulative"]])
    steps = max(len(r) for r in rows) - 2
    print_table(["env", "locations", "glance", *(f"focus {t}" for t in range(1, steps))], rows)
    write_json({"results": results, "seed": args.seed, "machine": machine()}, args.json)
    return results


if __name__ == "__main__":
    main()
