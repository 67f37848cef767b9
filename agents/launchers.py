"""Where the runs of a sweep execute: plain processes on this machine, or Ray tasks.

:func:`launch` calls a picklable, module-level ``fn`` once per job and yields ``(job, result)``
as runs finish, so the caller can save each result at once (a sweep killed half-way keeps what
finished). A run that fails does not stop the others: every other run finishes and is yielded,
then :class:`RunsFailed` names the failed ones. Launchers:

- ``"process"`` (default): ``workers`` plain processes (``spawn``); ``workers=1`` runs the jobs
  one after the other in this process.
- ``"ray"``: each job is a Ray task requesting the CPUs/GPUs ``resources(job)`` names. With
  ``ray_address`` (``"auto"``, ``"ray://host:10001"``, ...) it joins that cluster; without, Ray
  starts on this machine with ``workers`` CPUs. Every node needs this package (and any agent
  module named by import path) installed. Needs the optional extra ``[distributed]``. An address
  of the form ``host:port`` (or ``ray://host:port``) where nothing answers is refused within
  ``connect_timeout_s`` (Ray itself would retry for ever).
"""

from __future__ import annotations

import functools
import multiprocessing
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, Literal, TypeVar, get_args

from agents.plugins import check_choice

Launcher = Literal["process", "ray"]
"""Where runs go: plain processes on this machine, or Ray."""
LAUNCHERS: tuple[str, ...] = get_args(Launcher)
Job = TypeVar("Job")


class RunsFailed(RuntimeError):
    """Runs of a sweep that raised; the others finished (and were yielded).

    Attributes:
        failures: ``(job, error)`` of each failed run.
    """

    def __init__(self, failures: list[tuple[Any, BaseException]], total: int) -> None:
        self.failures = failures
        listed = "; ".join(f"{job}: {type(error).__name__}: {error}" for job, error in failures)
        super().__init__(
            f"{len(failures)} of {total} runs failed ({listed}); the other runs finished and are "
            "kept, so running the same command again does only the failed ones"
        )


def launch(
    fn: Callable[[Job], Any],
    jobs: Sequence[Job],
    *,
    launcher: Launcher = "process",
    workers: int = 1,
    ray_address: str | None = None,
    resources: Callable[[Job], dict[str, float]] | None = None,
    connect_timeout_s: float = 30.0,
) -> Iterator[tuple[Job, Any]]:
    """Run ``fn(job)`` for every job and yield ``(job, result)`` in the order they finish; a job
    that raises is reported (a line on stderr) and the others go on.

    Args:
        fn: a module-level function (it is pickled to other processes or nodes).
        jobs: the jobs; each must pickle.
        launcher: ``"process"`` or ``"ray"``.
        workers: processes side by side (``"process"``), or CPUs of a Ray started here.
        ray_address: address of a running Ray cluster to join (``"ray"`` only).
        resources: per job, Ray's request, e.g. ``{"num_cpus": 1, "num_gpus": 0}`` (default 1 CPU).
        connect_timeout_s: how long ``ray_address`` may take to answer.

    Raises:
        ValueError: an unknown launcher, ``workers < 1``, or ``ray_address`` without Ray.
        ImportError: ``launcher="ray"`` without Ray installed (names the extra to install).
        ConnectionError: nothing answers at ``ray_address`` (the message names it).
        RunsFailed: after every other job was yielded, the jobs that raised (``str(job)`` names
            each).
    """
    check_choice("launcher", launcher, Launcher)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if ray_address is not None and launcher != "ray":
        raise ValueError(f"ray_address={ray_address!r} needs launcher='ray'")
    failures: list[tuple[Job, BaseException]] = []
    if launcher == "ray":
        outcomes = _ray(fn, jobs, workers, ray_address, resources, connect_timeout_s)
    elif workers == 1 or len(jobs) <= 1:
        outcomes = ((job, functools.partial(fn, job)) for job in jobs)
    else:
        outcomes = _processes(fn, jobs, workers)
    for job, result in outcomes:
        try:
            value = result()
        except Exception as error:  # one failed run must not discard the others
            print(f"failed {job}: {type(error).__name__}: {error}", file=sys.stderr)
            failures.append((job, error))
        else:
            yield job, value
    if failures:
        raise RunsFailed(failures, len(jobs))


def _processes(
    fn: Callable[[Job], Any], jobs: Sequence[Job], workers: int
) -> Iterator[tuple[Job, Callable[[], Any]]]:
    """``(job, get its result)`` as each job of a pool of ``workers`` processes finishes."""
    context = multiprocessing.get_context("spawn")  # no forked torch/OpenMP state
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures: dict[Future, Job] = {pool.submit(fn, job): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result


def _ray(
    fn: Callable[[Job], Any],
    jobs: Sequence[Job],
    workers: int,
    address: str | None,
    resources: Callable[[Job], dict[str, float]] | None,
    connect_timeout_s: float,
) -> Iterator[tuple[Job, Callable[[], Any]]]:
    """``(job, get its result)`` as each job of Ray tasks finishes."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "launcher='ray' needs Ray: pip install 'glance-focus[distributed]'"
        ) from error
    started_here = not ray.is_initialized()
    if started_here and address is not None:
        check_reachable(address, connect_timeout_s)
    if started_here:
        options: dict[str, Any] = {"log_to_driver": False}
        if address is None:  # a Ray of our own on this machine
            options.update(num_cpus=workers, include_dashboard=False)
        ray.init(address=address, **options)
    try:
        remote = ray.remote(fn)
        pending = {
            remote.options(**(resources(job) if resources else {"num_cpus": 1})).remote(job): job
            for job in jobs
        }
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), lambda ref=ref: ray.get(ref)
    finally:
        if started_here:
            ray.shutdown()


def check_reachable(address: str, timeout_s: float) -> None:
    """Refuse a Ray address ``host:port`` or ``ray://host:port`` where nothing accepts a
    connection within ``timeout_s`` seconds (``ray.init`` would retry for ever); other forms
    (``auto``) are left to Ray.

    Raises:
        ConnectionError: nothing answers; the message names the address.
    """
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as error:
        raise ConnectionError(
            f"no Ray cluster answers at --ray-address {address!r} ({error}; waited up to "
            f"{timeout_s:g} s); start one there (ray start --head) or pass the address it printed"
        ) from error
