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

Then the statistics (:mod:`agents.statistics`): per task and step, the mean over seeds with
seed-and-image bootstrap intervals; normalised scores (random 0, oracle 1) aggregated over tasks
with rliable (IQM, mean, optimality gap), probability of improvement over PPO; learning curves.
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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import tyro

from agents import statistics
from agents.baselines import BASELINES
from agents.launchers import LAUNCHERS, launch
from agents.plugins import PluginOptions, import_gym_packages
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
from agents.reporting import check_seeds, require_modules, write_json

BUILT_IN = ("ppo", "a2c", "sac", "td3", "recurrent_ppo", "dqn", "tqc")
HEURISTICS = ("random", "center", "raster", "saliency", "oracle")
ANCHORS = ("random", "oracle")
"""Normalisation: the random policy scores 0 and the oracle 1 on every task."""
REFERENCE = "ppo"
"""Probability of improvement is reported over this algorithm."""
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
    agents: tuple[str, ...] = (*BUILT_IN, *HEURISTICS)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    description: str = ""


def _privileged(agent: str) -> bool:
    """A reference that reads what no policy may (the oracle the label, the locator the object
    boxes): shown, never ranked."""
    return agent in BASELINES and BASELINES[agent].upper_bound


def mnist_suite(budgets: dict[str, int] | None = None) -> Suite:
    """Every offline MNIST id registered by :mod:`gf_env` (new ids join automatically), with
    ``budgets`` per id (default :data:`MNIST_BUDGETS`, else :data:`DEFAULT_BUDGET`)."""
    import gf_env

    budgets = MNIST_BUDGETS if budgets is None else budgets
    ids = [env_id for env_id in gf_env.list_envs(offline_only=True) if "MNIST" in env_id]
    return Suite(
        tasks=tuple(Task(env_id, budgets.get(env_id, DEFAULT_BUDGET)) for env_id in ids),
        description="every offline MNIST task, all built-in algorithms and heuristics",
    )


SUITES: dict[str, Any] = {"mnist": mnist_suite}
"""Suite name -> a :class:`Suite` or a function returning one (called when the suite is used).
Add yours with ``SUITES["name"] = Suite(...)``, or pass a JSON file to ``--suite``."""


def get_suite(name: str) -> Suite:
    """The suite registered as ``name``, or read from a JSON file with the fields of
    :class:`Suite` (``tasks``: a list of ``{"env_id", "timesteps", "env_kwargs"}``)."""
    if name in SUITES:
        suite = SUITES[name]
        return suite() if callable(suite) else suite
    path = Path(name)
    if path.suffix == ".json" and path.is_file():
        data = json.loads(path.read_text())
        tasks = tuple(Task(**task) for task in data.pop("tasks"))
        return Suite(
            tasks=tasks, **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        )
    raise ValueError(f"unknown suite {name!r}; choose one of {sorted(SUITES)} or a .json file")


