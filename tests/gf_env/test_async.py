import contextlib
import signal

import gymnasium as gym
import numpy as np
import pytest

import gf_env
from classifiers.testing import FakeClassifier

gym.register_envs(gf_env)


def test_async_vector_env_runs_episodes():
    """Workers re-import gf_env (registration is idempotent) and build envs from pickled specs."""
    fake = {"classifier": FakeClassifier(patch_size=28)}
    envs = gym.make_vec(
        "GlanceFocus-ClutteredMNIST-v0", num_envs=2, vectorization_mode="async", **fake
    )
    try:
        obs, _ = envs.reset(seed=0)
        assert obs.shape == (2, 16)
        for _ in range(4):
            _, rewards, terminated, _, _ = envs.step(np.full((2, 2), 0.5, dtype=np.float32))
        assert terminated.all() and np.isfinite(rewards).all()
        single = gym.make("GlanceFocus-ClutteredMNIST-v0", **fake)
        first, _ = single.reset(seed=1)
        again, _ = envs.reset(seed=0)
        np.testing.assert_allclose(again[1], first, rtol=1e-4, atol=1e-5)
    finally:
        envs.close()


@contextlib.contextmanager
def deadline(seconds):
    """Fail instead of hanging forever if a worker's error is never reported."""

    def expire(signum, frame):
        raise TimeoutError(f"no answer from the async vector env within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_worker_that_raises_is_reported_not_hung():
    envs = gym.make_vec(
        "GlanceFocus-ClutteredMNIST-v0", num_envs=2, vectorization_mode="async", max_focus_steps=2
    )
    try:
        with deadline(120):
            envs.reset(seed=0)
            actions = np.array([[0.5, 0.5], [np.nan, 0.5]], dtype=np.float32)
            with pytest.raises(ValueError, match=r"actions must be finite, got \[\[nan, 0.5\]\]"):
                envs.step(actions)
    finally:
        with deadline(60):
            envs.close(terminate=True)
    envs = gym.make_vec("GlanceFocus-ClutteredMNIST-v0", num_envs=2, vectorization_mode="async")
    try:
        with deadline(120), pytest.raises(IndexError, match=r"image index 4000 out of range"):
            envs.reset(seed=0, options={"index": 4000})
    finally:
        with deadline(60):
            envs.close(terminate=True)
