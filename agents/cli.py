"""``glance-focus``: the toolkit's command line (``python -m agents`` does the same).

Subcommands: ``benchmark`` (train learned agents, compare them with every heuristic, write
results.json and plots), ``leaderboard`` (a suite of tasks x agents x seeds with suite-level
statistics, :mod:`agents.leaderboard`), ``train`` (one agent), ``evaluate`` (one policy on the
test split), ``finetune`` (stage 3: the classifier on a trained policy's locations),
``visualize`` (a grid of episodes and a heat map of where a policy looks).
"""

from __future__ import annotations

import argparse
import sys

from agents import finetune as finetune_module
from agents import train as train_module
from agents.benchmark import BenchmarkConfig, run_benchmark
from agents.evaluation import evaluate_policy
from agents.policies import load_policy, policy_names
from agents.visualize import VisualizeConfig, visualize
from classifiers.flags import add_dataclass_arguments


def _benchmark_parser(sub) -> None:
    parser = sub.add_parser(
        "benchmark", help="train and compare agents; write results.json and plots"
    )
    add_dataclass_arguments(parser, BenchmarkConfig)


def _evaluate_parser(sub) -> None:
    parser = sub.add_parser(
        "evaluate", help="accuracy after each step of one policy on the test split"
    )
    parser.add_argument("--env", default="GlanceFocus-ClutteredMNIST100-v0")
    parser.add_argument(
        "--agent",
        required=True,
        help=f"one of {', '.join(policy_names())} (learned algorithms and gfnet need --model)",
    )
    parser.add_argument("--model", help="saved model.zip of a learned agent, or a GFNet checkpoint")
    parser.add_argument(
        "--max-focus-steps",
        type=int,
        default=None,
        help="focus steps of the env and the policy (default: the env's)",
    )
    parser.add_argument("--test-images", type=int, default=None)
    parser.add_argument("--device", default=None)


def _visualize_parser(sub) -> None:
    parser = sub.add_parser(
        "visualize", help="examples.png (episodes, patches, predictions) and heatmap.png"
    )
    add_dataclass_arguments(parser, VisualizeConfig)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="glance-focus", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _benchmark_parser(sub)
    sub.add_parser("train", help="train one agent (see glance-focus train --help)", add_help=False)
    _evaluate_parser(sub)
    _visualize_parser(sub)
    sub.add_parser(
        "finetune",
        help="stage 3: fine-tune the classifier on a policy's locations (see --help)",
        add_help=False,
    )
    sub.add_parser(
        "leaderboard",
        help="every agent of a suite on every task and seed; leaderboard.json/md and plots",
        add_help=False,
    )
    if argv[:1] == ["train"]:
        return train_module.main(argv[1:])
    if argv[:1] == ["finetune"]:
        return finetune_module.main(argv[1:])
    if argv[:1] == ["leaderboard"]:  # agents.leaderboard: suites of tasks x agents x seeds
        from agents import leaderboard

        return leaderboard.main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "benchmark":
        options = {k: v for k, v in vars(args).items() if k != "command"}
        run_benchmark(BenchmarkConfig(**options))
        return 0
    if args.command == "visualize":
        try:
            config = VisualizeConfig(**{k: v for k, v in vars(args).items() if k != "command"})
        except ValueError as error:
            parser.error(str(error))
        visualize(config)
        return 0
    try:
        policy, env_kwargs = load_policy(
            args.agent, args.model, args.env, max_focus_steps=args.max_focus_steps
        )
    except ValueError as error:
        parser.error(str(error))
    result = evaluate_policy(
        policy, args.env, max_images=args.test_images, device=args.device, **env_kwargs
    )
    for t, (accuracy, (low, high)) in enumerate(
        zip(result.anytime_accuracy, result.confidence_intervals(), strict=True)
    ):
        print(
            f"step {t}: accuracy {accuracy:.3f} [{low:.3f}, {high:.3f}] at {result.mflops[t]:.1f} MFLOPs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
