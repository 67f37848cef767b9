"""The public surface of the environments: task attributes, the oracle look-ahead, the action
codec built once, explicit freezing, and the fake classifier on any task shape."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from classifiers.data import ArraySource
from classifiers.patches import cell_locations, centre_locations, patch_corners, tiling_grid
from classifiers.testing import FakeClassifier
from classifiers.utils import freeze
from gf_env import GlanceFocusEnv, GlanceFocusVectorEnv
from gf_env.rollout import rollout_locations
from gf_env.sb3 import SB3VecEnv

ATTRIBUTES = ("num_images", "image_size", "image_channels", "num_classes", "patch_size")


def _source(n=6, channels=3, height=40, width=50, classes=7):
    rng = np.random.default_rng(0)
    images = rng.random((n, channels, height, width), dtype=np.float32)
    return ArraySource(images, np.arange(n) % classes, classes)


def test_fake_classifier_drives_any_task_shape_and_passes_the_checker():
    fake = FakeClassifier(num_classes=7, in_chans=3, patch_size=12, state_dim=5)
    env = GlanceFocusEnv(data=_source(), classifier=fake, max_focus_steps=3, observation="dict")
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs["hidden"].shape == (5,) and obs["features"].shape == (4, 2, 2)
    assert [getattr(env, name) for name in ATTRIBUTES] == [6, (40, 50), 3, 7, 12]
    assert env.max_focus_steps == 3 and env.feature_shape == (4, 2, 2)
    assert env.grid_size == tiling_grid((40, 50), 12) == 5
    assert env.step_flops.cumulative(1) == info["flops"] * 2
    _, _, _, _, info = env.step(np.array([1.0, 1.0], dtype=np.float32))
    assert info["patch_box"] == (40 - 12, 50 - 12, 12, 12)
    again = FakeClassifier(num_classes=7, in_chans=3, patch_size=12, state_dim=5)
    for a, b in zip(fake.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)  # seeded: the same parameters every time
    assert not all(
        torch.equal(a, b)
        for a, b in zip(
            fake.parameters(), FakeClassifier(7, 3, 12, 5, seed=1).parameters(), strict=True
        )
    )


def test_oracle_look_ahead_is_the_next_steps_true_class_probability_and_changes_nothing():
    env = GlanceFocusEnv(data=_source(), classifier=FakeClassifier(7, 3, 12))
    env.reset(seed=0)
    candidates = cell_locations(np.arange(4), 2)
    probs = env.oracle_true_class_probs(candidates)
    assert probs.shape == (4,) and np.array_equal(probs, env.oracle_true_class_probs(candidates))
    for k in (3, 0):  # the step still starts from where the look-ahead looked
        fresh = GlanceFocusEnv(data=_source(), classifier=FakeClassifier(7, 3, 12))
        fresh.reset(seed=0)
        _, _, _, _, info = fresh.step(candidates[k])
        assert info["true_class_prob"] == pytest.approx(probs[k], rel=1e-5)
    with pytest.raises(ValueError, match=r"shape \(K, 2\)"):
        env.oracle_true_class_probs(np.zeros(2))


def test_vector_env_offers_the_same_attributes_by_get_attr():
    vector = GlanceFocusVectorEnv(3, data=_source(), classifier=FakeClassifier(7, 3, 12))
    single = GlanceFocusEnv(data=_source(), classifier=FakeClassifier(7, 3, 12))
    for name in (*ATTRIBUTES, "max_focus_steps", "grid_size", "feature_shape", "step_flops"):
        assert vector.get_attr(name) == (getattr(single, name),) * 3
    assert vector.get_attr("action_space") == (single.action_space,) * 3
    vector.reset(seed=0)
    assert vector.oracle_true_class_probs(np.full((3, 2, 2), 0.5)).shape == (3, 2)
    adapter = SB3VecEnv(
        GlanceFocusVectorEnv(
            2, data=_source(), classifier=FakeClassifier(7, 3, 12), autoreset_mode="SameStep"
        )
    )
    assert adapter.get_attr("image_size") == [(40, 50)] * 2


def test_attributes_are_read_only():
    env = GlanceFocusEnv(data=_source(), classifier=FakeClassifier(7, 3, 12))
    with pytest.raises(AttributeError):
        env.patch_size = 4


def test_spaces_and_action_decoding_are_built_once_by_the_engine():
    env = GlanceFocusEnv(
        data=_source(), classifier=FakeClassifier(7, 3, 12), action_type="grid", grid_size=3
    )
    assert env.action_space is env.engine.actions.space
    assert env.observation_space is env.engine.observation_space
    np.testing.assert_array_equal(
        env.engine.actions.decode(np.int64(5), batch=None), cell_locations(np.array([5]), 3)
    )
    assert cell_locations(np.array([0, 5, 8]), 3).tolist() == [[0, 0], [0.5, 1], [1, 1]]


def test_centre_locations_invert_patch_corners():
    centres = np.array([[20.0, 25.0], [6.0, 6.0], [39.0, 49.0]])
    locations = centre_locations(centres, (40, 50), 12)
    corners = patch_corners(torch.from_numpy(locations), (40, 50), 12).numpy()
    np.testing.assert_array_equal(corners, [[14, 19], [0, 0], [28, 38]])


def test_the_env_freezes_the_classifier_explicitly_and_rollouts_do_not():
    model = FakeClassifier(7, 3, 12).train()
    locations = rollout_locations(
        model, _source().images, _source().labels, lambda obs: np.full((len(obs), 2), 0.5)
    )
    assert locations.shape == (6, 4, 2)
    assert model.training and all(p.requires_grad for p in model.parameters())
    GlanceFocusEnv(data=_source(), classifier=model)  # documented: the env freezes its classifier
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert freeze(model.train()) is model and not model.training
    assert freeze(object) is object  # not a module: left alone


def test_gym_wrappers_reach_the_attributes():
    env = gym.make(
        "GlanceFocus-ClutteredMNIST-v0", classifier=FakeClassifier(patch_size=28), split="test"
    )
    assert env.get_wrapper_attr("num_images") == 1000 and env.unwrapped.patch_size == 28
