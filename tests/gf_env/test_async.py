import gymnasium as gym
import numpy as np

import gf_env

gym.register_envs(gf_env)


def test_async_vector_env_runs_episodes():
    """Workers re-import gf_env (registration is idempotent) and build envs from pickled specs."""
    envs = gym.make_vec("GlanceFocus-ClutteredMNIST-v0", num_envs=2, vectorization_mode="async")
    try:
        obs, _ = envs.reset(seed=0)
        assert obs.shape == (2, 256)
        for _ in range(4):
            _, rewards, terminated, _, _ = envs.step(np.full((2, 2), 0.5, dtype=np.float32))
        assert terminated.all() and np.isfinite(rewards).all()
        single = gym.make("GlanceFocus-ClutteredMNIST-v0")
        first, _ = single.reset(seed=1)
        again, _ = envs.reset(seed=0)
        np.testing.assert_allclose(again[1], first, rtol=1e-4, atol=1e-5)
    finally:
        envs.close()
