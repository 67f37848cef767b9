"""The benchmark: train learned agents, evaluate them against every heuristic, write the report.

For one environment id: each learned agent (a built-in algorithm or your own, see
:mod:`agents.protocol`) is trained for every seed, or a finished run with the same settings
fingerprint is reused, by the leaderboard's engine (:func:`agents.protocol.train_or_reuse`); for
built-in algorithms, unless ``finetune_epochs`` is 0, the classifier is then fine-tuned on its
locations (stage 3, :func:`agents.finetune.finetune`; reported as ``<algo>+stage3``, the same
policy on the fine-tuned classifier). Then every policy is evaluated on the whole test split (same
canvases for all, deterministic policies) and on calibration canvases from the train split (for
the early-exit thresholds). The report has, per agent, accuracy after each step with 95% bootstrap
intervals and the budget curve (accuracy vs mean MFLOPs with early exit), next to the
full-resolution reference model; it is written (:mod:`agents.reporting`) as ``results.json``,
``anytime.png`` and ``budget.png``, with ``examples-<agent>.png``
(:func:`agents.visualize.write_examples`) showing 16 test episodes of each agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.baselines import BASELINES
from agents.differentiable import POLICY_FILE as DIFFERENTIABLE_POLICY_FILE
from agents.differentiable import DifferentiableAgent
from agents.env_api import env_attr
from agents.evaluation import EvalResult, evaluate_anytime
from agents.finetune import FinetuneConfig, finetune
from agents.gfnet import POLICY_FILE as GFNET_POLICY_FILE
from agents.gfnet import GFNetAgent
from agents.plugins import PluginOptions, env_spec, merge_env_kwargs
from agents.policies import GFNET, load_policy
from agents.protocol import (
    Run,
    SB3Agent,
    is_agent_spec,
    resolve_agent,
    run_env_kwargs,
    slug,
    train_or_reuse,
)
from agents.reporting import (
    benchmark_summary,
    check_seeds,
    plot_benchmark,
    print_benchmark,
    require_modules,
    write_json,
)
from agents.settings import Reuse, Training, check_image_counts, pick
from agents.train import ALGORITHMS, DEFAULT_TIMESTEPS
from agents.visualize import write_examples
from classifiers import create_classifier, get_entry, list_classifiers
from classifiers.train import evaluate as evaluate_classifier
from classifiers.utils import did_you_mean

CALIBRATION_SEED = 10_000  # canvases of the calibration set: train split, a seed of their own
REPORT_MODULES = ("matplotlib.pyplot",)
"""What the report needs beyond training (imported before the first run)."""


@dataclass
class BenchmarkConfig(Training, Reuse, PluginOptions):
    """Train and compare agents; write results.json and plots. Every field is a flag of
    ``glance-focus benchmark``; ``env_kwargs`` reach every env, stage 3 and the full-resolution
    reference. The training and reuse settings are :class:`agents.settings.Training`'s and
    :class:`~agents.settings.Reuse`'s (``reuse`` also keeps finished stage-3 runs)."""

    env: str = "GlanceFocus-ClutteredMNIST100-v0"
    """the env id ("module:Id" imports module first)"""
    agents: list[str] = field(
        default_factory=lambda: ["ppo", *(name for name in BASELINES if name != "locator")]
    )
    """learned algorithms, heuristic baselines and your own agents ("pkg.module:make_agent",
    see agents.protocol) to compare"""
    timesteps: int = DEFAULT_TIMESTEPS
    """training timesteps per learned agent and seed"""
    seeds: list[int] = field(default_factory=lambda: [0])
    out: str = "results/benchmark"
    test_images: int | None = None
    """evaluate on N test images spread over the split (default: all)"""
    calibration_images: int = 1000
    finetune_epochs: int = 3
    """stage 3 for each learned agent: epochs of fine-tuning the classifier on its locations,
    reported as agent "<algo>+stage3" (0: skip)"""
    finetune_images: int | None = None
    """train (and test) digits stage 3 uses (default: all)"""
    fullres_classifier: str | None = None
    """registry name of the full-resolution reference (default: fullres-<the env's classifier
    without gf->, left out when it has no weights)"""
    fullres_checkpoint: str | None = None
    """weights of the full-resolution reference (default: its shipped ones)"""
    progress: bool = True
    stop_costs: list[float] = field(default_factory=list)
    """learn when to stop: for each lambda, also train PPO with the env's stop_action and
    flops_cost=lambda (reward per MFLOP of a focus step) and place it (accuracy at its stop, mean
    MFLOPs) on budget.png next to the threshold curves; results.json "stop_policies" """

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [a for a in self.agents if a not in ALGORITHMS and a not in BASELINES]
        unknown = [a for a in unknown if not is_agent_spec(a)]
        if unknown:
            raise ValueError(
                f"unknown agents {unknown}; choose from algorithms {sorted(ALGORITHMS)} "
                f"and baselines {sorted(BASELINES)}, or an import path 'pkg.module:make_agent'"
            )
        if not self.seeds:
            raise ValueError("seeds must name at least one seed")
        check_seeds(self.seeds)
        check_image_counts(
            test_images=self.test_images,
            calibration_images=self.calibration_images,
            finetune_images=self.finetune_images,
        )
        require_modules(*REPORT_MODULES)  # fail now, not after training
        if self.fullres_classifier or self.fullres_checkpoint:  # fail now, not after training
            check_fullres(
                self.fullres_classifier or default_fullres(self.env, self.env_kwargs),
                self.fullres_checkpoint,
            )
        bad = [c for c in self.stop_costs if not (np.isfinite(c) and c >= 0)]
        if bad:
            raise ValueError(f"stop_costs must be finite numbers >= 0 (per MFLOP), got {bad}")


