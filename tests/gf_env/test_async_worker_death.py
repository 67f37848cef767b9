"""A SIGKILLed async vector-env worker is reported by index, and close() still succeeds."""

import os
import signal

import gymnasium as gym
import numpy as np
import pytest

import gf_env
from tests.gf_env.test_async import deadline

ID = "GlanceFocus-ClutteredMNIST-v0"


@pytest.mark.parametrize("when", ["before step", "during step"])
def test_a_killed_worker_is_named_and_close_succeeds(when):
    envs = gym.make_vec(ID, num_envs=3, vectorization_mode="async", max_focus_steps=2)
    victim = envs.unwrapped.processes[1]
    actions = np.full((3, 2), 0.5, dtype=np.float32)
    with deadline(120):
        envs.reset(seed=0)
        if when == "during step":
            os.kill(victim.pid, signal.SIGSTOP)  # so it cannot answer before it is killed
            envs.step_async(actions)
        os.kill(victim.pid, signal.SIGKILL)
        with pytest.raises(
            gf_env.WorkerDiedError,
            match=rf"worker 1 \(pid {victim.pid}\) was killed by SIGKILL; .*close\(\) it",
        ):
            envs.step_wait() if when == "during step" else envs.step(actions)
        with pytest.raises(gf_env.WorkerDiedError, match="worker 1"):  # and on every later call
            envs.reset()
    with deadline(60):
        envs.close()
    assert envs.unwrapped.closed
    assert not any(process.is_alive() for process in envs.unwrapped.processes)
