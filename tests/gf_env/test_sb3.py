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
    assert len(model.ep_info_buffer) == 32  # 8 envs x 16 steps each, 4 steps per episode


def test_adapter_needs_same_step_mode():
    vector = GlanceFocusVectorEnv(2, data="cluttered60", classifier=tiny_gf())
    with pytest.raises(ValueError, match="SAME_STEP"):
        SB3VecEnv(vector)


def test_adapter_reset_infos_spaces_and_reseeding():
    venv = make_sb3_vec_env("GlanceFocus-ClutteredMNIST-v0", num_envs=2, monitor=False)
    assert venv.get_attr("observation_space") == [venv.observation_space] * 2
    venv.seed(3)
    first = venv.reset()
    assert [info["step"] for info in venv.reset_infos] == [0, 0]
    assert not np.array_equal(venv.reset(), first)  # no new seed: the RNGs go on, new canvases
    venv.seed(3)
    np.testing.assert_array_equal(venv.reset(), first)
    for _ in range(4):
        _, _, dones, infos = venv.step(np.full((2, 2), 0.5, dtype=np.float32))
    assert dones.all()
    assert [info["step"] for info in infos] == [4, 4]  # the finished episodes' last infos
    assert [info["step"] for info in venv.reset_infos] == [0, 0]  # the new episodes' first infos
    assert all(
        info["image_index"] == venv.env.engine.image_index[i]
        for i, info in enumerate(venv.reset_infos)
    )
    with pytest.raises(ValueError, match="not env_method"):
        venv.env_method("reset")
