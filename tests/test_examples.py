"""The examples and benchmark scripts run with tiny budgets (CleanRL-style smoke runs).

Examples are loaded from their files, as ``python examples/<name>.py`` runs them; benchmarks are
imported as ``benchmarks.<name>``, as ``python -m benchmarks.<name>`` runs them."""

import collections
import importlib.util
import itertools
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from benchmarks import classifier_accuracy, env_throughput, soak

ROOT = Path(__file__).resolve().parents[1]


def load(relative: str):
    path = ROOT / relative
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(path.stem + "_under_test", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        if str(path.parent) in sys.path:
            sys.path.remove(str(path.parent))
    return module


def test_quickstart_prints_an_episode(capsys):
    total = load("examples/quickstart.py").main(["--seed", "1"])
    out = capsys.readouterr().out
    assert "step 4:" in out and f"return {total:+.3f}" in out


def test_ppo_example_trains_and_evaluates():
    accuracy = load("examples/ppo_sb3.py").main(
        [
            "--timesteps",
            "256",
            "--num-envs",
            "8",
            "--eval-episodes",
            "16",
            "--env",
            "GlanceFocus-ClutteredMNIST-v0",
        ]
    )
    assert 0.0 <= accuracy <= 1.0


def test_throughput_benchmark_writes_its_json(tmp_path):
    out = tmp_path / "bench.json"
    env_throughput.main(
        [
            "--num-envs",
            "4",
            "--steps",
            "5",
            "--sync-steps",
            "5",
            "--warmup",
            "1",
            "--json",
            str(out),
        ]
    )
    data = json.loads(out.read_text())
    for key in ("vector_steps_per_s", "sync_steps_per_s", "limit_steps_per_s"):
        assert data[key] > 0


def test_classifier_benchmark_reports_every_step(tmp_path):
    out = tmp_path / "classifiers.json"
    argv = ["--envs", "GlanceFocus-ClutteredMNIST-v0", "--max-images", "30", "--batch", "16"]
    classifier_accuracy.main([*argv, "--json", str(out)])
    result = json.loads(out.read_text())["results"]["GlanceFocus-ClutteredMNIST-v0"]
    assert result["test_images"] == 30
    assert (
        len(result["random_accuracy_per_step"])
        == len(result["digit_centred_accuracy_per_step"])
        == 5
    )
    assert result["glance_accuracy"] == result["random_accuracy_per_step"][0]
    cumulative = result["mflops_cumulative"]
    assert cumulative[0] == result["mflops_glance"] and cumulative[1] > cumulative[0]


def test_custom_classifier_learns_and_focus_beats_the_glance(tmp_path, capsys):
    # a small budget on the uncluttered canvases, where 300 batches already teach the focus
    # encoder; the default run (3,000 batches on cluttered60, README) takes a few minutes
    argv = ["--env", "GlanceFocus-TranslatedMNIST-v0", "--data", "translated60"]
    argv += ["--classifier-steps", "300", "--timesteps", "64", "--eval-episodes", "100"]
    argv += ["--cache-dir", str(tmp_path)]
    result = load("examples/custom_classifier.py").main(argv)
    assert np.isfinite(result["loss"]) and result["loss"] < 1.6  # chance level is ln 10 = 2.3
    # 4 random patches: well above chance (0.1) and well above the glance alone
    assert result["random"] >= 0.35 and result["random"] >= result["glance"] + 0.15
    assert 0.0 <= result["ppo"] <= 1.0
    calls = result["model"].calls
    # two evaluations of 100 episodes with 4 focus steps each went through the user's model
    assert calls["focus"] >= 2 * 100 * 4 and calls["glance"] >= 2 * 100 and calls["step_flops"] >= 1
    # the trained classifier was cached: a second run loads it instead of training
    (cached,) = tmp_path.iterdir()
    assert cached.name.startswith("tiny-gf-translated60-steps300-")
    again = load("examples/custom_classifier.py").main([*argv, "--eval-episodes", "10"])
    assert np.isnan(again["loss"]) and "classifier: loaded" in capsys.readouterr().out
    trained, loaded = result["model"].state_dict(), again["model"].state_dict()
    assert all(torch.equal(trained[k], loaded[k]) for k in trained)


def test_custom_algorithm_learns_with_reinforce():
    module = load("examples/custom_algorithm.py")
    argv = ["--iterations", "3", "--num-envs", "8", "--eval-episodes", "8"]
    argv += ["--env", "GlanceFocus-ClutteredMNIST-v0"]
    torch.manual_seed(0)
    untrained = module.Policy(256, std=0.15)  # the script seeds torch the same way
    result = module.main([*argv, "--seed", "0"])
    assert len(result["loss"]) == 3 and np.isfinite(result["loss"]).all()
    assert all(-1.0 <= r <= 1.0 for r in result["return"])  # a gain in probability
    assert 0.0 <= result["accuracy"] <= 1.0
    trained = result["policy"].state_dict()
    assert any(not torch.equal(v, trained[k]) for k, v in untrained.state_dict().items())
    rewards = torch.tensor([[0.1, 0.2], [0.3, -0.1]])
    np.testing.assert_allclose(
        module.returns_to_go(rewards, 0.5), [[0.25, 0.15], [0.3, -0.1]], rtol=1e-6
    )


def test_soak_reports_speed_and_memory_per_window(tmp_path):
    out = tmp_path / "soak.json"
    argv = ["--env", "GlanceFocus-ClutteredMNIST-v0", "--num-envs", "4", "--steps", "120"]
    soak.main([*argv, "--windows", "3", "--warmup", "2", "--json", str(out)])
    data = json.loads(out.read_text())
    assert data["transitions"] == 120 and data["step_calls"] == 30
    assert [w["transitions"] for w in data["windows"]] == [40, 40, 40]
    assert all(w["steps_per_s"] > 0 and w["rss_mb"] > 0 for w in data["windows"])
    assert data["episodes"] == 4 * 30 // 5  # NEXT_STEP: 4 focus steps + 1 reset step per episode
    assert data["autograd_free"] and not data["inference_mode_outside_env"]
    assert data["rss_mb_start"] > 0 and data["live_objects_end"] > 0


def test_vector_wrappers_flatten_dict_observations_on_the_native_env():
    result = load("examples/vector_wrappers.py").main(["--num-envs", "4", "--num-steps", "10"])
    env = gym.make("GlanceFocus-ClutteredMNIST-v0", observation="dict")
    assert result["obs_dim"] == gym.spaces.flatdim(env.observation_space)
    # NEXT_STEP: 10 steps = two episodes of 4 focus steps, each followed by its reset step
    assert len(result["returns"]) == 8 and result["transitions"] == 4 * 8
    np.testing.assert_allclose(sum(result["returns"]), result["reward_sum"], rtol=1e-5)


def test_native_vector_env_refuses_per_env_wrappers_and_same_step_flattening():
    from gymnasium.vector import AutoresetMode
    from gymnasium.wrappers.vector import FlattenObservation

    env_id = "GlanceFocus-ClutteredMNIST-v0"
    with pytest.raises(gym.error.Error, match="Cannot use `vector_entry_point`"):
        gym.make_vec(env_id, num_envs=2, wrappers=[gym.wrappers.FlattenObservation])
    same_step = gym.make_vec(
        env_id, num_envs=2, observation="dict", autoreset_mode=AutoresetMode.SAME_STEP
    )
    with pytest.raises(ValueError, match="NEXT_STEP or DISABLED"):
        FlattenObservation(same_step)


def test_throughput_rounds_vary_the_order_of_the_variants():
    names = ["vector", "limit", "sync"]
    orders = env_throughput.round_orders(names, 12)
    assert all(sorted(order) == sorted(names) for order in orders)
    # every variant runs first, second and last equally often (4 times in 12 rounds)
    for position in range(3):
        assert collections.Counter(order[position] for order in orders) == dict.fromkeys(names, 4)
    # and the vector env does not always run right after SyncVectorEnv, as a fixed order had it
    sequence = [name for order in orders for name in order]
    before_vector = {a for a, b in itertools.pairwise(sequence) if b == "vector"}
    assert {"limit", "sync"} <= before_vector
