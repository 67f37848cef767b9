"""The leaderboard: every agent of a suite on every task of it, for every seed, one protocol.

A *suite* (:class:`Suite`, registered in :data:`SUITES`) names tasks (env ids, each with its
timestep budget), agents (built-in algorithms, heuristics, or ``pkg.module:make_agent`` import
paths, see :mod:`agents.protocol`) and seeds. :func:`run_leaderboard` runs each (agent, task, seed)
once (:func:`run_job`: train under the protocol, then evaluate on the test split), through a
launcher (:mod:`agents.launchers`: plain processes or Ray), saving every finished job under
``<out>/jobs/`` at once; a rerun reuses finished jobs whose settings fingerprint matches
(resumable; the fingerprint is the protocol's, :func:`agents.protocol.fingerprint`, which the
benchmark uses too), and redoes, or with ``on_mismatch="refuse"`` refuses, the others. A damaged
job file is named in a warning and redone; a run that fails does not stop the others, which are
saved, and the failed ones are named at the end (:class:`agents.launchers.RunsFailed`). The
packages the report needs are imported before the first run.

Then the report (:mod:`agents.reporting`, statistics of :mod:`agents.statistics`): per task and
step, the mean over seeds with seed-and-image bootstrap intervals; normalised scores (random 0,
oracle 1; and random 0, locator 1 when the privileged ``locator`` ran) aggregated over tasks with
rliable (IQM, mean, optimality gap), probability of improvement over PPO; learning curves.
Written: ``leaderboard.json`` (everything, plus wall time, env steps/s and the learner's share of
time per run), ``leaderboard.md`` (the tables), ``aggregate.png`` and ``curves.png``.

Usage::

    python -m agents.cli leaderboard --suite mnist --out results/leaderboard
    python -m agents.cli leaderboard --suite mnist --agents ppo examples.custom_algorithm:make_agent
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import tyro

from agents.evaluation import SUBSET_RULE
from agents.launchers import Launcher, launch
from agents.plugins import PluginOptions, check_choice, check_env_kwargs, import_gym_packages
from agents.protocol import (
    Run,
    describe,
    fingerprint,
    fingerprint_difference,
    read_record,
    resolve_agent,
    run_env_kwargs,
    slug,
    train_or_reuse,
)
from agents.reporting import (
    ANCHORS,
    check_seeds,
    leaderboard_markdown,
    leaderboard_report,
    plot_aggregate,
    plot_curves,
    require_modules,
    write_json,
)
from agents.settings import OnMismatch, Reuse, Training, check_image_counts, pick

BUILT_IN = ("ppo", "a2c", "sac", "td3", "recurrent_ppo", "dqn", "tqc")
"""The Stable-Baselines3 (and sb3-contrib) algorithms with the package's defaults."""
REFERENCES = ("gfnet", "gfnet-ppo", "differentiable")
"""GFNet's own stage-2 algorithm (as published and with a corrected PPO update) and the
gradient-based location network (white-box: it reads the classifier's gradients)."""
HEURISTICS = ("random", "center", "raster", "saliency", "oracle", "locator")
"""Policies that learn nothing; ``oracle`` reads the label and ``locator`` the object boxes."""
REPORT_MODULES = ("matplotlib.pyplot", "rliable.library", "rliable.metrics", "rliable.plot_utils")
"""What the statistics and plots need (imported before the first run: a broken install stops the
sweep at once, not after hours of runs)."""
DEFAULT_BUDGET = 250_000
"""Timesteps per learned run on a task without a measured budget (:data:`MNIST_BUDGETS`)."""
MNIST_BUDGETS = {
    "GlanceFocus-TranslatedMNIST-v0": 100_000,
    "GlanceFocus-ClutteredMNIST-v0": 100_000,
    "GlanceFocus-ClutteredMNIST100-v0": 250_000,
}
"""The smallest budget (rounded up to 50k) at which PPO with the package defaults (seed 0) was
within 2 points of its final-step test accuracy at 300k (60x60 ids) or 400k steps (all 1,000
test digits, every 25k steps): TranslatedMNIST 97.1% at 75k vs 98.1% at 300k; ClutteredMNIST
96.4% at 75k and 95.5-96.9% from 100k on vs 95.9% at 300k; ClutteredMNIST100 96.5% at 225k vs
96.5% at 400k (94.4% at 200k)."""


