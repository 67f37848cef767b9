"""Gymnasium's ``AsyncVectorEnv`` with dead workers reported by index, and a ``close()`` that works.

When a worker process dies without raising (SIGKILL, the out-of-memory killer, a segfault in a
native library), stock Gymnasium raises a bare ``BrokenPipeError``/``EOFError`` on the next call
and again from ``close()``; after a worker raised, the next call fails with an ``AttributeError``
on the pipe Gymnasium dropped. :class:`ReportingAsyncVectorEnv` changes only those cases: the call
raises :class:`WorkerDiedError` naming each lost worker, its process id and how it ended, and
``close()`` shuts down the remaining workers. While all workers live it behaves exactly like
Gymnasium's class.

It is an explicit choice: ``gym.make_vec(..., vectorization_mode="async")`` builds Gymnasium's own
``AsyncVectorEnv`` (importing :mod:`gf_env` changes nothing in Gymnasium), and
:func:`make_async_vec` builds this class with the same arguments.

>>> import gf_env
>>> envs = gf_env.make_async_vec("GlanceFocus-TranslatedMNIST-v0", num_envs=4)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
from gymnasium.vector.async_vector_env import AsyncState, AsyncVectorEnv

# How long a broken pipe may precede the worker's exit status becoming visible.
_EXIT_GRACE_SECONDS = 2.0


class WorkerDiedError(RuntimeError):
    """A worker process of an async vector env ended without reporting an error."""


def _reporting(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: ReportingAsyncVectorEnv, *args: Any, **kwargs: Any) -> Any:
        if self._dead or self._find_raised():
            raise self._died()
        try:
            return method(self, *args, **kwargs)
        except (BrokenPipeError, ConnectionResetError, EOFError) as error:
            deadline = time.monotonic() + _EXIT_GRACE_SECONDS
            while not self._find_dead() and time.monotonic() < deadline:
                time.sleep(0.01)
            if not self._dead:
                raise
            raise self._died() from error

    return wrapper


class ReportingAsyncVectorEnv(AsyncVectorEnv):
    """``gymnasium.vector.AsyncVectorEnv`` that names dead workers and closes cleanly after one
    died (see the module docstring). Arguments are those of Gymnasium's class."""

    _dead: tuple[int, ...] = ()
    _raised: tuple[int, ...] = ()  # workers Gymnasium shut down after they raised

    def _find_raised(self) -> tuple[int, ...]:
        """Record the workers whose pipe Gymnasium dropped after they raised an error."""
        raised = (i for i, pipe in enumerate(self.parent_pipes) if pipe is None)
        self._raised = tuple(sorted({*self._raised, *(i for i in raised if i not in self._dead)}))
        return self._raised

    def _find_dead(self) -> tuple[int, ...]:
        """Record the workers whose process has ended; their pipes are closed and dropped."""
        dead = tuple(i for i, process in enumerate(self.processes) if not process.is_alive())
        for index in dead:
            pipe = self.parent_pipes[index]
            if pipe is not None:
                pipe.close()
                self.parent_pipes[index] = None
        self._dead = tuple(sorted({*self._dead, *dead}))
        if self._dead:
            self._state = AsyncState.DEFAULT
        return self._dead

    def _died(self) -> WorkerDiedError:
        details = ", ".join(
            [
                *(
                    f"worker {i} (pid {self.processes[i].pid}) {_ending(self.processes[i].exitcode)}"
                    for i in self._dead
                ),
                *(
                    f"worker {i} (pid {self.processes[i].pid}) was shut down after the error it "
                    "raised earlier"
                    for i in self._raised
                ),
            ]
        )
        return WorkerDiedError(
            f"async vector env: {details}; its sub-environment is gone, so this vector env cannot "
            "go on: close() it and make a new one (look for the out-of-memory killer or a crash "
            "in native code if nothing killed it on purpose)"
        )

    reset_async = _reporting(AsyncVectorEnv.reset_async)
    reset_wait = _reporting(AsyncVectorEnv.reset_wait)
    step_async = _reporting(AsyncVectorEnv.step_async)
    step_wait = _reporting(AsyncVectorEnv.step_wait)
    call_async = _reporting(AsyncVectorEnv.call_async)
    call_wait = _reporting(AsyncVectorEnv.call_wait)
    set_attr = _reporting(AsyncVectorEnv.set_attr)

    def close_extras(self, timeout: float | None = None, terminate: bool = False) -> None:
        """Close the workers; after one died, terminate the others instead of waiting on them.

        Args:
            timeout: seconds to wait for workers to finish a pending call (Gymnasium's meaning).
            terminate: terminate the workers at once.
        """
        if self._find_dead() or self._find_raised():
            terminate = True
        super().close_extras(timeout=timeout, terminate=terminate)


def _ending(exitcode: int | None) -> str:
    if exitcode is not None and -exitcode in signal.valid_signals():
        return f"was killed by {signal.Signals(-exitcode).name}"
    return f"exited with code {exitcode}"


def make_async_vec(
    env_id: str,
    num_envs: int = 1,
    *,
    vector_kwargs: dict[str, Any] | None = None,
    wrappers: Sequence[Callable[[gym.Env], gym.Wrapper]] | None = None,
    **kwargs: Any,
) -> ReportingAsyncVectorEnv:
    """``gym.make_vec(env_id, num_envs, vectorization_mode="async", ...)``, but building
    :class:`ReportingAsyncVectorEnv`.

    Args:
        env_id: a registered id (any Gymnasium id, not only this package's).
        num_envs: number of worker processes, one sub-environment each.
        vector_kwargs: keyword arguments of Gymnasium's ``AsyncVectorEnv`` (``shared_memory``,
            ``context``, ``daemon``, ...).
        wrappers: wrappers applied to each sub-environment, innermost first.
        **kwargs: arguments of ``gym.make`` for each sub-environment.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be at least 1, got {num_envs}")
    make_one = functools.partial(_make_wrapped, env_id, tuple(wrappers or ()), kwargs)
    return ReportingAsyncVectorEnv([make_one] * num_envs, **(vector_kwargs or {}))


def _make_wrapped(
    env_id: str, wrappers: tuple[Callable[[gym.Env], gym.Wrapper], ...], kwargs: dict[str, Any]
) -> gym.Env:
    env = gym.make(env_id, **kwargs)
    for wrapper in wrappers:
        env = wrapper(env)
    return env
