import json

import pytest

from agents.benchmark import BenchmarkConfig, run_benchmark
from agents.cli import main

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
    from types import SimpleNamespace

    import numpy as np

    from agents.benchmark import _summarise
    from agents.evaluation import EvalResult

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
    summary = _summarise("ppo", runs, [0, 1], SimpleNamespace(timesteps=10))
    assert summary["anytime_accuracy"] == [1.0, 0.5, 0.5]
    assert summary["anytime_ci95"][0] == [1.0, 1.0]
    low, high = summary["anytime_ci95"][1]
    assert low == 0.0 and high == 1.0  # a replicate may draw the good or the bad seed twice
