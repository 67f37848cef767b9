"""TorchRL builds the envs by id and wraps the native vector env (the README's recipes)."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from gf_env import list_envs

ENV = "GlanceFocus-ClutteredMNIST-v0"


def test_unknown_argument_uses_pythons_phrase():
    # TorchRL's GymEnv passes frameskip=1 and drops it only on Python's own message
    with pytest.raises(TypeError, match="unexpected keyword argument 'frameskip'"):
        gym.make(ENV, frameskip=1)


@pytest.mark.parametrize("env_id", list_envs(offline_only=True))
def test_gym_env_by_id_rolls_out_an_episode(env_id):
    envs = pytest.importorskip("torchrl.envs")
    env = envs.GymEnv(env_id)
    rollout = env.rollout(10)  # stops at the end of the first episode
    assert rollout.batch_size == (4,)  # 4 focus steps, then terminated
    assert rollout["next", "terminated"][:, 0].tolist() == [False, False, False, True]
    assert rollout["observation"].shape == (4, *env.observation_spec["observation"].shape)
    env.close()


def test_collector_steps_through_episodes():
    pytest.importorskip("torchrl")
    from torchrl.collectors import Collector, RandomPolicy
    from torchrl.envs import GymEnv

    env = GymEnv(ENV)
    env.set_seed(0)
    collector = Collector(env, RandomPolicy(env.action_spec), frames_per_batch=10, total_frames=10)
    batch = next(iter(collector))
    collector.shutdown()
    assert batch.batch_size == (10,)
    # two whole episodes of 4 focus steps, then the third one's first 2 steps
    assert batch["collector", "traj_ids"].tolist() == [0] * 4 + [1] * 4 + [2] * 2
    assert batch["next", "done"][:, 0].nonzero()[:, 0].tolist() == [3, 7]
    rewards = batch["next", "reward"].numpy()
    assert np.isfinite(rewards).all() and (np.abs(rewards) <= 1).all()  # confidence gains


@pytest.mark.parametrize("mode", [AutoresetMode.DISABLED, AutoresetMode.SAME_STEP])
def test_gym_wrapper_over_the_native_vector_env(mode):
    pytest.importorskip("torchrl")
    from torchrl.collectors import Collector, RandomPolicy
    from torchrl.envs import GymWrapper

    env = GymWrapper(gym.make_vec(ENV, num_envs=4, autoreset_mode=mode))
    collector = Collector(env, RandomPolicy(env.action_spec), frames_per_batch=24, total_frames=24)
    batch = next(iter(collector))
    collector.shutdown()
    assert batch.batch_size == (4, 6)
    done = batch["next", "done"][..., 0]
    assert done[:, 3].all() and done.sum() == 4  # every sub-env ends its episode at step 4
    assert batch["observation"].shape == (4, 6, 256)


def test_gym_wrapper_refuses_next_step():
    pytest.importorskip("torchrl")
    from torchrl.envs import GymWrapper

    with pytest.raises(RuntimeError, match="SAME_STEP or DISABLED"):
        GymWrapper(gym.make_vec(ENV, num_envs=2))