def _check_heuristics(config: BenchmarkConfig) -> None:
    """Let each heuristic take its first decision on the env before anything trains: one that
    cannot run there (the ``locator`` on an env whose images have no object boxes) stops the
    benchmark now, not after the learned agents trained."""
    for name in (name for name in config.agents if name in BASELINES):
        policy, env_kwargs = load_policy(
            name, None, config.env, config.seeds[0], env_kwargs=config.env_kwargs
        )
        env = gym.make_vec(config.env, num_envs=1, **env_kwargs)
        try:
            policy.bind(env)
            observation, _ = env.reset(seed=config.seeds[0])
            policy.predict(observation, deterministic=True)
        finally:
            env.close()


def run_benchmark(config: BenchmarkConfig) -> dict[str, Any]:
    """Train, evaluate and report; returns the ``results.json`` content."""
    out = Path(config.out)
    device = config.device
    results: dict[str, Any] = {
        "env": config.env,
        "env_kwargs": dict(config.env_kwargs),
        "agents": {},
    }
    _check_heuristics(config)
    for name in config.agents:
        runs, stage3_runs, stage3_histories = [], [], []
        seeds = config.seeds if name not in BASELINES else [config.seeds[0]]
        for seed in seeds:
            if name in BASELINES:
                policy, env_kwargs = load_policy(
                    name, None, config.env, seed, env_kwargs=config.env_kwargs
                )
            else:  # a built-in algorithm or an agent of the protocol ("my_pkg.algo:make_agent")
                run = _run(config, seed, out / "agents" / f"{slug(name)}-seed{seed}")
                policy, _ = train_or_reuse(name, run, **pick(Reuse, config))
                agent = resolve_agent(name)
                env_kwargs = run_env_kwargs(agent, run)
                staged = _staged_policy(agent, run)
                if staged is not None and config.finetune_epochs:
                    checkpoint, history = _stage3(name, *staged, run, config, out)
                    stage3_env = {**env_kwargs, "checkpoint": checkpoint}
                    stage3_runs.append(_evaluate(policy, config, stage3_env, device))
                    stage3_histories.append(history)
            runs.append(_evaluate(policy, config, env_kwargs, device))
            if seed == seeds[0]:  # examples-<agent>.png: episodes of the first seed's policy
                path = out / f"examples-{name}.png"
                common = {"device": device, "num_envs": config.num_envs, **env_kwargs}
                write_examples(policy, config.env, path, images=config.test_images, **common)
        white_box = bool(getattr(resolve_agent(name), "white_box", False))
        results["agents"][name] = benchmark_summary(
            name, runs, seeds, config.timesteps, white_box=white_box
        )
        if stage3_runs:
            stage3 = benchmark_summary(
                name, stage3_runs, seeds, config.timesteps, stage=3, white_box=white_box
            )
            results["agents"][f"{name}+stage3"] = {**stage3, "finetune_history": stage3_histories}
        for shown in (name, f"{name}+stage3"):
            if shown in results["agents"]:
                accuracy = results["agents"][shown]["anytime_accuracy"]
                print(f"{shown}: {' '.join(f'{a:.3f}' for a in accuracy)}")
    if config.stop_costs:
        results["stop_policies"] = learned_stop_results(config, out, results["agents"])
    full = full_resolution_reference(
        config.env,
        config.test_images,
        device,
        env_kwargs=config.env_kwargs,
        classifier=config.fullres_classifier,
        checkpoint=config.fullres_checkpoint,
    )
    results["full_resolution"] = full
    if full is None:
        print(f"no full-resolution reference for {config.env}: its row and column are omitted")
    for agent in results["agents"].values():
        agent["mflops_to_match_full_resolution"] = (
            None
            if full is None
            else min(
                (p["mflops"] for p in agent["budget_curve"] if p["accuracy"] >= full["accuracy"]),
                default=None,
            )
        )
    out.mkdir(parents=True, exist_ok=True)
    write_json(results, out / "results.json")
    plot_benchmark(results, out)
    print_benchmark(results)
    return results


