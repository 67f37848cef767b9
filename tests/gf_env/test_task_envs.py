"""The multi-look ids: geometry, classes and data as documented (the checkers, seeded determinism
and pickling run over every offline id in test_envs.py)."""

import gymnasium as gym
import numpy as np
import pytest

import gf_env

# id: (canvas side, glance, patch, classes, digits per canvas)
TASK_IDS = {
    "GlanceFocus-LargeMNIST-v0": (112, 14, 24, 10, 1),
    "GlanceFocus-MaxMNIST-v0": (84, 14, 28, 10, 2),
    "GlanceFocus-SearchMNIST-v0": (128, 32, 32, 10, 2),
}


def test_task_ids_are_registered_offline_ids():
    assert set(TASK_IDS) <= set(gf_env.list_envs(offline_only=True))


@pytest.mark.parametrize("env_id", sorted(TASK_IDS))
def test_geometry_classes_and_spaces(env_id):
    side, glance, patch, classes, digits = TASK_IDS[env_id]
    env = gym.make(env_id, split="test", action_type="grid").unwrapped
    engine = env.engine
    assert (engine.height, engine.width, engine.patch_size) == (side, side, patch)
    assert engine.classifier.config.glance_size == glance
    assert engine.classifier.num_classes == engine.source.num_classes == classes
    assert env.action_space == gym.spaces.Discrete(int(np.ceil(side / patch)) ** 2)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert 0 <= info["label"] < classes and 0 <= info["prediction"] < classes
    batch = engine.source.sample_batch([0], [np.random.default_rng(0)])
    assert batch.boxes.shape == ((1, 4) if digits == 1 else (1, digits, 4))


def test_reads_a_torchvision_mnist_folder(mnist_root):
    env = gym.make("GlanceFocus-MaxMNIST-v0", split="test", mnist_root=mnist_root).unwrapped
    assert len(env.engine.source) == 20  # the fixture folder's test digits
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and 0 <= info["label"] <= 9