@dataclass(frozen=True)
class Task:
    """One environment of a suite.

    Args:
        env_id: a registered glance-focus id.
        timesteps: training budget of every learned agent on it.
        env_kwargs: environment arguments (JSON-able) given to every agent.
    """

    env_id: str
    timesteps: int = DEFAULT_BUDGET
    env_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    """Tasks, agents and seeds a leaderboard runs (all of each on all of each).

    Args:
        tasks: the environments, with their budgets.
        agents: agent names (built-in, heuristic, import path or entry point).
        seeds: training (and heuristic) seeds.
        description: one line for the report.
    """

    tasks: tuple[Task, ...]
    agents: tuple[str, ...] = (*BUILT_IN, *REFERENCES, *HEURISTICS)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    description: str = ""


def mnist_suite(budgets: dict[str, int] | None = None) -> Suite:
    """Every offline MNIST id registered by :mod:`gf_env` (new ids join automatically), with
    ``budgets`` per id (default :data:`MNIST_BUDGETS`, else :data:`DEFAULT_BUDGET`)."""
    import gf_env

    budgets = MNIST_BUDGETS if budgets is None else budgets
    ids = [env_id for env_id in gf_env.list_envs(offline_only=True) if "MNIST" in env_id]
    return Suite(
        tasks=tuple(Task(env_id, budgets.get(env_id, DEFAULT_BUDGET)) for env_id in ids),
        description=(
            "every offline MNIST task, all built-in algorithms, GFNet's, the gradient-based "
            "reference and the heuristics"
        ),
    )


SUITES: dict[str, Any] = {"mnist": mnist_suite}
"""Suite name -> a :class:`Suite` or a function returning one (called when the suite is used).
Add yours with ``SUITES["name"] = Suite(...)``, or pass a JSON file to ``--suite``."""


def get_suite(name: str) -> Suite:
    """The suite registered as ``name``, or read from a JSON file with the fields of
    :class:`Suite` (``tasks``: a list of ``{"env_id", "timesteps", "env_kwargs"}``; see
    :func:`read_suite`)."""
    if name in SUITES:
        suite = SUITES[name]
        return suite() if callable(suite) else suite
    path = Path(name)
    if path.suffix == ".json" and path.is_file():
        return read_suite(path)
    raise ValueError(f"unknown suite {name!r}; choose one of {sorted(SUITES)} or a .json file")


