"""Where the runs of a sweep execute: plain processes on this machine, or Ray tasks.

:func:`launch` calls a picklable, module-level ``fn`` once per job and yields ``(job, result)``
as runs finish, so the caller can save each result at once (a sweep killed half-way keeps what
finished). Launchers:

- ``"process"`` (default): ``workers`` plain processes (``spawn``); ``workers=1`` runs the jobs
  one after the other in this process.
- ``"ray"``: each job is a Ray task requesting the CPUs/GPUs ``resources(job)`` names. With
  ``ray_address`` (``"auto"``, ``"ray://host:10001"``, ...) it joins that cluster; without, Ray
  starts on this machine with ``workers`` CPUs. Every node needs this package (and any agent
  module named by import path) installed. Needs the optional extra ``[distributed]``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

LAUNCHERS = ("process", "ray")
Job = TypeVar("Job")


def launch(
    fn: Callable[[Job], Any],
    jobs: Sequence[Job],
    *,
    launcher: str = "process",
    workers: int = 1,
    ray_address: str | None = None,
    resources: Callable[[Job], dict[str, float]] | None = None,
) -> Iterator[tuple[Job, Any]]:
    """Run ``fn(job)`` for every job and yield ``(job, result)`` in the order they finish.

    Args:
        fn: a module-level function (it is pickled to other processes or nodes).
        jobs: the jobs; each must pickle.
        launcher: ``"process"`` or ``"ray"``.
        workers: processes side by side (``"process"``), or CPUs of a Ray started here.
        ray_address: address of a running Ray cluster to join (``"ray"`` only).
        resources: per job, Ray's request, e.g. ``{"num_cpus": 1, "num_gpus": 0}`` (default 1 CPU).

    Raises:
        ValueError: an unknown launcher, ``workers < 1``, or ``ray_address`` without Ray.
        ImportError: ``launcher="ray"`` without Ray installed (names the extra to install).
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f"launcher must be one of {LAUNCHERS}, got {launcher!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if ray_address is not None and launcher != "ray":
        raise ValueError(f"ray_address={ray_address!r} needs launcher='ray'")
    if launcher == "ray":
        yield from _ray(fn, jobs, workers, ray_address, resources)
    elif workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield job, fn(job)
    else:
        context = multiprocessing.get_context("spawn")  # no forked torch/OpenMP state
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(fn, job): job for job in jobs}
            for future in as_completed(futures):
                yield futures[future], future.result()


def _ray(
    fn: Callable[[Job], Any],
    jobs: Sequence[Job],
    workers: int,
    address: str | None,
    resources: Callable[[Job], dict[str, float]] | None,
) -> Iterator[tuple[Job, Any]]:
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "launcher='ray' needs Ray: pip install 'glance-focus[distributed]'"
        ) from error
    started_here = not ray.is_initialized()
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
                yield pending.pop(ref), ray.get(ref)
    finally:
        if started_here:
            ray.shutdown()
