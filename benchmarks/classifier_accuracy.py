"""Shipped classifiers on the test split: accuracy per step, glance alone, MFLOPs per step.

For every MNIST id, the id's classifier sees one canvas per test digit (seeded placements) and
focuses ``max_focus_steps`` times at uniformly random locations; accuracy is the share of correct
predictions after the glance and after each focus step. The "digit-centred" row focuses every patch
on the digit instead (locations from the canvas's known digit box, same canvases): what a policy
that always finds the digit could get from the same classifier. On canvases with several digits
(``GlanceFocus-MaxMNIST-v0``, ``GlanceFocus-SearchMNIST-v0``) the steps visit the K digits in turn,
from a random first one, so the first K steps read every digit once.

Usage::

    python -m benchmarks.classifier_accuracy --json results/classifiers.json
"""

from __future__ import annotations

import argparse

import gymnasium as gym

import gf_env
from agents.reporting import print_table, write_json
from benchmarks._report import machine
from classifiers.training import evaluate


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="*", default=gf_env.list_envs(offline_only=True))
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--max-images", type=int, default=None, help="only N test images, spread over the split"
    )
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    results = {}
    rows = []
    for env_id in args.envs:
        engine = gym.make(env_id, split="test", device=args.device).unwrapped.engine
        steps = engine.max_focus_steps
        source = engine.source if args.max_images is None else engine.source.spread(args.max_images)
        # the same canvases for both rows: evaluate() draws the same numbers for either placement
        accuracy = evaluate(
            engine.classifier, source, steps, args.batch, args.seed, target_prob=0.0
        )
        centred = evaluate(engine.classifier, source, steps, args.batch, args.seed, target_prob=1.0)
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
    if args.json:
        report = {"results": results, "seed": args.seed, "machine": machine()}
        print(f"wrote {write_json(report, args.json)}")
    return results


if __name__ == "__main__":
    main()