def read_suite(path: Path) -> Suite:
    """The :class:`Suite` of a JSON file, every field checked: each task's ``env_kwargs`` as
    ``--env-kwargs`` are (:func:`agents.plugins.check_env_kwargs`).

    Raises:
        ValueError: one line naming the file and the field: JSON that does not parse, an unknown
            or missing field, a value of the wrong type, or an env argument refused.
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"suite file {path}: not readable JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"suite file {path}: expected an object with {_names(Suite)}")
    _check_fields(path, "", data, Suite, required=("tasks",))
    if not isinstance(data["tasks"], list) or not data["tasks"]:
        raise ValueError(f"suite file {path}: tasks must be a non-empty list of task objects")
    tasks = []
    for i, task in enumerate(data["tasks"]):
        where = f"tasks[{i}]"
        if not isinstance(task, dict):
            raise ValueError(f"suite file {path}: {where} must be an object with {_names(Task)}")
        _check_fields(path, f"{where}.", task, Task, required=("env_id",))
        _check_value(path, f"{where}.env_id", task["env_id"], str)
        _check_value(path, f"{where}.timesteps", task.get("timesteps", 1), int, minimum=1)
        _check_value(path, f"{where}.env_kwargs", task.get("env_kwargs", {}), dict)
        try:
            check_env_kwargs(task.get("env_kwargs", {}), task["env_id"])
        except ValueError as error:
            raise ValueError(f"suite file {path}: {where}.env_kwargs: {error}") from None
        tasks.append(Task(**task))
    for key in ("agents", "seeds"):
        value = data.get(key, [])
        kind = str if key == "agents" else int
        if not isinstance(value, list) or not all(_is(v, kind) for v in value):
            raise ValueError(f"suite file {path}: {key} must be a list of {kind.__name__}s")
    _check_value(path, "description", data.get("description", ""), str)
    rest = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k != "tasks"}
    return Suite(tasks=tuple(tasks), **rest)


def _names(cls: type) -> str:
    return ", ".join(f.name for f in fields(cls))


def _check_fields(
    path: Path, where: str, data: dict[str, Any], cls: type, required: tuple[str, ...]
) -> None:
    """Refuse keys of ``data`` that are no field of ``cls``, and missing ``required`` ones."""
    unknown = [k for k in data if k not in {f.name for f in fields(cls)}]
    if unknown:
        raise ValueError(
            f"suite file {path}: unknown field {where}{unknown[0]}; the fields are {_names(cls)}"
        )
    missing = [k for k in required if k not in data]
    if missing:
        raise ValueError(f"suite file {path}: {where}{missing[0]} is missing")


def _is(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _check_value(
    path: Path, where: str, value: Any, kind: type, minimum: int | None = None
) -> None:
    if not _is(value, kind) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(
            f"suite file {path}: {where} must be a {kind.__name__}{bound}, got {value!r:.60}"
        )


@dataclass
class LeaderboardConfig(Training, Reuse, PluginOptions):
    """Every agent of a suite on every task and seed; leaderboard.json/md and plots. Every field
    is a flag of ``glance-focus leaderboard``; the training and reuse settings are
    :class:`agents.settings.Training`'s and :class:`~agents.settings.Reuse`'s, here with a
    learning-curve point every 25,000 timesteps."""

    suite: str = "mnist"
    """a registered suite or a suite .json file"""
    agents: list[str] | None = None
    """run these agents instead of the suite's (random and oracle are added: they anchor the
    normalised scores)"""
    tasks: list[str] | None = None
    """run only these env ids of the suite"""
    seeds: list[int] | None = None
    """seeds instead of the suite's"""
    timesteps: int | None = None
    """one budget for every task instead of the suite's"""
    out: str = "results/leaderboard"
    eval_freq: int = field(default=25_000, kw_only=True)  # Training's, with the curves' default
    """learning curve: test accuracy every N timesteps (0: only at the end)"""
    test_images: int | None = None
    """final evaluation on N test images spread over the split (default: all)"""
    launcher: Launcher = "process"
    """process (plain processes on this machine) or ray"""
    workers: int = 1
    """runs side by side (process), or CPUs of a Ray started here"""
    ray_address: str | None = None
    """join this Ray cluster (e.g. auto or ray://head:10001) instead of starting one"""
    num_gpus: float = 0.0
    """GPUs each learned run requests from Ray"""
    resamples: int = 2000
    """bootstrap replicates of every interval"""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("launcher", self.launcher, Launcher)
        check_image_counts(test_images=self.test_images)
        for name in ("workers", "resamples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.timesteps is not None and self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")
        require_modules(*REPORT_MODULES)


