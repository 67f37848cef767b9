import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from agents import GlanceStateExtractor, evaluate_anytime
from gf_env.sb3 import make_sb3_vec_env

KWARGS = {
    "features_extractor_class": GlanceStateExtractor,
    "features_extractor_kwargs": {"features_dim": 32},
}


def test_box_observations():
    extractor = GlanceStateExtractor(gym.spaces.Box(-1, 1, (256,), np.float32), features_dim=64)
    out = extractor(torch.rand(5, 256))
    assert out.shape == (5, 64) and (out >= 0).all()


@pytest.mark.parametrize("observation", ["hidden", "dict"])
def test_ppo_trains_with_the_extractor_and_evaluates(observation):
    venv = make_sb3_vec_env(
        "GlanceFocus-ClutteredMNIST-v0", num_envs=4, seed=0, observation=observation
    )
    model = PPO(
        "MultiInputPolicy" if observation == "dict" else "MlpPolicy",
        venv,
        n_steps=8,
        batch_size=32,
        n_epochs=1,
        seed=0,
        policy_kwargs=KWARGS,
    )
    model.learn(64)
    result = evaluate_anytime(
        model, "GlanceFocus-ClutteredMNIST-v0", max_images=8, num_envs=8, observation=observation
    )
    assert result.correct.shape == (8, 5)


def test_same_seed_same_actions():
    def actions():
        venv = make_sb3_vec_env("GlanceFocus-ClutteredMNIST-v0", num_envs=4, seed=0)
        model = PPO(
            "MlpPolicy", venv, n_steps=8, batch_size=32, n_epochs=1, seed=0, policy_kwargs=KWARGS
        )
        model.learn(64)
        obs = make_sb3_vec_env("GlanceFocus-ClutteredMNIST-v0", num_envs=4, seed=1).reset()
        return model.predict(obs, deterministic=True)[0]

    np.testing.assert_array_equal(actions(), actions())


def test_wrong_space_is_refused():
    with pytest.raises(TypeError, match="Box or Dict"):
        GlanceStateExtractor(gym.spaces.Discrete(3))