def _evaluate(
    policy, config: BenchmarkConfig, env_kwargs: dict, device
) -> tuple[EvalResult, EvalResult]:
    common = {"num_envs": config.num_envs, "device": device, **env_kwargs}
    test = evaluate_anytime(policy, config.env, max_images=config.test_images, **common)
    calibration = evaluate_anytime(
        policy,
        config.env,
        split="train",
        max_images=config.calibration_images,
        seed=CALIBRATION_SEED,
        **common,
    )
    return test, calibration


def _staged_policy(agent: Any, run: Run) -> tuple[str, Path] | None:
    """How stage 3 loads ``agent``'s trained policy of ``run``: the name
    :func:`agents.policies.load_policy` knows it by and its file (a built-in algorithm's
    ``model.zip``; the GFNet policy file of ``gfnet``, ``gfnet-ppo`` and ``differentiable``), or
    ``None`` for an agent whose policy stage 3 cannot load (a user's agent)."""
    if isinstance(agent, SB3Agent):
        return agent.algo, run.run_dir / "model.zip"
    if isinstance(agent, GFNetAgent):
        return GFNET, run.run_dir / GFNET_POLICY_FILE
    if isinstance(agent, DifferentiableAgent):
        return GFNET, run.run_dir / DIFFERENTIABLE_POLICY_FILE
    return None


def _stage3(
    name: str, policy: str, policy_file: Path, agent_run: Run, config: BenchmarkConfig, out: Path
) -> tuple[str, list[dict[str, Any]]]:
    """Fine-tune the env's classifier on the locations of the benchmark's agent ``name``, whose
    policy of ``agent_run`` loads as ``policy`` from ``policy_file``; returns the exported weights
    and the fine-tuning history (epoch 0: the stage-1 weights). Its resume is checked against the
    policy's hash (:func:`agents.finetune.finetune`), so a retrained agent restarts it."""
    run = out / "stage3" / f"{slug(name)}-seed{agent_run.seed}"
    finetune_config = FinetuneConfig(
        env=config.env,
        env_kwargs=config.env_kwargs,
        agent=policy,
        model=str(policy_file),
        epochs=config.finetune_epochs,
        max_images=config.finetune_images,
        seed=agent_run.seed,
        device=config.device,
        out=str(run),
        progress=config.progress,
        resume=config.reuse and (run / "last.pt").is_file(),
    )
    history = finetune(finetune_config, restart_stale=True)
    return finetune_config.export, history


