"""Every registered offline id: checkers, determinism, pickling, single == vector."""

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import gf_env
from gf_env import GlanceFocusVectorEnv

IDS = gf_env.list_envs(offline_only=True)
INFO_KEYS = {"label", "prediction", "confidence", "true_class_prob", "step", "patch_box", "flops"}


def rollout(env, seed, steps=4):
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    trace = [(obs, 0.0, info)]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        trace.append((obs, reward, info))
    assert terminated and not truncated
    return trace


def assert_same(a, b):
    assert len(a) == len(b)
    for (oa, ra, ia), (ob, rb, ib) in zip(a, b, strict=True):
        np.testing.assert_array_equal(oa, ob)
        assert ra == rb
        assert ia == ib


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_checker_without_warnings(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_sb3_checker(env_id):
    env = gym.make(env_id).unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(env)
    # SB3 only recommends a [-1, 1] action box; the [0, 1] location box is the spec
    assert all("symmetric and normalized Box action space" in str(w.message) for w in caught)


@pytest.mark.parametrize("env_id", IDS)
def test_seeded_determinism_and_info(env_id):
    a = rollout(gym.make(env_id), seed=3)
    b = rollout(gym.make(env_id), seed=3)
    assert_same(a, b)
    c = rollout(gym.make(env_id), seed=4)
    assert not np.array_equal(a[0][0], c[0][0])
    env = gym.make(env_id).unwrapped
    flops = env.engine.flops
    for t, (obs, _, info) in enumerate(a):
        assert set(info) >= INFO_KEYS
        assert info["step"] == t
        assert info["flops"] == flops.glance + t * flops.focus
        assert env.observation_space.contains(obs)


@pytest.mark.parametrize("env_id", IDS)
def test_pickle_round_trip_continues_identically(env_id):
    env = gym.make(env_id).unwrapped
    env.reset(seed=5)
    env.step(np.array([0.2, 0.7], dtype=np.float32))
    clone = pickle.loads(pickle.dumps(env))
    for action in ([0.9, 0.1], [0.5, 0.5], [0.0, 1.0]):
        action = np.array(action, dtype=np.float32)
        oa, ra, *_ = env.step(action)
        ob, rb, *_ = clone.step(action)
        np.testing.assert_array_equal(oa, ob)
        assert ra == rb


@pytest.mark.parametrize("env_id", IDS)
def test_vector_env_matches_single_envs(env_id):
    """Same images, labels and patches exactly; classifier outputs up to the float rounding that
    differs between batch sizes."""
    n, seed = 3, 11
    vec = gym.make_vec(env_id, num_envs=n)
    assert isinstance(vec, GlanceFocusVectorEnv)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    rng = np.random.default_rng(0)
    actions = rng.random((4, n, 2)).astype(np.float32)
    obs, infos = vec.reset(seed=seed)
    images = vec.engine.images.clone()
    vec_trace = [(obs, np.zeros(n), infos)]
    for t in range(4):
        obs, rewards, terminated, _, infos = vec.step(actions[t])
        vec_trace.append((obs, rewards, infos))
    assert terminated.all()
    for i in range(n):
        env = gym.make(env_id)
        obs, info = env.reset(seed=seed + i)
        assert np.array_equal(env.unwrapped.engine.images[0], images[i])
        single = [(obs, 0.0, info)]
        for t in range(4):
            obs, reward, _, _, info = env.step(actions[t, i])
            single.append((obs, reward, info))
        for (o, r, info), (vo, vr, vinfo) in zip(single, vec_trace, strict=True):
            for key in ("label", "image_index", "step", "flops", "prediction"):
                assert info[key] == vinfo[key][i], key
            assert info["patch_box"] == tuple(vinfo["patch_box"][i])
            np.testing.assert_allclose(o, vo[i], rtol=1e-4, atol=1e-5)
            assert r == pytest.approx(vr[i], abs=1e-5)
            assert info["true_class_prob"] == pytest.approx(vinfo["true_class_prob"][i], abs=1e-5)


@pytest.mark.parametrize(
    ("observation", "action_type"), [("dict", "continuous"), ("hidden", "grid"), ("dict", "grid")]
)
def test_checker_on_every_observation_and_action_variant(observation, action_type):
    env = gym.make(
        "GlanceFocus-ClutteredMNIST-v0", observation=observation, action_type=action_type
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    messages = [str(w.message) for w in caught]
    # a feature map has no natural bound: the only complaint allowed is its infinite Box limits
    assert all("infinity" in m for m in messages), messages
    assert bool(messages) == (observation == "dict")


def test_vector_env_stays_aligned_with_single_envs_across_autoresets():
    env_id, n, seed = "GlanceFocus-ClutteredMNIST-v0", 2, 21
    vec = gym.make_vec(env_id, num_envs=n)
    singles = [gym.make(env_id) for _ in range(n)]
    vec.reset(seed=seed)
    for i, env in enumerate(singles):
        env.reset(seed=seed + i)
    rng = np.random.default_rng(1)
    for _ in range(12):  # NEXT_STEP: 4 focus steps, then a reset step, twice over and more
        actions = rng.random((n, 2)).astype(np.float32)
        autoreset = vec.unwrapped._autoreset.copy()
        obs, rewards, _, _, infos = vec.step(actions)
        for i, env in enumerate(singles):
            if autoreset[i]:
                single_obs, info = env.reset()
                single_reward = 0.0
            else:
                single_obs, single_reward, _, _, info = env.step(actions[i])
            assert info["image_index"] == infos["image_index"][i]
            assert info["patch_box"] == tuple(infos["patch_box"][i])
            np.testing.assert_allclose(single_obs, obs[i], rtol=1e-4, atol=1e-5)
            assert single_reward == pytest.approx(rewards[i], abs=1e-5)


def test_vector_env_pickles():
    vec = gym.make_vec("GlanceFocus-ClutteredMNIST-v0", num_envs=2)
    vec.reset(seed=0)
    clone = pickle.loads(pickle.dumps(vec))
    actions = np.full((2, 2), 0.3, dtype=np.float32)
    np.testing.assert_array_equal(vec.step(actions)[0], clone.step(actions)[0])


def test_masked_reset_reseeds_and_reports_only_the_masked_envs():
    vec = gym.make_vec("GlanceFocus-ClutteredMNIST-v0", num_envs=3)
    _, first = vec.reset(seed=5)
    mask = np.array([False, True, False])
    _, infos = vec.reset(seed=5, options={"reset_mask": mask, "index": [None, 7, None]})
    assert infos["_label"].tolist() == [False, True, False]
    assert infos["image_index"][1] == 7
    _, again = vec.reset(seed=None, options={"reset_mask": ~mask})
    # envs 0 and 2 were not reseeded by the masked reset: they continue their own RNG streams
    assert not np.array_equal(again["image_index"][[0, 2]], first["image_index"][[0, 2]])
    with pytest.raises(ValueError, match="reset_mask must be a bool array"):
        vec.reset(options={"reset_mask": [1, 0, 1]})
    with pytest.raises(IndexError, match=r"pass an integer in \[0, 4000\)"):
        vec.reset(options={"index": [0, 4000, None]})
