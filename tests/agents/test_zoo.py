"""RL Baselines3 Zoo: the shipped hyperparameter files match the defaults, and the Zoo trains the
environments unchanged (tiny budgets, in a subprocess as a user would run it)."""

import subprocess
import sys

import pytest
import yaml
from stable_baselines3 import DQN, PPO

from agents.train import DEFAULT_HYPERPARAMS
from agents.zoo import HYPERPARAMS_DIR, ZOO_ENVS, ZOO_NAMES, zoo_file

ENV = "GlanceFocus-ClutteredMNIST-v0"


@pytest.mark.parametrize("algo", sorted(ZOO_NAMES))
def test_shipped_zoo_files_are_generated_from_the_defaults(algo):
    path = HYPERPARAMS_DIR / f"{ZOO_NAMES[algo]}.yml"
    assert path.read_text() == zoo_file(algo), f"run `python -m agents.zoo` to refresh {path}"
    entries = yaml.safe_load(path.read_text())
    assert sorted(entries) == sorted(ZOO_ENVS)
    entry = entries[ENV]
    assert entry["gamma"] == DEFAULT_HYPERPARAMS[algo]["gamma"]
    assert entry["env_kwargs"]["observation"] == "dict"
    assert (entry["env_kwargs"].get("action_type") == "grid") == (algo == "dqn")


def _zoo_train(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "rl_zoo3.train", "--env", ENV, "--gym-packages", "gf_env"]
    command += ["-f", str(tmp_path), "--seed", "0", "--eval-freq", "-1", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


def test_zoo_trains_the_env_unchanged_and_saves_a_model(tmp_path):
    done = _zoo_train(tmp_path, "--algo", "ppo", "-n", "64", "--hyperparams", "n_steps:32")
    assert done.returncode == 0, done.stderr[-2000:]
    (saved,) = tmp_path.glob(f"ppo/{ENV}_*/{ENV}.zip")
    model = PPO.load(saved)
    assert model.observation_space.shape == (256,)  # the id's default observation


def test_zoo_trains_with_the_shipped_file(tmp_path):
    conf = str(HYPERPARAMS_DIR / "dqn.yml")
    tiny = ["n_envs:2", "learning_starts:16", "batch_size:16", "buffer_size:500"]
    done = _zoo_train(
        tmp_path, "--algo", "dqn", "-n", "64", "--conf-file", conf, "--hyperparams", *tiny
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (saved,) = tmp_path.glob(f"dqn/{ENV}_*/{ENV}.zip")
    model = DQN.load(saved)
    assert model.action_space.n == 9  # a 3x3 grid tiles the 60x60 canvas with 28-pixel patches
    assert set(model.observation_space.spaces) == {"hidden", "features", "step", "locations"}
