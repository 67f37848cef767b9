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
    n, seed = 3, 11
    vec = gym.make_vec(env_id, num_envs=n)
    assert isinstance(vec, GlanceFocusVectorEnv)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    rng = np.random.default_rng(0)
    actions = rng.random((4, n, 2)).astype(np.float32)
    obs, infos = vec.reset(seed=seed)
    vec_trace = [(obs, np.zeros(n), infos)]
    for t in range(4):
        obs, rewards, terminated, _, infos = vec.step(actions[t])
        vec_trace.append((obs, rewards, infos))
    assert terminated.all()
    for i in range(n):
        env = gym.make(env_id)
        obs, info = env.reset(seed=seed + i)
        single = [(obs, 0.0, info)]
        for t in range(4):
            obs, reward, _, _, info = env.step(actions[t, i])
            single.append((obs, reward, info))
        for (o, r, info), (vo, vr, vinfo) in zip(single, vec_trace, strict=True):
            np.testing.assert_array_equal(o, vo[i])
            assert r == vr[i]
            assert info["true_class_prob"] == vinfo["true_class_prob"][i]
            assert tuple(info["patch_box"]) == tuple(vinfo["patch_box"][i])
