"""Gymnasium's ``AsyncVectorEnv`` with dead workers reported by index, and a ``close()`` that works.

When a worker process dies without raising (SIGKILL, the out-of-memory killer, a segfault in a
native library), stock Gymnasium raises a bare ``BrokenPipeError``/``EOFError`` on the next call
and again from ``close()``. :class:`ReportingAsyncVectorEnv` changes only that case: the call
raises :class:`WorkerDiedError` naming each dead worker, its process id and how it ended, and
``close()`` shuts down the remaining workers. ``gym.make_vec(..., vectorization_mode="async")``
builds ``gymnasium.vector.AsyncVectorEnv`` with no hook per id, so :func:`install` (called when
``gf_env`` is imported) puts this subclass in its place for every id; it behaves exactly like
Gymnasium's class while all workers live.
"""

from __future__ import annotations

import functools
import signal
import time
from collections.abc import Callable
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
        if self._dead:
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
            f"worker {i} (pid {self.processes[i].pid}) {_ending(self.processes[i].exitcode)}"
            for i in self._dead
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
        if self._find_dead():
            terminate = True
        super().close_extras(timeout=timeout, terminate=terminate)


def _ending(exitcode: int | None) -> str:
    if exitcode is not None and -exitcode in signal.valid_signals():
        return f"was killed by {signal.Signals(-exitcode).name}"
    return f"exited with code {exitcode}"


def install() -> None:
    """Make ``gym.make_vec(..., vectorization_mode="async")`` build
    :class:`ReportingAsyncVectorEnv`; safe to call again."""
    gym.vector.AsyncVectorEnv = ReportingAsyncVectorEnv
