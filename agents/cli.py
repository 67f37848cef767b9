"""``glance-focus``: the toolkit's command line (``python -m agents`` does the same).

One subcommand per settings dataclass, its flags made by ``tyro`` from the fields (a field's
docstring is its ``--help``): ``benchmark`` (train learned agents, compare them with every
heuristic, write results.json and plots), ``leaderboard`` (a suite of tasks x agents x seeds with
suite-level statistics, :mod:`agents.leaderboard`), ``train`` (one agent), ``evaluate`` (one
policy on the test split), ``finetune`` (stage 3: the classifier on a trained policy's
locations), ``visualize`` (a grid of episodes and a heat map of where a policy looks) and
``train-classifier`` (stage 1, the same as ``python -m classifiers.train``).

Every subcommand takes RL Zoo's ``--gym-packages MODULE ...`` (imported first: your classifiers,
env ids and agents) and ``--env-kwargs key:value ...`` (env arguments; see :mod:`agents.plugins`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated, Union

import tyro

from agents.benchmark import BenchmarkConfig, run_benchmark
from agents.evaluation import evaluate_anytime
from agents.finetune import FinetuneConfig, run_finetune
from agents.launchers import RunsFailed
from agents.leaderboard import LeaderboardConfig, run_leaderboard
from agents.policies import PolicyOptions, load_policy
from agents.settings import check_image_counts
from agents.train import AgentConfig, run_train
from agents.visualize import VisualizeConfig, visualize
from classifiers.train import TrainConfig, run_training


@dataclass
class EvaluateConfig(PolicyOptions):
    """Accuracy after each step of one policy on the test split, with 95% bootstrap intervals."""

    max_focus_steps: int | None = None
    """focus steps of the env and the policy (default: the env's)"""
    test_images: int | None = None
    """evaluate on N test images spread over the split (default: all)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_image_counts(test_images=self.test_images)


def run_evaluate(config: EvaluateConfig) -> int:
    """Evaluate ``config``'s policy and print the accuracy after each step."""
    try:
        policy, env_kwargs = load_policy(
            config.agent,
            config.model,
            config.env,
            max_focus_steps=config.max_focus_steps,
            device=config.device,
            env_kwargs=config.env_kwargs,
        )
    except ValueError as error:  # what only loading can check (the file, clashing env arguments)
        print(f"glance-focus evaluate: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    result = evaluate_anytime(
        policy, config.env, max_images=config.test_images, device=config.device, **env_kwargs
    )
    for t, (accuracy, (low, high)) in enumerate(
        zip(result.anytime_accuracy, result.confidence_intervals(), strict=True)
    ):
        print(
            f"step {t}: accuracy {accuracy:.3f} [{low:.3f}, {high:.3f}] at {result.mflops[t]:.1f} MFLOPs"
        )
    return 0


def _run_benchmark(config: BenchmarkConfig) -> int:
    run_benchmark(config)
    return 0


def _run_leaderboard(config: LeaderboardConfig) -> int:
    try:
        run_leaderboard(config)
    except (RunsFailed, ConnectionError) as error:  # failed runs are named; finished ones kept
        print(f"glance-focus leaderboard: error: {error}", file=sys.stderr)
        return 1
    return 0


def _run_visualize(config: VisualizeConfig) -> int:
    visualize(config)
    return 0


SUBCOMMANDS = {
    "benchmark": (BenchmarkConfig, _run_benchmark, "train and compare agents; results.json, plots"),
    "leaderboard": (
        LeaderboardConfig,
        _run_leaderboard,
        "every agent of a suite on every task and seed; leaderboard.json/md and plots",
    ),
    "train": (AgentConfig, run_train, "train one agent (model.zip, summary.json)"),
    "evaluate": (EvaluateConfig, run_evaluate, "accuracy after each step of one policy"),
    "finetune": (
        FinetuneConfig,
        run_finetune,
        "stage 3: fine-tune the classifier on a trained policy's locations",
    ),
    "visualize": (
        VisualizeConfig,
        _run_visualize,
        "examples.png (episodes, patches, predictions) and heatmap.png",
    ),
    "train-classifier": (
        TrainConfig,
        run_training,
        "stage 1: train a glance/focus classifier (= python -m classifiers.train)",
    ),
}
"""Subcommand -> (its settings dataclass, what runs them, one line of help)."""


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) into one subcommand's settings and run it."""
    choices = tuple(
        Annotated[settings, tyro.conf.subcommand(name, description=line, prefix_name=False)]
        for name, (settings, _, line) in SUBCOMMANDS.items()
    )
    try:
        config = tyro.cli(
            Union[choices],  # noqa: UP007  (a Union built at run time)
            prog="glance-focus",
            description=__doc__.split("\n\n")[0],
            args=sys.argv[1:] if argv is None else argv,
        )
    except (FileNotFoundError, ImportError) as error:  # a settings check (tyro reports ValueErrors)
        print(f"glance-focus: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    run = next(run for settings, run, _ in SUBCOMMANDS.values() if type(config) is settings)
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
