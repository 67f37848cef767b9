"""Does a policy look where the image says, or at the same places on every image?

For each policy (a heuristic by name, or ``name=FILE`` for a trained one: ``ppo=model.zip``,
``gfnet=gfnet_policy.pth``), runs the evaluation harness on the test split and reports per focus
step: the accuracy, how many different patches it chose (distinct patch boxes over the images),
and how far its patch centres lie from their mean over the images (pixels, root mean square). A
policy that ignores its observation (an open-loop sequence, like ``raster``) has one patch per
step and a spread of 0; ``random`` and the object-seeking ``locator`` spread over the canvas.

    python -m benchmarks.where_policies_look --env GlanceFocus-SearchMNIST-v0 \\
        --policies random locator ppo=runs/.../model.zip gfnet=runs/.../gfnet_policy.pth \\
        --json results/where.json
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from agents import evaluate_anytime, load_policy
from agents.reporting import print_table, write_json
from benchmarks._report import machine


def where(
    policy_spec: str, env_id: str, images: int | None, seed: int, num_envs: int
) -> dict[str, Any]:
    """Accuracy, distinct patches and the spread of patch centres per focus step of one policy."""
    name, _, model = policy_spec.partition("=")
    policy, env_kwargs = load_policy(name, model or None, env_id, seed=seed)
    result = evaluate_anytime(
        policy, env_id, max_images=images, seed=seed, num_envs=num_envs, **env_kwargs
    )
    boxes = result.patch_box[:, 1:]  # (images, focus steps, 4): top, left, height, width
    centres = boxes[..., :2] + boxes[..., 2:] / 2
    spread = np.sqrt(((centres - centres.mean(axis=0)) ** 2).sum(axis=-1).mean(axis=0))
    distinct = [len(np.unique(boxes[:, t], axis=0)) for t in range(boxes.shape[1])]
    return {
        "policy": policy_spec,
        "images": len(result.labels),
        "accuracy_per_step": result.anytime_accuracy,
        "distinct_patches_per_step": distinct,
        "centre_spread_px_per_step": spread.tolist(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="GlanceFocus-SearchMNIST-v0")
    parser.add_argument("--policies", nargs="+", default=["random", "raster", "locator"])
    parser.add_argument("--images", type=int, default=None, help="test images (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--num-envs",
        type=int,
        default=64,
        help="episodes side by side (the leaderboard's 64: "
        "the same canvases and random draws as its evaluation)",
    )
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    rows = [where(p, args.env, args.images, args.seed, args.num_envs) for p in args.policies]
    print_table(
        ["policy", "accuracy after focus 1..", "distinct patches", "centre spread (px)"],
        [
            [
                row["policy"],
                " ".join(f"{100 * a:.1f}" for a in row["accuracy_per_step"][1:]),
                " ".join(str(n) for n in row["distinct_patches_per_step"]),
                " ".join(f"{s:.1f}" for s in row["centre_spread_px_per_step"]),
            ]
            for row in rows
        ],
    )
    results = {
        "env": args.env,
        "seed": args.seed,
        "num_envs": args.num_envs,
        "machine": machine(),
        "policies": rows,
    }
    if args.json:
        write_json(results, args.json)
    return results


if __name__ == "__main__":
    main()
