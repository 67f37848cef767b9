"""``import gf_env`` registers its ids and changes nothing else in Gymnasium or the process."""

import multiprocessing
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import gymnasium.vector.async_vector_env as gym_async
import torch

import gf_env
from gf_env.engine import single_threaded_if_forked


def test_gymnasium_keeps_its_own_async_vector_env():
    assert gym.vector.AsyncVectorEnv is gym_async.AsyncVectorEnv
    assert gf_env.ReportingAsyncVectorEnv is not gym.vector.AsyncVectorEnv
    envs = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="async")
    try:
        assert type(envs) is gym_async.AsyncVectorEnv
    finally:
        envs.close()


def test_import_registers_ids_and_no_fork_hook():
    script = textwrap.dedent(
        """
        import os
        import sys
        from pathlib import Path
        ours = {Path(p).resolve() for p in ("gf_env", "classifiers", "agents")}
        calls = []

        def record(**hooks):  # other libraries (torch, random, ...) register their own
            caller = Path(sys._getframe(1).f_code.co_filename).resolve()
            if any(root in caller.parents for root in ours):
                calls.append(str(caller))

        os.register_at_fork = record
        import gymnasium as gym
        before = gym.vector.AsyncVectorEnv
        import gf_env
        assert gym.vector.AsyncVectorEnv is before, gym.vector.AsyncVectorEnv
        assert "GlanceFocus-TranslatedMNIST-v0" in gym.registry
        print(calls)
        """
    )
    root = Path(__file__).parents[2]
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=root
    ).stdout
    assert out.strip() == "[]", f"fork hooks registered on import: {out}"


def _threads_in_forked_child(queue):
    single_threaded_if_forked()
    queue.put(torch.get_num_threads())


def test_only_a_forked_process_that_uses_an_env_goes_single_threaded():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_threads_in_forked_child, args=(queue,))
        child.start()
        assert queue.get(timeout=60) == 1
        child.join(timeout=60)
        single_threaded_if_forked()  # the importing process is left as it is
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