def _run(config: BenchmarkConfig, seed: int, run_dir: Path, **extra: Any) -> Run:
    """The protocol's :class:`~agents.protocol.Run` of one learned agent of the benchmark (its
    budget, envs, device, env arguments and run folder; ``extra`` replaces e.g. the env arguments
    or adds hyperparameters)."""
    settings = {
        "env_kwargs": dict(config.env_kwargs),
        "seed": seed,
        "timesteps": config.timesteps,
        "run_dir": run_dir,
        "progress": config.progress,
        **pick(Training, config),
        "eval_images": min(config.eval_images, config.test_images or config.eval_images),
    }
    return Run(config.env, **{**settings, **extra})


def full_resolution_reference(
    env_id: str,
    test_images: int | None,
    device,
    *,
    env_kwargs: dict[str, Any] | None = None,
    classifier: str | None = None,
    checkpoint: str | None = None,
) -> dict[str, Any] | None:
    """Accuracy and MFLOPs of the full-resolution model on the env's test data (``env_kwargs``
    included, e.g. ``mnist_root=``): one canvas per test digit, as for the agents (the placements
    are drawn from the classifier evaluation's seed).

    Args:
        env_id: the benchmark's env id.
        test_images: evaluate on N test images spread over the split (``None``: all).
        device: where the model runs.
        env_kwargs: the env arguments the agents ran with.
        classifier: registry name of the reference; default ``fullres-<name>`` for the env's
            classifier ``gf-<name>``.
        checkpoint: its weights; default the shipped ones.

    Returns:
        ``{"classifier", "checkpoint", "accuracy", "mflops"}``, or ``None`` when neither
        ``classifier`` nor ``checkpoint`` is given and the default reference has no shipped
        weights (or is not registered, or the env's classifier is an object).

    Raises:
        ValueError: the reference asked for (``classifier`` or ``checkpoint`` given) cannot be
            built (:func:`check_fullres`).
    """
    if classifier is None:
        classifier = default_fullres(env_id, env_kwargs)
        if checkpoint is None and classifier not in list_classifiers(pretrained=True):
            return None
    check_fullres(classifier, checkpoint)
    env = gym.make(env_id, **{**(env_kwargs or {}), "split": "test", "device": device})
    source = env_attr(env, "image_source")
    env.close()
    model = create_classifier(
        classifier, pretrained=checkpoint is None, checkpoint=checkpoint, device=device
    )
    source = source if test_images is None else source.spread(test_images)  # the agents' images
    accuracy = evaluate_classifier(model, source, focus_steps=0)[0]
    return {
        "classifier": classifier,
        "checkpoint": checkpoint,
        "accuracy": accuracy,
        "mflops": model.step_flops().glance / 1e6,
    }


def default_fullres(env_id: str, env_kwargs: dict[str, Any] | None = None) -> str | None:
    """``fullres-<name>`` for an env whose classifier is ``gf-<name>`` (``None`` for a classifier
    object)."""
    name = {**env_spec(env_id).kwargs, **(env_kwargs or {})}.get("classifier")
    return "fullres-" + name.removeprefix("gf-") if isinstance(name, str) else None


def check_fullres(classifier: str | None, checkpoint: str | None) -> None:
    """Check a full-resolution reference the user asked for before anything runs.

    Raises:
        ValueError: ``classifier`` is not registered, ``checkpoint`` is not a file, or there is
            no checkpoint and the classifier has no shipped weights.
    """
    registered = isinstance(classifier, str)
    if registered:
        try:
            get_entry(classifier)
        except KeyError:
            registered = False
    if not registered:
        raise ValueError(
            f"the full-resolution reference {classifier!r} is not a registered classifier."
            f"{did_you_mean(classifier, list_classifiers())} Name one with --fullres-classifier "
            "(registered in a module passed with --gym-packages), or leave --fullres-* out"
        )
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise ValueError(f"--fullres-checkpoint {checkpoint!r} is not a file")
    if checkpoint is None and classifier not in list_classifiers(pretrained=True):
        raise ValueError(
            f"--fullres-classifier {classifier!r} has no shipped weights; pass its weights with "
            "--fullres-checkpoint FILE"
        )


# -- learned stopping policies (--stop-costs) ---------------------------------------------------

