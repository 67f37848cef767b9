"""A training run killed with SIGKILL resumes with --resume and ends in the same state, tensor for
tensor, as an uninterrupted run with the same seed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from classifiers import load_file

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 4
TINY = ["--classifier", "gf-mnist-translated60", "--epochs", str(EPOCHS), "--batch-size", "16"]
TINY += [
    "--max-images",
    "32",
    "--eval-images",
    "32",
    "--no-progress",
    "--threads",
    "1",
    "--device",
    "cpu",
    "--seed",
    "0",
]


def train(out: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "classifiers.train", *TINY, "--out", str(out), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen) -> None:
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-2000:]


def test_sigkilled_training_resumes_to_the_uninterrupted_result(tmp_path):
    reference = train(tmp_path / "reference")  # runs alongside the one we kill
    killed = train(tmp_path / "killed")
    last = tmp_path / "killed" / "last.pt"
    deadline = time.monotonic() + 240
    while not last.exists():
        assert killed.poll() is None, "the run ended before writing its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint after 240 s"
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    done = load_file(last)["meta"]["epochs_done"]
    assert 1 <= done < EPOCHS, f"killed after {done} epochs: not mid-run"

    finish(train(tmp_path / "killed", "--resume"))
    finish(reference)
    resumed = load_file(last)
    expected = load_file(tmp_path / "reference" / "last.pt")
    assert resumed["meta"]["epochs_done"] == EPOCHS
    assert resumed["state_dict"].keys() == expected["state_dict"].keys()
    for key, value in expected["state_dict"].items():
        assert torch.equal(resumed["state_dict"][key], value), key
    losses = [h["train_loss"] for h in resumed["meta"]["history"]]
    assert losses == [h["train_loss"] for h in expected["meta"]["history"]]
