"""The benchmark's learned stopping policies (``--stop-costs``)."""

import json
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

from agents.benchmark import (
    BenchmarkConfig,
    curve_accuracy_at,
    run_benchmark,
    threshold_points,
)
from agents.train import policy_env_kwargs

CURVE = [
    {"mflops": 4.0, "accuracy": 0.8},
    {"mflops": 2.0, "accuracy": 0.6},
    {"mflops": 6.0, "accuracy": 0.9},
]


@pytest.mark.parametrize(
    ("mflops", "expected"),
    [(2.0, 0.6), (3.0, 0.7), (5.0, 0.85), (6.0, 0.9), (1.9, None), (7, None)],
)
def test_curve_accuracy_is_interpolated_inside_its_range(mflops, expected):
    got = curve_accuracy_at(CURVE, mflops)
    assert got == (None if expected is None else pytest.approx(expected))


def test_threshold_points_add_the_all_glance_and_all_steps_ends():
    agent = {
        "budget_curve": CURVE,
        "mflops_per_step": [1.0, 3.0, 8.0],
        "anytime_accuracy": [0.5, 0.7, 0.95],
    }
    points = threshold_points(agent)
    assert curve_accuracy_at(points, 1.0) == pytest.approx(0.5)
    assert curve_accuracy_at(points, 7.0) == pytest.approx(0.925)


def test_bad_stop_costs_raise():
    with pytest.raises(ValueError, match=r"stop_costs must be finite numbers >= 0.*\[-0.1\]"):
        BenchmarkConfig(stop_costs=[0.01, -0.1])


def test_benchmark_places_learned_stops_next_to_the_thresholds(tmp_path, capsys):
    config = BenchmarkConfig(
        env="GlanceFocus-ClutteredMNIST-v0",
        agents=["center"],
        timesteps=64,
        seeds=[0, 1],
        num_envs=8,
        out=str(tmp_path),
        test_images=16,
        calibration_images=16,
        finetune_epochs=0,
        progress=False,
        stop_costs=[0.05],
    )
    results = run_benchmark(config)
    assert json.loads((tmp_path / "results.json").read_text()) == json.loads(json.dumps(results))
    stops = results["stop_policies"]
    assert [s["flops_cost"] for s in stops] == [0.05]
    center = results["agents"]["center"]
    mflops = center["mflops_per_step"]
    for record in stops:
        assert [run["seed"] for run in record["per_seed"]] == [0, 1]
        assert record["accuracy"] == pytest.approx(
            np.mean([r["accuracy"] for r in record["per_seed"]])
        )
        assert mflops[0] - 1e-9 <= record["mflops"] <= mflops[-1] + 1e-9
        assert sum(record["exit_fractions"]) == pytest.approx(1.0)
        assert record["threshold_accuracy"]["center"] == pytest.approx(
            curve_accuracy_at(threshold_points(center), record["mflops"])
        )
        assert (
            tmp_path / "agents" / f"ppo-stop{record['flops_cost']:g}-seed1" / "model.zip"
        ).is_file()
    assert "ppo-stop (lambda=0.05): accuracy" in capsys.readouterr().out
    assert (tmp_path / "budget.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        (gym.spaces.Box(0, 1, (3,), np.float32), {"stop_action": True}),
        (gym.spaces.Box(0, 1, (2,), np.float32), {}),
        (gym.spaces.Discrete(10), {"action_type": "grid", "grid_size": 3, "stop_action": True}),
        (gym.spaces.Discrete(9), {"action_type": "grid", "grid_size": 3}),
    ],
)
def test_saved_policies_are_evaluated_with_their_stop_action(space, expected):
    policy = SimpleNamespace(action_space=space, observation_space=gym.spaces.Box(-1, 1, (4,)))
    assert policy_env_kwargs(policy) == {"observation": "hidden", **expected}
