"""Tianshou drives the natively batched env through gf_env.tianshou (the README's recipe)."""

import gymnasium as gym
import numpy as np
import pytest
import torch

numba = pytest.importorskip("numba")  # a Tianshou dependency
# Tianshou compiles its buffer helpers with numba when first used: about 30 s on one core, far
# more than the few hundred steps here take in plain Python. Decorate them uncompiled.
_jit_disabled, numba.config.DISABLE_JIT = numba.config.DISABLE_JIT, True
try:
    pytest.importorskip("tianshou")
    from tianshou.algorithm.modelfree.dqn import DQN, DiscreteQLearningPolicy
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.data import Collector, VectorReplayBuffer
    from tianshou.env import BaseVectorEnv
    from tianshou.trainer import OffPolicyTrainerParams
    from tianshou.utils.net.common import Net

    from gf_env.tianshou import TianshouVectorEnv, make_tianshou_vec_env
finally:
    numba.config.DISABLE_JIT = _jit_disabled

ENV = "GlanceFocus-ClutteredMNIST-v0"


def test_adapter_speaks_tianshou_api():
    envs = make_tianshou_vec_env(ENV, num_envs=4, seed=3)
    assert isinstance(envs, BaseVectorEnv) and len(envs) == 4
    assert envs.action_space == [gym.spaces.Box(0.0, 1.0, (2,), np.float32)] * 4
    obs, infos = envs.reset()
    assert obs.shape == (4, 256) and [info["env_id"] for info in infos] == [0, 1, 2, 3]
    single = gym.make(ENV)
    for i in (0, 3):  # sub-env i is seeded seed + i, as a single env
        np.testing.assert_allclose(obs[i], single.reset(seed=3 + i)[0], atol=1e-5)
    for step in range(1, 5):
        obs, rewards, terminated, truncated, infos = envs.step(np.full((4, 2), 0.5))
        assert rewards.dtype == np.float32 and not truncated.any()
        assert terminated.all() == (step == 4) and all(info["step"] == step for info in infos)
    with pytest.raises(RuntimeError, match="after the episode ended"):
        envs.step(np.full((4, 2), 0.5))
    obs, infos = envs.reset(env_id=[3, 1])
    assert obs.shape == (2, 256) and [(i["env_id"], i["step"]) for i in infos] == [(3, 0), (1, 0)]


def test_a_subset_step_returns_only_those_and_guards_the_rest():
    envs = make_tianshou_vec_env(ENV, num_envs=3, seed=0)
    envs.reset()
    for _ in range(4):  # the left-out sub-env 1 is reset by the adapter when its episode ends
        obs, rewards, _, _, infos = envs.step(np.full((2, 2), 0.5), id=[2, 0])
        assert rewards.shape == (2,)
        assert obs.shape == (2, 256) and [info["env_id"] for info in infos] == [2, 0]
    with pytest.raises(RuntimeError, match=r"sub-environment\(s\) \[1\] were left out"):
        envs.step(np.full((3, 2), 0.5))
    envs.reset(env_id=1)
    with pytest.raises(RuntimeError, match=r"ended .* for sub-environment\(s\) \[0, 2\]"):
        envs.step(np.full((3, 2), 0.5))


def test_adapter_refuses_other_autoreset_modes():
    with pytest.raises(ValueError, match="autoreset_mode=DISABLED"):
        TianshouVectorEnv(gym.make_vec(ENV, num_envs=2))


def test_dqn_trains_through_the_collector():
    torch.manual_seed(0)
    envs = make_tianshou_vec_env(ENV, num_envs=8, seed=0, action_type="grid")
    test_envs = make_tianshou_vec_env(ENV, num_envs=4, seed=100, action_type="grid")
    space = envs.action_space[0]
    net = Net(state_shape=envs.observation_space[0].shape, action_shape=space.n, hidden_sizes=[64])
    before = [p.detach().clone() for p in net.parameters()]
    policy = DiscreteQLearningPolicy(model=net, action_space=space, eps_training=0.2)
    algorithm = DQN(policy=policy, optim=AdamOptimizerFactory(lr=1e-3), gamma=0.7)
    buffer = VectorReplayBuffer(1000, len(envs))
    train = Collector(algorithm, envs, buffer, exploration_noise=True)
    test = Collector(algorithm, test_envs)
    params = OffPolicyTrainerParams(
        training_collector=train,
        test_collector=test,
        max_epochs=1,
        epoch_num_steps=320,
        collection_step_num_env_steps=32,
        test_step_num_episodes=10,  # 4 envs: the last 2 episodes run on a subset
        batch_size=32,
        update_step_num_gradient_steps_per_sample=0.25,
    )
    stats = algorithm.run_training(params)
    assert stats.train_step == 320 and stats.train_episode == 80 and stats.update_step == 10
    assert stats.test_episode == 20 and stats.test_step == 80  # initial + after the epoch
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    # every stored transition is consistent: obs_next of one step is obs of the next
    for env_buffer in buffer.buffers:
        data = env_buffer[np.arange(len(env_buffer))]
        assert data.info["step"].tolist() == [1, 2, 3, 4] * 10
        assert data.terminated.tolist() == [False, False, False, True] * 10
        going_on = ~data.done[:-1]
        np.testing.assert_array_equal(data.obs_next[:-1][going_on], data.obs[1:][going_on])
        assert (np.abs(data.rew) <= 1).all()  # confidence gains
