import json
import sys
import types
from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest

from agents import benchmark
from agents.benchmark import BenchmarkConfig, run_benchmark
from agents.cli import main
from tests.helpers import break_package

ENV = "GlanceFocus-ClutteredMNIST-v0"


def test_benchmark_writes_results_and_plots(tmp_path, capsys):
    config = BenchmarkConfig(
        env=ENV,
        agents=["ppo", "random", "center", "oracle"],
        timesteps=64,
        seeds=[0, 1],
        num_envs=8,
        out=str(tmp_path),
        test_images=24,
        calibration_images=24,
        finetune_epochs=1,
        finetune_images=16,
        progress=False,
    )
    results = run_benchmark(config)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert (tmp_path / "anytime.png").stat().st_size > 0 and (
        tmp_path / "budget.png"
    ).stat().st_size > 0
    for name in config.agents:  # one picture of test episodes per agent
        assert (tmp_path / f"examples-{name}.png").read_bytes()[:4] == b"\x89PNG"
    ppo = results["agents"]["ppo"]
    assert ppo["seeds"] == [0, 1] and ppo["timesteps"] == 64 and len(ppo["per_seed"]) == 2
    assert len(ppo["anytime_accuracy"]) == 5 and len(ppo["anytime_ci95"]) == 5
    stage3 = results["agents"]["ppo+stage3"]  # the same policies on their fine-tuned classifiers
    assert ppo["classifier_stage"] == 1 and stage3["classifier_stage"] == 3
    assert stage3["seeds"] == [0, 1] and [len(h) for h in stage3["finetune_history"]] == [2, 2]
    for agent in results["agents"].values():
        assert {"anytime_accuracy", "budget_curve", "seeds", "timesteps"} <= set(agent)
        assert all({"mflops", "accuracy"} <= set(point) for point in agent["budget_curve"])
    assert (
        results["agents"]["oracle"]["upper_bound"]
        and not results["agents"]["random"]["upper_bound"]
    )
    full = results["full_resolution"]
    for agent in results["agents"].values():  # early exit's cost of matching full resolution
        match = agent["mflops_to_match_full_resolution"]
        reached = [p for p in agent["budget_curve"] if p["accuracy"] >= full["accuracy"]]
        assert (match is None) == (not reached)
        assert match is None or match == min(p["mflops"] for p in reached)
    assert (
        0 <= full["accuracy"] <= 1
        and full["mflops"] > results["agents"]["random"]["mflops_per_step"][0]
    )
    assert "(upper bound)" in capsys.readouterr().out


def test_cli_evaluate_and_errors(capsys):
    assert main(["evaluate", "--env", ENV, "--agent", "raster", "--test-images", "20"]) == 0
    assert "step 4: accuracy" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["evaluate", "--env", ENV, "--agent", "ppo"])  # a learned agent needs --model
    with pytest.raises(ValueError, match="unknown agents"):
        BenchmarkConfig(agents=["ppo", "greedy"])


def test_a_task_without_a_full_resolution_model_omits_the_reference(tmp_path, capsys):
    # SearchMNIST's fullres-* classifier ships no weights: the report goes without that row and column
    config = BenchmarkConfig(
        env="GlanceFocus-SearchMNIST-v0",
        agents=["random", "center"],
        out=str(tmp_path),
        test_images=16,
        calibration_images=16,
        progress=False,
    )
    results = run_benchmark(config)
    assert results["full_resolution"] is None
    assert all(a["mflops_to_match_full_resolution"] is None for a in results["agents"].values())
    out = capsys.readouterr().out
    assert "no full-resolution reference" in out and "MFLOPs to full-res acc" not in out
    assert json.loads((tmp_path / "results.json").read_text())["full_resolution"] is None


def test_intervals_hold_the_seed_to_seed_variation():
    """Two seeds, one always right and one always wrong after the glance: pooling their images
    would give a tight interval around 50%; the seed bootstrap spans both seeds."""
    import numpy as np

    from agents.evaluation import EvalResult
    from agents.reporting import benchmark_summary

    def result(right: bool) -> EvalResult:
        n = 200
        correct = np.ones((n, 3), dtype=bool)
        correct[:, 1:] = right
        return EvalResult(
            correct=correct,
            confidence=np.full((n, 3), 0.9),
            prediction=np.zeros((n, 3), dtype=np.int64),
            labels=np.zeros(n, dtype=np.int64),
            image_index=np.arange(n),
            mflops=[1.0, 2.0, 3.0],
            patch_box=np.zeros((n, 3, 4)),
            meta={},
        )

    runs = [(result(True), result(True)), (result(False), result(False))]
    summary = benchmark_summary("ppo", runs, [0, 1], timesteps=10)
    assert summary["anytime_accuracy"] == [1.0, 0.5, 0.5]
    assert summary["anytime_ci95"][0] == [1.0, 1.0]
    low, high = summary["anytime_ci95"][1]
    assert low == 0.0 and high == 1.0  # a replicate may draw the good or the bad seed twice


class Killed(Exception):
    """Stands for a kill (Ctrl-C, an out-of-memory kill, a power cut) of a run."""


