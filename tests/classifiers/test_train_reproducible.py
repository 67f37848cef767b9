"""The library trainer computes, bit for bit, what the trainer before it computed (so the shipped
weights stay reproducible by their documented commands): ``python -m benchmarks.training_reproducible``
against the last commit of the old trainer. Slow (about 3 minutes on 2 cores)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REFERENCE = "47730ed"  # classifiers/train.py before it became classifiers.training
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_stage1_and_stage3_weights_equal_the_old_trainers_tensor_for_tensor():
    known = subprocess.run(["git", "cat-file", "-e", f"{REFERENCE}^{{commit}}"], cwd=ROOT)
    if known.returncode != 0:
        pytest.skip(f"commit {REFERENCE} is not in this clone (shallow?)")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.training_reproducible", "--ref", REFERENCE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.count(" yes") == 3