@dataclass(frozen=True)
class Job:
    """One (agent, task, seed) run: the protocol's :class:`Run` plus the final evaluation and
    what to do with a run already finished (:func:`make_job` builds one)."""

    agent: str
    run: Run
    test_images: int | None = None
    """final evaluation on N test images spread over the split (``None``: all)"""
    finished: Reuse = field(default_factory=Reuse)
    """what to do with a run already finished in the sweep's folder"""
    gym_packages: tuple[str, ...] = ()
    """modules a worker imports before the run (``--gym-packages``)"""

    @property
    def reuse(self) -> bool:
        return self.finished.reuse

    @property
    def on_mismatch(self) -> OnMismatch:
        return self.finished.on_mismatch

    @property
    def task(self) -> Task:
        return Task(self.run.env_id, self.run.timesteps, self.run.env_kwargs)

    @property
    def seed(self) -> int:
        return self.run.seed

    @property
    def key(self) -> str:
        return f"{self.run.env_id}/{slug(self.agent)}/seed{self.seed}"

    def __str__(self) -> str:
        return self.key

    def fingerprint(self) -> dict[str, Any]:
        """The protocol's fingerprint of the run plus the final evaluation's settings."""
        subset = {} if self.test_images is None else {"test_subset": SUBSET_RULE}
        return {
            **fingerprint(self.agent, resolve_agent(self.agent), self.run),
            "test_images": self.test_images,
            **subset,  # a subset of the test images: how it was picked
        }


JOB_KEYS = ("key", "fingerprint", "record", "correct", "eval_s")
"""What a saved job (``<out>/jobs/<key>.json``, :func:`run_job`'s result) holds."""


def run_job(job: Job) -> dict[str, Any]:
    """Train (or reuse) the job's agent and evaluate it on the test split.

    Returns:
        ``{"key", "fingerprint", "record" (the protocol's run record), "correct" (images x steps
        booleans, as a list of 0/1 rows), "eval_s"}``.
    """
    import torch

    import gf_env  # noqa: F401  (registers the ids in a fresh worker)
    from agents.evaluation import evaluate_anytime

    import_gym_packages(job.gym_packages)  # a spawned worker has not imported them
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic under every launcher
    try:
        run = replace(job.run, evaluations=[])  # the job's own Run stays as planned
        policy, record = train_or_reuse(job.agent, run, **pick(Reuse, job.finished))
        started = time.perf_counter()
        result = evaluate_anytime(
            policy,
            run.env_id,
            max_images=job.test_images,
            num_envs=run.num_envs,
            device=run.device,
            **run_env_kwargs(resolve_agent(job.agent), run),
        )
    finally:
        torch.set_num_threads(threads)
    return {
        "key": job.key,
        "fingerprint": job.fingerprint(),
        "record": record,
        "correct": result.correct.astype(np.uint8).tolist(),
        "eval_s": time.perf_counter() - started,
    }


def plan(config: LeaderboardConfig) -> tuple[Suite, list[Job]]:
    """The suite after the config's overrides and its jobs (tasks x agents x seeds)."""
    suite = get_suite(config.suite)
    tasks = suite.tasks
    if config.tasks is not None:
        known = {t.env_id: t for t in tasks}
        unknown = [t for t in config.tasks if t not in known]
        if unknown:
            raise ValueError(f"tasks {unknown} are not in suite {config.suite!r}: {sorted(known)}")
        tasks = tuple(known[t] for t in config.tasks)
    if config.timesteps is not None:
        tasks = tuple(replace(t, timesteps=config.timesteps) for t in tasks)
    if config.env_kwargs:
        tasks = tuple(replace(t, env_kwargs={**t.env_kwargs, **config.env_kwargs}) for t in tasks)
    agents = list(config.agents if config.agents is not None else suite.agents)
    agents += [a for a in ANCHORS if a not in agents]
    for agent in agents:
        resolve_agent(agent)  # an unknown name fails before any run starts
    seeds = tuple(config.seeds if config.seeds is not None else suite.seeds)
    if not seeds or not tasks:
        raise ValueError("a leaderboard needs at least one task and one seed")
    check_seeds(seeds)
    suite = replace(suite, tasks=tasks, agents=tuple(agents), seeds=seeds)
    jobs = [
        make_job(
            agent,
            task,
            seed,
            config.out,
            training=config,
            test_images=config.test_images,
            reuse=config,
            gym_packages=config.gym_packages,
        )
        for task in tasks
        for agent in agents
        for seed in seeds
    ]
    return suite, jobs


