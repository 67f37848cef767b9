"""Seeded rollouts of every MNIST id, saved or compared bit for bit: a speed change to the engine,
the vector env or the canvas drawing must leave every output unchanged.

For each id: the native vector env (16 envs) in NEXT_STEP and SAME_STEP autoreset modes with
continuous actions, grid actions with dict observations, a partial reset (``reset_mask``), and
the canvases of ``sample_batch`` drawn directly. Every observation, reward, termination and info
array is kept; ``--compare`` fails naming the first array that differs.

Usage::

    python -m benchmarks.rollout_digest --save before.npz     # on the old code
    python -m benchmarks.rollout_digest --compare before.npz  # on the new code
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

import gf_env  # noqa: F401  (registers the ids)

MNIST_IDS = [
    "GlanceFocus-TranslatedMNIST-v0",
    "GlanceFocus-ClutteredMNIST-v0",
    "GlanceFocus-ClutteredMNIST100-v0",
    "GlanceFocus-LargeMNIST-v0",
    "GlanceFocus-MaxMNIST-v0",
    "GlanceFocus-SearchMNIST-v0",
]


def _flatten(prefix: str, value, out: dict[str, np.ndarray]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    elif isinstance(value, np.ndarray) and value.dtype == object:
        for j, item in enumerate(value):
            if item is not None:
                _flatten(f"{prefix}[{j}]", item, out)
    else:
        out[prefix] = np.asarray(value)


def rollouts(env_id: str, num_envs: int = 16, steps: int = 12) -> dict[str, np.ndarray]:
    """Every output of the seeded rollouts of ``env_id``, by name."""
    out: dict[str, np.ndarray] = {}
    variants = {
        "next": dict(autoreset_mode=AutoresetMode.NEXT_STEP),
        "same": dict(autoreset_mode=AutoresetMode.SAME_STEP),
        "grid": dict(action_type="grid", observation="dict"),
    }
    for name, kwargs in variants.items():
        env = gym.make_vec(env_id, num_envs=num_envs, device="cpu", **kwargs)
        rng = np.random.default_rng(7)
        obs, info = env.reset(seed=3)
        _flatten(f"{env_id}/{name}/reset", {"obs": obs, "info": info}, out)
        for t in range(steps):
            if name == "grid":
                action = rng.integers(env.single_action_space.n, size=num_envs)
            else:
                action = rng.random((num_envs, 2)).astype(np.float32) * 1.2 - 0.1
            obs, reward, term, trunc, info = env.step(action)
            _flatten(
                f"{env_id}/{name}/step{t}",
                {"obs": obs, "reward": reward, "term": term, "trunc": trunc, "info": info},
                out,
            )
        mask = np.arange(num_envs) % 3 == 0
        obs, info = env.reset(options={"reset_mask": mask})
        _flatten(f"{env_id}/{name}/masked", {"obs": obs, "info": info}, out)
        env.close()
    source = env.engine.source
    rngs = [np.random.default_rng(100 + j) for j in range(32)]
    batch = source.sample_batch(np.arange(32) * 7 % len(source), rngs)
    out[f"{env_id}/canvas/images"] = batch.images
    out[f"{env_id}/canvas/labels"] = np.asarray(batch.labels)
    if batch.boxes is not None:
        out[f"{env_id}/canvas/boxes"] = np.asarray(batch.boxes)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", help="write the outputs to this .npz")
    group.add_argument("--compare", help="compare the outputs with this .npz")
    parser.add_argument("--env", nargs="*", default=MNIST_IDS)
    args = parser.parse_args(argv)
    outputs: dict[str, np.ndarray] = {}
    for env_id in args.env:
        outputs.update(rollouts(env_id))
    if args.save:
        np.savez_compressed(args.save, **outputs)
        print(f"wrote {len(outputs)} arrays to {args.save}")
        return 0
    with np.load(args.compare) as saved:
        expected = dict(saved)
    missing = sorted(set(expected) ^ set(outputs))
    if missing:
        print(f"different array names: {missing[:5]}")
        return 1
    for key, value in expected.items():
        if value.dtype != outputs[key].dtype or not np.array_equal(
            value, outputs[key], equal_nan=value.dtype.kind == "f"
        ):
            print(f"DIFFERS: {key}")
            return 1
    print(f"all {len(expected)} arrays bit-identical")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
