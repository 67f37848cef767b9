"""One settings record from the command line to the run (agents.settings)."""

import dataclasses

import pytest
import tyro

from agents.benchmark import BenchmarkConfig
from agents.cli import EvaluateConfig
from agents.leaderboard import LeaderboardConfig, Task, make_job, plan
from agents.protocol import Run, SB3Agent
from agents.settings import Reuse, Training, pick
from agents.train import AgentConfig

ENV = "GlanceFocus-TranslatedMNIST-v0"
TRAINING = {f.name for f in dataclasses.fields(Training)}


@pytest.mark.parametrize("cls", [AgentConfig, BenchmarkConfig, LeaderboardConfig, Run])
def test_every_command_and_the_run_extend_one_training_record(cls):
    assert issubclass(cls, Training)
    own = set(vars(cls).get("__annotations__", {}))
    # declared once, in Training; the leaderboard only gives eval_freq its own default
    assert own & TRAINING <= ({"eval_freq"} if cls is LeaderboardConfig else set())


def test_flags_reach_the_run_and_the_algorithm_unchanged(tmp_path):
    argv = ["--num-envs", "8", "--eval-freq", "16", "--eval-images", "4", "--device", "cpu"]
    argv += ["--on-mismatch", "refuse", "--tasks", ENV, "--seeds", "3", "--out", str(tmp_path)]
    config = tyro.cli(LeaderboardConfig, args=[*argv, "--agents", "ppo"])
    job = next(job for job in plan(config)[1] if job.agent == "ppo")
    assert pick(Training, job.run) == {
        "num_envs": 8,
        "eval_freq": 16,
        "eval_images": 4,
        "device": "cpu",
    }
    assert job.finished == Reuse(reuse=True, on_mismatch="refuse") and job.seed == 3
    assert job.reuse and job.on_mismatch == "refuse"
    assert job.run.run_dir == tmp_path / "runs" / ENV / "ppo" / "seed3"
    algorithm = SB3Agent("ppo").config(job.run)  # the run becomes glance-focus train's settings
    assert pick(Training, algorithm) == pick(Training, job.run)
    assert (algorithm.env, algorithm.seed, algorithm.out) == (ENV, 3, str(job.run.run_dir))


def test_the_leaderboard_keeps_its_curve_default_and_train_its_own():
    assert LeaderboardConfig().eval_freq == 25_000
    assert AgentConfig().eval_freq == 0 and Run(ENV).eval_freq == 0


def test_a_job_is_built_from_any_object_with_the_settings(tmp_path):
    settings = Training(num_envs=2, device="cpu")
    job = make_job("random", Task(ENV, 32), 1, tmp_path, settings)
    assert job.task == Task(ENV, 32) and job.run.num_envs == 2 and job.finished == Reuse()
    assert job.key == f"{ENV}/random/seed1"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Run(ENV, num_envs=0), "num_envs=0"),
        (lambda: Run(ENV, eval_freq=-1), "eval_freq=-1"),
        (lambda: AgentConfig(eval_images=0), "eval_images=0"),
        (lambda: Reuse(on_mismatch="keep"), "on_mismatch.*'keep'"),
        (lambda: LeaderboardConfig(test_images=0), r"test_images \(--test-images\) must be at"),
        (lambda: BenchmarkConfig(calibration_images=0), r"calibration_images \(--calibration-im"),
        (lambda: EvaluateConfig(test_images=-1), r"\(--test-images\) must be at least 1.*got -1"),
    ],
)
def test_bad_settings_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_how_a_test_subset_was_picked_is_part_of_the_jobs_fingerprint(tmp_path):
    some = make_job("random", Task(ENV, 32), 0, tmp_path, Training(), test_images=100)
    every = make_job("random", Task(ENV, 32), 0, tmp_path, Training())
    assert some.fingerprint()["test_subset"] == "spread"  # older jobs took the first 100 images
    assert "test_subset" not in every.fingerprint()  # all images: the jobs of docs/leaderboard


def test_a_run_takes_its_settings_by_name_after_the_folder():
    with pytest.raises(TypeError):
        Run(ENV, {}, 0, 100, "runs/x", "cpu")  # the sixth used to be the device
