"""``python -m benchmarks.gpu`` (the device check of issue 26) in its smallest run on the CPU: every part
runs, and the JSON holds the device, positive rates, finite ratios and the cell that was asked."""

from __future__ import annotations

import json
import math

import pytest
import torch

from agents.leaderboard import LeaderboardConfig, plan
from benchmarks import gpu
from tests.single_thread import one_thread  # noqa: F401  (autouse fixture)

SMOKE = gpu.SIZES["smoke"]


def check_row(row: dict, num_envs: int) -> None:
    assert row["num_envs"] == num_envs and row["device"] == "cpu"
    assert row["vector_steps_per_s"] > 0 and row["limit_steps_per_s"] > 0
    assert 0 < row["vector_over_limit"] < math.inf
    assert row["vector_over_limit"] == pytest.approx(
        row["vector_steps_per_s"] / row["limit_steps_per_s"]
    )


def test_smoke_run_measures_every_part_on_the_device_asked(tmp_path, capsys):
    argv = ["--device", "cpu", "--sizes", "smoke", "--workers", "1", "--out", str(tmp_path)]
    report = gpu.main(argv)
    data = json.loads((tmp_path / gpu.RESULT_FILE).read_text())
    assert data == json.loads(json.dumps(report))  # what it returns is what it wrote
    assert not gpu.failed(data)
    assert data["device"]["device"] == "cpu" and data["device"]["torch"] == torch.__version__
    assert list(data["parts"]) == ["mnist", "leaderboard", "imagenet"]
    assert all(part["seconds"] > 0 for part in data["parts"].values())

    mnist = data["parts"]["mnist"]["rows"]
    assert len(mnist) == len(SMOKE.mnist_envs)
    for row, n in zip(mnist, SMOKE.mnist_envs, strict=True):
        check_row(row, n)
        assert row["env"] == gpu.ENV_ID and row["classifier"] is None
        if n in SMOKE.sync_envs:
            assert row["sync_steps_per_s"] > 0 and 0 < row["vector_over_sync"] < math.inf
        else:
            assert row["sync_steps_per_s"] is None and row["vector_over_sync"] is None

    imagenet = data["parts"]["imagenet"]["rows"]
    cases = [(c, n) for c in SMOKE.imagenet_classifiers for n in SMOKE.imagenet_envs]
    assert [(r["classifier"], r["num_envs"]) for r in imagenet] == cases
    for row in imagenet:
        check_row(row, row["num_envs"])
        assert row["env"] == "GlanceFocus-ImageFolder-v0" and row["sync_steps_per_s"] is None
        assert row["max_focus_steps"] == 2  # MobileNet-V3's cascade: T = 3
        assert row["decode_workers"] == 1

    cell = data["parts"]["leaderboard"]["cell"]
    assert cell["key"] == f"{gpu.ENV_ID}/ppo/seed0" and cell["device"] == "cpu"
    assert cell["timesteps"] == cell["trained_timesteps"] == SMOKE.timesteps
    assert cell["num_envs"] == SMOKE.leaderboard["num_envs"]
    assert cell["env_steps_per_s"] > 0 and 0 < cell["learner_share"] < 1
    assert cell["test_images"] == SMOKE.leaderboard["test_images"]
    assert len(cell["test_accuracy_per_step"]) == 5  # the glance and 4 focus steps
    assert all(0 <= a <= 1 for a in cell["test_accuracy_per_step"])

    out = capsys.readouterr().out
    assert "device cpu" in out and f"leaderboard ppo seed 0, {SMOKE.timesteps} steps" in out


def test_the_cell_is_the_job_the_leaderboard_plans(tmp_path):
    config = LeaderboardConfig(
        tasks=[gpu.ENV_ID], agents=["ppo"], seeds=[0], device="cpu", out=str(tmp_path), reuse=False
    )
    planned = [job for job in plan(config)[1] if job.agent == "ppo"]
    assert planned == [gpu.leaderboard_job(gpu.SIZES["full"], torch.device("cpu"), str(tmp_path))]
    assert planned[0].task.timesteps == 250_000


def test_a_failing_part_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    def broken(*args):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(gpu, "mnist_rows", broken)
    monkeypatch.setattr(gpu, "imagenet_rows", lambda *args: [])
    argv = ["--device", "cpu", "--sizes", "smoke", "--out", str(tmp_path)]
    report = gpu.main([*argv, "--parts", "mnist", "imagenet"])
    assert report["parts"]["mnist"]["error"] == "RuntimeError: out of memory"
    assert report["parts"]["imagenet"]["rows"] == [] and gpu.failed(report)
    assert json.loads((tmp_path / gpu.RESULT_FILE).read_text())["parts"]["mnist"]["error"]
    assert "mnist FAILED: RuntimeError: out of memory" in capsys.readouterr().out