STOP_HYPERPARAMS: dict[str, Any] = {"gamma": 1.0}
"""PPO for learned stopping: undiscounted, so the return is exactly the trade-off the env's reward
states (p_stop(y) - p_0(y) - lambda * focus MFLOPs); the other settings are the PPO defaults."""


def learned_stop_results(
    config: BenchmarkConfig, out: Path, agents: dict[str, Any]
) -> list[dict[str, Any]]:
    """Train PPO with ``stop_action=True`` and ``flops_cost=lambda`` for each lambda of
    ``config.stop_costs`` and seed, evaluate each on the test split (the accuracy at its stop,
    the mean MFLOPs it spent) and compare it with every threshold curve in ``agents`` at the
    same mean MFLOPs.

    Args:
        config: the benchmark's settings (env, timesteps, seeds, num_envs, device, reuse).
        out: the benchmark's folder; runs go to ``agents/ppo-stop<lambda>-seed<seed>``.
        agents: the benchmark's per-agent results (their ``budget_curve``).

    Returns:
        One record per lambda: ``agent``, ``flops_cost``, mean ``accuracy``, ``mflops`` and
        ``exit_fractions`` over seeds, ``per_seed``, and ``threshold_accuracy``: each agent's
        early-exit accuracy at the same mean MFLOPs (its curve interpolated linearly; ``None``
        outside the curve's range), so ``accuracy - threshold_accuracy[name] > 0`` is a point
        where the learned stop beats that agent's thresholds.
    """
    records = []
    for cost in config.stop_costs:
        per_seed = []
        stop = {"stop_action": True, "flops_cost": cost}
        env_kwargs = merge_env_kwargs(config.env_kwargs, stop, by="--stop-costs")
        for seed in config.seeds:
            run = _run(
                config,
                seed,
                out / "agents" / f"ppo-stop{cost:g}-seed{seed}",
                env_kwargs=env_kwargs,
                hyperparams=dict(STOP_HYPERPARAMS),
            )
            policy, _ = train_or_reuse("ppo", run, **pick(Reuse, config))
            test = evaluate_anytime(
                policy,
                config.env,
                max_images=config.test_images,
                num_envs=config.num_envs,
                device=config.device,
                **run_env_kwargs(resolve_agent("ppo"), run),
            )
            per_seed.append({"seed": seed, **test.stop_summary()})
        record = {
            "agent": f"ppo-stop (lambda={cost:g})",
            "flops_cost": cost,
            "timesteps": config.timesteps,
            **{
                key: np.mean([run[key] for run in per_seed], axis=0).tolist()
                for key in ("accuracy", "mflops", "exit_fractions")
            },
            "per_seed": per_seed,
        }
        record["threshold_accuracy"] = {
            name: curve_accuracy_at(threshold_points(agent), record["mflops"])
            for name, agent in agents.items()
        }
        records.append(record)
        print(
            f"{record['agent']}: accuracy {record['accuracy']:.3f} at {record['mflops']:.1f} "
            f"MFLOPs; thresholds at the same MFLOPs: "
            + ", ".join(
                f"{name} {acc:.3f}"
                for name, acc in record["threshold_accuracy"].items()
                if acc is not None
            )
        )
    return records


def threshold_points(agent: dict[str, Any]) -> list[dict[str, float]]:
    """An agent's early-exit curve with its two ends, which thresholds also reach: everyone
    exits after the glance, everyone takes every step."""
    mflops, accuracy = agent["mflops_per_step"], agent["anytime_accuracy"]
    ends = [
        {"mflops": mflops[0], "accuracy": accuracy[0]},
        {"mflops": mflops[-1], "accuracy": accuracy[-1]},
    ]
    return [*agent["budget_curve"], *ends]


def curve_accuracy_at(curve: list[dict[str, Any]], mflops: float) -> float | None:
    """A budget curve's accuracy at ``mflops``, interpolated linearly between its points
    (sorted by MFLOPs); ``None`` outside the MFLOPs it spans."""
    xs = np.array([p["mflops"] for p in curve], dtype=np.float64)
    ys = np.array([p["accuracy"] for p in curve], dtype=np.float64)
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    if not len(xs) or not xs[0] <= mflops <= xs[-1]:
        return None
    return float(np.interp(mflops, xs, ys))
