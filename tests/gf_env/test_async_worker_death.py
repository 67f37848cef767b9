"""A SIGKILLed async vector-env worker is reported by index, and close() still succeeds."""

import os
import signal

import numpy as np
import pytest

import gf_env
from tests.gf_env.test_async import deadline

ID = "GlanceFocus-ClutteredMNIST-v0"


@pytest.mark.parametrize("when", ["before step", "during step"])
def test_a_killed_worker_is_named_and_close_succeeds(when):
    envs = gf_env.make_async_vec(ID, num_envs=3, max_focus_steps=2)
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


def test_a_call_after_a_worker_raised_names_the_worker():
    envs = gf_env.make_async_vec(ID, num_envs=2, max_focus_steps=2)
    actions = np.array([[0.5, 0.5], [np.nan, 0.5]], dtype=np.float32)
    with deadline(120):
        envs.reset(seed=0)
        with pytest.raises(ValueError, match="actions must be finite"):
            envs.step(actions)
        with pytest.raises(gf_env.WorkerDiedError, match=r"worker 1 \(pid \d+\) was shut down"):
            envs.step(np.full((2, 2), 0.5, dtype=np.float32))
    with deadline(60):
        envs.close()
    assert envs.unwrapped.closed


def test_make_async_vec_passes_vector_kwargs_and_wrappers():
    import gymnasium as gym

    envs = gf_env.make_async_vec(
        ID,
        num_envs=2,
        vector_kwargs={"shared_memory": False},
        wrappers=[gym.wrappers.RecordEpisodeStatistics],
        max_focus_steps=1,
    )
    try:
        with deadline(120):
            envs.reset(seed=0)
            *_, terminated, _, info = envs.step(np.full((2, 2), 0.5, dtype=np.float32))
        assert terminated.all() and "episode" in info
        assert envs.shared_memory is False
    finally:
        with deadline(60):
            envs.close()