class ConstantPolicy:
    def __init__(self, timesteps: int):
        self.timesteps = timesteps  # what its "weights" were trained for

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return np.full((len(observation), 2), 0.5, dtype=np.float32), state


class CheckpointAgent:
    """A plug-in agent whose weights file says the budget it was trained for; ``killed`` stops a
    run right after its checkpoint is written."""

    version = "1"
    killed = False
    loaded: ClassVar[list[int]] = []

    def train(self, run):
        return ConstantPolicy(run.timesteps)

    def save(self, policy, run_dir):
        (run_dir / "weights.txt").write_text(str(policy.timesteps))
        if self.killed:
            raise Killed

    def load(self, run_dir, run):
        policy = ConstantPolicy(int((run_dir / "weights.txt").read_text()))
        self.loaded.append(policy.timesteps)
        return policy


def tiny(out, **overrides) -> BenchmarkConfig:
    settings = {
        "env": ENV,
        "agents": ["random"],
        "timesteps": 64,
        "num_envs": 4,
        "out": str(out),
        "test_images": 8,
        "calibration_images": 8,
        "finetune_epochs": 0,
        "progress": False,
    }
    return BenchmarkConfig(**{**settings, **overrides})


def test_a_killed_redo_never_pairs_a_record_with_other_weights(tmp_path, monkeypatch):
    """64 steps, then a 128-step redo killed after it wrote its checkpoint, then 64 again: the
    third run reuses the 64-step run, whole (its record with its own weights)."""
    monkeypatch.setitem(sys.modules, "ckpt_algo", types.SimpleNamespace(make=CheckpointAgent))
    agent = "ckpt_algo:make"
    run_benchmark(tiny(tmp_path, agents=[agent]))
    monkeypatch.setattr(CheckpointAgent, "killed", True)
    with pytest.raises(Killed):
        run_benchmark(tiny(tmp_path, agents=[agent], timesteps=128))
    monkeypatch.setattr(CheckpointAgent, "killed", False)
    run_dir = tmp_path / "agents" / "ckpt_algo--make-seed0"
    assert json.loads((run_dir / "run.json").read_text())["fingerprint"]["timesteps"] == 64
    assert (run_dir / "weights.txt").read_text() == "64"
    monkeypatch.setattr(CheckpointAgent, "loaded", [])
    results = run_benchmark(tiny(tmp_path, agents=[agent]))
    assert CheckpointAgent.loaded == [64] and results["agents"][agent]["timesteps"] == 64


def test_repeated_seeds_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"seeds \[0, 1, 0\] repeat \[0\]; name each seed once"):
        tiny(tmp_path, seeds=[0, 1, 0])
    with pytest.raises(SystemExit):
        main(["benchmark", "--seeds", "3", "3", "--out", str(tmp_path)])
    assert "repeat [3]" in capsys.readouterr().err


def test_a_broken_report_package_stops_the_benchmark_before_any_training(
    tmp_path, monkeypatch, capsys
):
    break_package(monkeypatch, tmp_path / "site", "matplotlib")
    out = tmp_path / "out"
    argv = ["benchmark", "--env", ENV, "--agents", "ppo", "--timesteps", "64", "--num-envs", "4"]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--out", str(out), "--no-progress"])
    assert stopped.value.code == 2 and not out.exists()  # nothing trained
    error = capsys.readouterr().err
    assert "the report needs 'matplotlib'" in error and "nothing has run yet" in error


def test_a_heuristic_that_cannot_run_on_the_env_stops_the_benchmark_before_training(
    tmp_path, monkeypatch
):
    """The locator needs object boxes, which an image folder's images do not have."""
    from classifiers.testing import FakeClassifier
    from tests.image_folder import write_folder

    env_id = "NoBoxes-Folder-v0"
    gym.register(
        env_id,
        entry_point="gf_env.image_folders:make_folder_env",
        vector_entry_point="gf_env.image_folders:make_folder_vector_env",
        kwargs={
            "root": str(write_folder(tmp_path / "images")),
            "classifier": FakeClassifier(num_classes=3, in_chans=3, patch_size=96),
            "max_focus_steps": 2,
        },
    )
    monkeypatch.setattr(
        benchmark, "train_or_reuse", lambda *a, **k: pytest.fail("trained before the check")
    )
    try:
        with pytest.raises(ValueError, match=rf"env '{env_id}' cannot provide"):
            benchmark.run_benchmark(tiny(tmp_path / "out", env=env_id, agents=["ppo", "locator"]))
    finally:
        del gym.registry[env_id]


def test_gfnet_gets_stage_3_like_every_learned_agent(tmp_path):
    config = tiny(
        tmp_path,
        agents=["gfnet", "random"],
        num_envs=8,
        test_images=16,
        calibration_images=16,
        finetune_epochs=1,
        finetune_images=16,
    )
    results = run_benchmark(config)
    stage3 = results["agents"]["gfnet+stage3"]  # GFNet's own recipe: stage 2, then stage 3
    assert stage3["classifier_stage"] == 3 and [len(h) for h in stage3["finetune_history"]] == [2]
    assert (tmp_path / "stage3" / "gfnet-seed0" / "classifier.pt").is_file()
    assert "random+stage3" not in results["agents"]
