"""Check that this tree trains exactly what an earlier commit trains: tensor for tensor.

The shipped MNIST weights must stay reproducible by their documented commands (README,
"Retraining the shipped weights"), so a change to the training code must not change a single bit
of what it computes. This script extracts ``--ref`` (a git commit) with ``git archive``, runs the
same short trainings there and in this tree (stage 1 of a GF model, stage 1 of a full-resolution
model with ``--focus-steps 0``, and stage 3 on a tiny PPO policy trained once), and compares every
tensor of the resulting ``last.pt`` (weights and optimiser state) with ``torch.equal``.

Usage::

    OMP_NUM_THREADS=1 python -m benchmarks.training_reproducible --ref 47730ed

Exit status 0 when every tensor is equal; prints one row per run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from agents.reporting import print_table

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["--seed", "0", "--no-progress", "--device", "cpu", "--threads", "1"]
POLICY_ENV = "GlanceFocus-ClutteredMNIST-v0"
TRAIN_POLICY = (
    "import sys; from agents.train import train_agent; from tests.helpers import tiny_ppo_config; "
    f"train_agent(tiny_ppo_config(sys.argv[1], {POLICY_ENV!r}, timesteps=128, num_envs=8))"
)


def runs(images: int, policy: Path) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (command after ``python -m``, flags only this tree needs: its evaluation size)."""
    stage1 = ["classifiers.train", "--epochs", "2", "--max-images", str(images), *COMMON]
    finetune = ["agents.cli", "finetune", "--env", POLICY_ENV, "--model", str(policy)]
    finetune += ["--epochs", "2", "--max-images", str(images // 4), "--batch-size", "16", *COMMON]
    evaluation = ["--eval-images", str(images)]
    return {
        "stage 1 gf-mnist-cluttered100": (
            [*stage1, "--classifier", "gf-mnist-cluttered100"],
            evaluation,
        ),
        "stage 1 fullres-mnist-cluttered100": (
            [*stage1, "--classifier", "fullres-mnist-cluttered100", "--focus-steps", "0"],
            evaluation,
        ),
        "stage 3 (ppo policy)": (finetune, ["--eval-images", str(images // 4)]),
    }


def tensors(value, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor inside nested dicts/lists, by its path."""
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    if not isinstance(value, (dict, list, tuple)):
        return {}
    items = value.items() if isinstance(value, dict) else enumerate(value)
    found = {}
    for key, item in items:
        found.update(tensors(item, f"{prefix}/{key}"))
    return found


def train(tree: Path, command: list[str], out: Path) -> dict[str, torch.Tensor]:
    """Run ``python -m <command> --out <out>`` in ``tree``; the tensors of its last.pt."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-m", *command, "--out", str(out)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {tree}:\n{done.stderr[-3000:]}")
    state = torch.load(out / "last.pt", weights_only=True)
    return tensors({k: state[k] for k in ("state_dict", "optimizer", "scaler") if k in state})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", required=True, help="git commit whose training is the reference")
    parser.add_argument("--images", type=int, default=256, help="training digits of stage 1")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        reference = tmp / "reference"
        reference.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.ref], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(reference)], input=archive, check=True)
        policy = tmp / "policy"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run(
            [sys.executable, "-c", TRAIN_POLICY, str(policy)], cwd=ROOT, env=env, check=True
        )
        rows, same_everywhere = [], True
        for name, (command, extra) in runs(args.images, policy / "model.zip").items():
            old = train(reference, command, tmp / f"old-{len(rows)}")
            new = train(ROOT, [*command, *extra], tmp / f"new-{len(rows)}")
            equal = old.keys() == new.keys() and all(torch.equal(old[k], new[k]) for k in old)
            same_everywhere &= equal
            rows.append([name, len(old), len(new), "yes" if equal else "NO"])
        print_table(["run", "tensors (ref)", "tensors (this tree)", "all torch.equal"], rows)
    return 0 if same_everywhere else 1


if __name__ == "__main__":
    sys.exit(main())