def make_job(
    agent: str,
    task: Task,
    seed: int,
    out: str | Path,
    training: Training,
    test_images: int | None = None,
    reuse: Reuse | None = None,
    gym_packages: Iterable[str] = (),
) -> Job:
    """The job of (``agent``, ``task``, ``seed``) in the sweep folder ``out``: its run trains with
    the ``training`` settings (any object extending :class:`~agents.settings.Training`, e.g. a
    :class:`LeaderboardConfig`) in ``<out>/runs/<env id>/<agent>/seed<seed>``."""
    run = Run(
        task.env_id,
        env_kwargs=dict(task.env_kwargs),
        seed=seed,
        timesteps=task.timesteps,
        run_dir=Path(out) / "runs" / task.env_id / slug(agent) / f"seed{seed}",
        **pick(Training, training),
    )
    reuse = Reuse(**pick(Reuse, reuse)) if reuse is not None else Reuse()
    return Job(agent, run, test_images, reuse, tuple(gym_packages))


def run_leaderboard(config: LeaderboardConfig) -> dict[str, Any]:
    """Run (or resume) the sweep, then write the report; returns ``leaderboard.json``'s content."""
    suite, jobs = plan(config)
    out = Path(config.out)
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for job in jobs:
        saved = _load_job(out, job) if config.reuse else None
        if saved is not None:
            results[job.key] = saved
        else:
            todo.append(job)
    print(
        f"leaderboard: {len(jobs)} runs, {len(jobs) - len(todo)} finished before, {len(todo)} to do"
    )

    def resources(job: Job) -> dict[str, float]:
        request = describe(job.agent)["resources"]
        if describe(job.agent)["learned"] and config.num_gpus:
            request = {**request, "num_gpus": config.num_gpus}
        return request

    for job, result in launch(
        run_job,
        todo,
        launcher=config.launcher,
        workers=config.workers,
        ray_address=config.ray_address,
        resources=resources,
    ):
        _save_job(out, job, result)
        results[job.key] = json.loads(json.dumps(result))
        print(f"finished {job.key} ({len(results)}/{len(jobs)})")
    report = leaderboard_report(suite, jobs, results, config)
    out.mkdir(parents=True, exist_ok=True)
    write_json(report, out / "leaderboard.json")
    (out / "leaderboard.md").write_text(leaderboard_markdown(report))
    plot_aggregate(report, out / "aggregate.png")
    plot_curves(report, out / "curves.png")
    print(leaderboard_markdown(report))
    return report


def _save_job(out: Path, job: Job, result: dict[str, Any]) -> None:
    write_json(result, out / "jobs" / f"{job.key}.json", compact=True)


def _load_job(out: Path, job: Job) -> dict[str, Any] | None:
    """The saved result of ``job`` if its fingerprint matches the job's settings (``None``, with a
    warning naming the file, if it is damaged)."""
    path = out / "jobs" / f"{job.key}.json"
    if not path.is_file():
        return None
    saved = read_record(path, required=JOB_KEYS)
    if saved is None:
        return None
    difference = fingerprint_difference(saved["fingerprint"], job.fingerprint())
    if not difference:
        return saved
    if job.on_mismatch == "refuse":
        raise ValueError(
            f"{path} was made with other settings ({'; '.join(difference)}); pass the same "
            "settings, another --out, or --on-mismatch redo"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    """``glance-focus leaderboard`` (``python -m agents.leaderboard``)."""
    run_leaderboard(tyro.cli(LeaderboardConfig, prog="glance-focus leaderboard", args=argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
