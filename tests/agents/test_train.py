import json

import gymnasium as gym
import numpy as np
import pytest
import torch
import tyro
from stable_baselines3.common.noise import NormalActionNoise

from agents import evaluate_anytime
from agents.plugins import parse_hyperparams
from agents.train import (
    ALGORITHMS,
    DEFAULT_HYPERPARAMS,
    AgentConfig,
    action_noise,
    load_model,
    main,
    make_agent,
    train_agent,
)
from gf_env.sb3 import make_sb3_vec_env
from tests.helpers import tiny_ppo_config

ENV = "GlanceFocus-ClutteredMNIST-v0"
TINY = {
    "ppo": {"n_steps": 8, "batch_size": 32, "n_epochs": 1},
    "a2c": {"n_steps": 4},
    "sac": {"learning_starts": 32, "buffer_size": 1000, "batch_size": 32},
    "td3": {"learning_starts": 32, "buffer_size": 1000, "batch_size": 32},
    "recurrent_ppo": {"n_steps": 8, "batch_size": 32, "n_epochs": 1},
    "dqn": {"learning_starts": 32, "buffer_size": 1000, "batch_size": 32},
    "tqc": {"learning_starts": 32, "buffer_size": 1000, "batch_size": 32},
}


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_every_algorithm_trains_saves_reloads_and_evaluates(algo, tmp_path):
    hp = {
        **TINY[algo],
        "policy_kwargs": {"net_arch": [16]}
        if algo != "recurrent_ppo"
        else {"lstm_hidden_size": 16},
    }
    config = AgentConfig(
        algo=algo,
        env=ENV,
        timesteps=128,
        num_envs=4,
        eval_images=8,
        features_dim=16,
        hp=hp,
        out=str(tmp_path),
        progress=False,
    )
    model, summary = train_agent(config)
    assert model.num_timesteps >= 128
    assert len(summary["final_anytime_accuracy"]) == 5
    reloaded = load_model(algo, tmp_path / "model.zip")
    a = evaluate_anytime(model, ENV, max_images=8, num_envs=8, **config.env_arguments)
    b = evaluate_anytime(reloaded, ENV, max_images=8, num_envs=8, **config.env_arguments)
    np.testing.assert_array_equal(a.prediction, b.prediction)
    assert list((tmp_path / "tb").iterdir())


def test_cli_with_periodic_evaluation(tmp_path, capsys):
    argv = [
        "--algo",
        "ppo",
        "--env",
        ENV,
        "--timesteps",
        "64",
        "--num-envs",
        "4",
        "--eval-freq",
        "32",
        "--eval-images",
        "8",
        "--features-dim",
        "16",
        "--out",
        str(tmp_path),
        "--progress",  # SB3's progress bar must work on a fresh install
        "--hp",
        "n_steps=8",
        "batch_size=32",
        "n_epochs=1",
    ]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [e["timesteps"] for e in summary["evaluations"]] == [32, 64]  # no repeat at the end
    assert summary["config"]["hp"] == {"n_steps": 8, "batch_size": 32, "n_epochs": 1}
    assert "test accuracy per step" in capsys.readouterr().out


def test_training_twice_with_one_seed_gives_the_same_actions(tmp_path):
    def actions(run: str) -> np.ndarray:
        config = tiny_ppo_config(tmp_path / run)
        model, _ = train_agent(config)
        venv = make_sb3_vec_env(ENV, num_envs=4, seed=1, **config.env_arguments)
        return model.predict(venv.reset(), deterministic=True)[0]

    first, second = actions("a"), actions("b")
    np.testing.assert_array_equal(first, second)
    assert first.shape == (4, 2) and len(np.unique(first, axis=0)) > 1


def test_hyperparameter_parsing_and_bad_settings():
    hp = ["gamma=0.9", 'policy_kwargs={"net_arch": [8]}', "name=abc"]
    env = ["mnist_root:/data/m", "max_focus_steps:3", "grid_size:None", "name:'a:b'", "root:C:/x"]
    config = tyro.cli(AgentConfig, args=["--hp", *hp, "--env-kwargs", *env])
    assert config.hp == {"gamma": 0.9, "policy_kwargs": {"net_arch": [8]}, "name": "abc"}
    assert config.env_kwargs == {
        "mnist_root": "/data/m",
        "max_focus_steps": 3,
        "grid_size": None,
        "name": "a:b",
        "root": "C:/x",
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_hyperparams(["gamma"])
    with pytest.raises(ValueError, match="observation: 'hidden' given, 'dict' needed"):
        _ = AgentConfig(env_kwargs={"observation": "hidden"}).env_arguments
    with pytest.raises(ValueError, match="algo must be one of"):
        AgentConfig(algo="trpo")
    with pytest.raises(ValueError, match="algo must be one of"):
        load_model("trpo", "x.zip")
    assert AgentConfig(algo="dqn").env_arguments["action_type"] == "grid"


def test_action_noise_from_the_zoos_hyperparameters():
    box = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    noise = action_noise("normal", 0.2, box)
    assert isinstance(noise, NormalActionNoise)
    samples = np.stack([noise() for _ in range(4000)])
    assert samples.shape == (4000, 2)
    assert np.allclose(samples.std(0), 0.2, atol=0.02) and np.allclose(
        samples.mean(0), 0, atol=0.02
    )
    assert action_noise(None, None, box) is None
    with pytest.raises(ValueError, match=r"noise_type must be one of .*'gaussian'"):
        action_noise("gaussian", 0.1, box)
    with pytest.raises(ValueError, match=r"noise_std=0\.1 needs a noise_type"):
        action_noise(None, 0.1, box)
    with pytest.raises(ValueError, match="noise_std must be > 0, got -1"):
        action_noise("normal", -1, box)
    with pytest.raises(ValueError, match="needs continuous actions"):
        action_noise("normal", 0.1, gym.spaces.Discrete(9))


def test_off_policy_defaults_explore(tmp_path):
    """TD3 explores with Gaussian noise and SAC/TQC start with a small entropy coefficient: with
    SB3's own defaults (no noise; entropy coefficient 1) they collapsed to one location."""
    td3 = make_agent(AgentConfig(algo="td3", env=ENV, num_envs=2, out=str(tmp_path / "td3")))
    assert isinstance(td3.action_noise, NormalActionNoise)
    sigma = td3.action_noise._sigma
    assert np.allclose(sigma, DEFAULT_HYPERPARAMS["td3"]["noise_std"])
    for algo in ("sac", "tqc"):
        model = make_agent(AgentConfig(algo=algo, env=ENV, num_envs=2, out=str(tmp_path / algo)))
        assert torch.exp(model.log_ent_coef).item() == pytest.approx(0.01)
