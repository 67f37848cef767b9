import numpy as np
import pytest
from stable_baselines3 import PPO

from gf_env import GlanceFocusVectorEnv
from gf_env.sb3 import SB3VecEnv, make_sb3_vec_env
from tests.helpers import tiny_gf


def test_adapter_speaks_sb3_vecenv():
    venv = make_sb3_vec_env("GlanceFocus-ClutteredMNIST-v0", num_envs=4, seed=0, monitor=False)
    obs = venv.reset()
    assert obs.shape == (4, 256)
    for _ in range(4):
        obs, rewards, dones, infos = venv.step(np.full((4, 2), 0.5, dtype=np.float32))
        assert rewards.dtype == np.float32 and isinstance(infos, list) and len(infos) == 4
    assert dones.all()
    assert all(info["step"] == 4 and info["terminal_observation"].shape == (256,) for info in infos)
    assert not np.array_equal(infos[0]["terminal_observation"], obs[0])  # obs is the new episode's
    assert venv.get_attr("num_envs") == [4] * 4


def test_seeded_adapter_is_deterministic():
    def first_obs():
        venv = make_sb3_vec_env("GlanceFocus-ClutteredMNIST-v0", num_envs=2, seed=7)
        return venv.reset()

    np.testing.assert_array_equal(first_obs(), first_obs())


def test_ppo_learns_on_the_batched_env():
    venv = make_sb3_vec_env("GlanceFocus-ClutteredMNIST-v0", num_envs=8, seed=0)
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=8,
        batch_size=32,
        n_epochs=1,
        seed=0,
        policy_kwargs={"net_arch": [16]},
    )
    model.learn(128)
    assert model.num_timesteps == 128
    assert len(model.ep_info_buffer) == 16  # 2 rollouts x 8 envs, 4 steps per episode


def test_adapter_needs_same_step_mode():
    vector = GlanceFocusVectorEnv(2, data="cluttered60", classifier=tiny_gf())
    with pytest.raises(ValueError, match="SAME_STEP"):
        SB3VecEnv(vector)