@dataclass
class LeaderboardConfig(PluginOptions):
    """Every agent of a suite on every task and seed; leaderboard.json/md and plots. Every field
    is a flag of ``glance-focus leaderboard``."""

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
    num_envs: int = 64
    eval_freq: int = 25_000
    """learning curve: test accuracy every N timesteps (0: only at the end)"""
    eval_images: int = 500
    """test images per learning-curve point"""
    test_images: int | None = None
    """final evaluation on the first N test images (default: all)"""
    device: str = "auto"
    launcher: str = "process"
    """process (plain processes on this machine) or ray"""
    workers: int = 1
    """runs side by side (process), or CPUs of a Ray started here"""
    ray_address: str | None = None
    """join this Ray cluster (e.g. auto or ray://head:10001) instead of starting one"""
    num_gpus: float = 0.0
    """GPUs each learned run requests from Ray"""
    reuse: bool = True
    """keep finished runs under --out whose settings match (a stopped sweep resumes)"""
    on_mismatch: str = "redo"
    """a finished run made with other settings: redo it, or refuse (stop and name the difference)"""
    resamples: int = 2000
    """bootstrap replicates of every interval"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.launcher not in LAUNCHERS:
            raise ValueError(f"launcher must be one of {LAUNCHERS}, got {self.launcher!r}")
        if self.on_mismatch not in ("redo", "refuse"):
            raise ValueError(f"on_mismatch must be redo or refuse, got {self.on_mismatch!r}")
        for name in ("num_envs", "workers", "eval_images", "resamples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.timesteps is not None and self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")
        require_modules(*REPORT_MODULES)


@dataclass(frozen=True)
class Job:
    """One (agent, task, seed) run: the protocol's :class:`Run` plus the final evaluation."""

    agent: str
    task: Task
    seed: int
    run_dir: str
    num_envs: int
    eval_freq: int
    eval_images: int
    test_images: int | None
    device: str
    reuse: bool
    on_mismatch: str
    gym_packages: tuple[str, ...] = ()
    """modules a worker imports before the run (``--gym-packages``)"""

    @property
    def run(self) -> Run:
        return Run(
            env_id=self.task.env_id,
            env_kwargs=dict(self.task.env_kwargs),
            seed=self.seed,
            timesteps=self.task.timesteps,
            run_dir=Path(self.run_dir),
            device=self.device,
            num_envs=self.num_envs,
            eval_freq=self.eval_freq,
            eval_images=self.eval_images,
        )

    @property
    def key(self) -> str:
        return f"{self.task.env_id}/{slug(self.agent)}/seed{self.seed}"

    def __str__(self) -> str:
        return self.key

    def fingerprint(self) -> dict[str, Any]:
        """The protocol's fingerprint of the run plus the final evaluation's settings."""
        run = self.run
        return {
            **fingerprint(self.agent, resolve_agent(self.agent), run),
            "test_images": self.test_images,
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
    from agents.evaluation import evaluate_policy

    import_gym_packages(job.gym_packages)  # a spawned worker has not imported them
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic under every launcher
    try:
        run = job.run
        policy, record = train_or_reuse(
            job.agent, run, reuse=job.reuse, on_mismatch=job.on_mismatch
        )
        started = time.perf_counter()
        result = evaluate_policy(
            policy,
            run.env_id,
            max_images=job.test_images,
            num_envs=job.num_envs,
            device=job.device,
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
    out = Path(config.out)
    jobs = [
        Job(
            agent=agent,
            task=task,
            seed=seed,
            run_dir=str(out / "runs" / task.env_id / slug(agent) / f"seed{seed}"),
            num_envs=config.num_envs,
            eval_freq=config.eval_freq,
            eval_images=config.eval_images,
            test_images=config.test_images,
            device=config.device,
            reuse=config.reuse,
            on_mismatch=config.on_mismatch,
            gym_packages=tuple(config.gym_packages),
        )
        for task in tasks
        for agent in agents
        for seed in seeds
    ]
    return suite, jobs


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
    report = summarise(suite, jobs, results, config)
    out.mkdir(parents=True, exist_ok=True)
    write_json(report, out / "leaderboard.json")
    (out / "leaderboard.md").write_text(markdown(report))
    plot_aggregate(report, out / "aggregate.png")
    plot_curves(report, out / "curves.png")
    print(markdown(report))
    return report


def summarise(
    suite: Suite, jobs: list[Job], results: dict[str, dict[str, Any]], config: LeaderboardConfig
) -> dict[str, Any]:
    """The leaderboard's content from the finished jobs (pure: no files, no training)."""
    agents, seeds = list(suite.agents), list(suite.seeds)
    per_task: dict[str, dict[str, Any]] = {}
    normalized: dict[str, list[list[float]]] = {a: [] for a in agents}
    runs = []
    for task in suite.tasks:
        rows: dict[str, Any] = {}
        finals: dict[str, np.ndarray] = {}
        for agent in agents:
            done = [results[j.key] for j in jobs if j.task == task and j.agent == agent]
            correct = np.stack([np.asarray(r["correct"], dtype=bool) for r in done])
            finals[agent] = correct[:, :, -1].mean(axis=1)
            histories = [r["record"]["evaluations"] for r in done]
            learned = all(histories)
            rows[agent] = {
                "kind": "learned" if learned else "heuristic",
                "anytime": statistics.seed_image_intervals(correct, resamples=config.resamples),
                "final_per_seed": finals[agent].tolist(),
                "curve": statistics.learning_curve(histories, resamples=config.resamples)
                if learned
                else None,
            }
            for seed, r in zip(seeds, done, strict=True):
                runs.append(
                    {
                        "task": task.env_id,
                        "agent": agent,
                        "seed": seed,
                        "timing": {**r["record"]["timing"], "test_eval_s": r["eval_s"]},
                    }
                )
        random_score, oracle_score = (float(finals[a].mean()) for a in ANCHORS)
        for agent in agents:
            scores = statistics.normalize(finals[agent], random_score, oracle_score)
            rows[agent]["normalized_per_seed"] = scores.tolist()
            normalized[agent].append(scores.tolist())
        per_task[task.env_id] = {"timesteps": task.timesteps, "agents": rows}
    ranked = [a for a in agents if not _privileged(a)]  # references that peek: not policies
    score_matrix = {a: np.array(normalized[a]).T for a in ranked}  # (runs, tasks)
    report = {
        "suite": config.suite,
        "description": suite.description,
        "tasks": [asdict(t) for t in suite.tasks],
        "agents": agents,
        "seeds": seeds,
        "settings": {
            "eval_freq": config.eval_freq,
            "eval_images": config.eval_images,
            "test_images": config.test_images,
            "num_envs": config.num_envs,
            "resamples": config.resamples,
            "level": 0.95,
        },
        "per_task": per_task,
        "aggregate": statistics.aggregate(score_matrix, resamples=config.resamples),
        "probability_of_improvement": {
            "reference": REFERENCE,
            "over_reference": statistics.improvement_over(
                score_matrix, REFERENCE, resamples=config.resamples
            )
            if REFERENCE in score_matrix
            else {},
        },
        "runs": runs,
    }
    return json.loads(json.dumps(report))


def markdown(report: dict[str, Any]) -> str:
    """``leaderboard.md``: accuracy per task, aggregate metrics, and cost per run."""
    tasks = list(report["per_task"])
    lines = [
        f"# Leaderboard: suite `{report['suite']}`",
        "",
        f"Seeds {report['seeds']}; budgets "
        + ", ".join(f"{t}: {report['per_task'][t]['timesteps']:,} steps" for t in tasks)
        + f". Intervals: 95% bootstrap ({report['settings']['resamples']} replicates).",
        "",
        "## Test accuracy after the last step (%, mean over seeds [95% interval over seeds and"
        " images])",
        "",
        "| agent | " + " | ".join(_short(t) for t in tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for agent in report["agents"]:
        cells = []
        for task in tasks:
            a = report["per_task"][task]["agents"][agent]["anytime"]
            cells.append(
                f"{100 * a['mean'][-1]:.1f} [{100 * a['low'][-1]:.1f}, {100 * a['high'][-1]:.1f}]"
            )
        name = agent
        if _privileged(agent):
            name += " (upper bound)" if agent == "oracle" else " (privileged)"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    improvement = report["probability_of_improvement"]["over_reference"]
    reference = report["probability_of_improvement"]["reference"]
    lines += [
        "",
        "## Across tasks (normalised: random 0, oracle 1; rliable, 95% stratified bootstrap)",
        "",
        f"| agent | IQM | mean | optimality gap | P(better than {reference}) |",
        "|---|---|---|---|---|",
    ]
    for agent, metrics in report["aggregate"].items():
        cells = [_interval(metrics[m]) for m in statistics.METRICS]
        cells.append(_interval(improvement[agent]) if agent in improvement else "-")
        lines.append(f"| {agent} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Cost per run (mean over seeds and tasks)",
        "",
        "| agent | wall time (s) | env steps/s | learner's share of time |",
        "|---|---|---|---|",
    ]
    for agent in report["agents"]:
        timings = [r["timing"] for r in report["runs"] if r["agent"] == agent]
        wall = np.mean([t["wall_s"] + t["test_eval_s"] for t in timings])
        speed = [t["env_steps_per_s"] for t in timings if t["env_steps_per_s"] is not None]
        share = [t["learner_share"] for t in timings if t["learner_share"] is not None]
        lines.append(
            f"| {agent} | {wall:.1f} | "
            + (f"{np.mean(speed):.0f}" if speed else "-")
            + " | "
            + (f"{100 * np.mean(share):.0f}%" if share else "-")
            + " |"
        )
    lines += [
        "",
        "An interval of P(better) above 0.5 is a significant improvement; non-overlapping accuracy"
        " intervals are significant differences.",
        "",
    ]
    return "\n".join(lines)


def plot_aggregate(report: dict[str, Any], path: Path) -> None:
    """``aggregate.png``: rliable's interval plot of IQM, mean and optimality gap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import plot_utils

    aggregate = report["aggregate"]
    points = {
        a: np.array([m[k]["value"] for k in statistics.METRICS]) for a, m in aggregate.items()
    }
    intervals = {
        a: np.array(
            [[m[k]["low"] for k in statistics.METRICS], [m[k]["high"] for k in statistics.METRICS]]
        )
        for a, m in aggregate.items()
    }
    fig, _ = plot_utils.plot_interval_estimates(
        points,
        intervals,
        metric_names=list(statistics.METRICS),
        algorithms=list(aggregate),
        xlabel="normalised score (random 0, oracle 1)",
        xlabel_y_coordinate=-0.6 / (0.37 * len(aggregate)),  # below the ticks (rows 0.37 in)
    )
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_curves(report: dict[str, Any], path: Path) -> None:
    """``curves.png``: test accuracy after the last step vs timesteps, one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(report["per_task"])
    colors = {a: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(report["agents"])}
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for agent, row in report["per_task"][task]["agents"].items():
            color = colors[agent]
            if row["curve"] is not None:
                curve = row["curve"]
                ax.plot(curve["timesteps"], curve["mean"], "o-", ms=3, color=color, label=agent)
                ax.fill_between(
                    curve["timesteps"], curve["low"], curve["high"], alpha=0.2, color=color
                )
            else:  # heuristics: their accuracy, flat
                ax.axhline(row["anytime"]["mean"][-1], linestyle=":", color=color, label=agent)
        ax.set(title=_short(task), xlabel="timesteps", ylabel="test accuracy (last step)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _save_job(out: Path, job: Job, result: dict[str, Any]) -> None:
    write_json(result, out / "jobs" / f"{job.key}.json")


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


def _short(env_id: str) -> str:
    return env_id.removeprefix("GlanceFocus-").removesuffix("-v0")


def _interval(value: dict[str, float]) -> str:
    low, point, high = (round(value[k], 3) + 0.0 for k in ("low", "value", "high"))  # no -0.000
    return f"{point:.3f} [{low:.3f}, {high:.3f}]"


def main(argv: list[str] | None = None) -> int:
    """``glance-focus leaderboard`` (``python -m agents.leaderboard``)."""
    run_leaderboard(tyro.cli(LeaderboardConfig, prog="glance-focus leaderboard", args=argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
