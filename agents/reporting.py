"""The one report module of the agents' commands (and the benchmark scripts' tables and JSON).

- Output: :func:`write_json`, :func:`print_table`; the checks a report needs before its runs start
  (:func:`require_modules`, :func:`check_seeds`).
- ``glance-focus leaderboard``: :func:`leaderboard_report` (``leaderboard.json`` from the finished
  jobs), :func:`leaderboard_markdown` (``leaderboard.md``), :func:`plot_aggregate` and
  :func:`plot_curves`. Scores are normalised random 0, oracle 1 (:data:`ANCHORS`); when the
  privileged ``locator`` ran too, also random 0, locator 1 (:data:`LOCATOR_ANCHORS`).
- ``glance-focus benchmark``: :func:`benchmark_summary` (one agent's entry of ``results.json``),
  :func:`print_benchmark` and :func:`plot_benchmark` (``anytime.png``, ``budget.png``).

Both commands share the interval formats, the labels of the privileged references
(:func:`reference_label`) and the plotting set-up (:func:`pyplot`).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents import statistics
from agents.baselines import BASELINES
from classifiers.checkpoint import atomic_write

ANCHORS = ("random", "oracle")
"""Normalisation: the random policy scores 0 and the oracle 1 on every task."""
LOCATOR_ANCHORS = ("random", "locator")
"""The second normalisation, reported when the ``locator`` ran: random 0, locator 1."""
FIRST = "first"
"""The image subset of learning-curve points recorded without one (the first releases took the
first ``eval_images`` test images; on the embedded MNIST digits, which are stored in class order,
that is digits 0-4 for 500 of 1,000)."""
SUBSETS = {
    FIRST: "the first of the split (on the embedded MNIST digits, stored in class order, the"
    " lower digits only)",
    "spread": "spread evenly over the split",
    "all": "all of the split",
}
"""How each image subset of the learning curves is described in ``leaderboard.md``."""
REFERENCE = "ppo"
"""Probability of improvement is reported over this algorithm."""
COMPARED = ("gfnet",)
"""Agents whose probability of improvement over every other policy is reported too, when they ran
(GFNet's own algorithm against the RL algorithms and heuristics)."""


def write_json(data: dict[str, Any], path: str | os.PathLike, compact: bool = False) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (temporary file, sync, rename); ``compact``
    leaves out the indentation (the leaderboard's job files: per-image results, a quarter of
    the size)."""
    text = json.dumps(data, **({"separators": (",", ":")} if compact else {"indent": 2})).encode()
    return atomic_write(path, lambda handle: handle.write(text))


def require_modules(*modules: str) -> None:
    """Import ``modules`` now (what a report needs after hours of runs), so a missing or broken
    package stops a sweep before its first run.

    Raises:
        ImportError: a module fails to import; the message names its package and the fix.
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:  # a broken install fails with other errors too
            package = module.partition(".")[0]
            raise ImportError(
                f"the report needs {package!r}, which fails to import ({type(error).__name__}: "
                f"{error}); install it (pip install 'glance-focus[agents]') or repair it, then "
                "start again: nothing has run yet"
            ) from error


def check_seeds(seeds: Sequence[int]) -> None:
    """Refuse repeated seeds: ``--seeds 0 0`` would count one run as two independent seeds and
    narrow every interval over seeds.

    Raises:
        ValueError: names the repeated seeds.
    """
    repeated = sorted({seed for seed in seeds if list(seeds).count(seed) > 1})
    if repeated:
        raise ValueError(
            f"seeds {list(seeds)} repeat {repeated}; name each seed once (one run per seed)"
        )


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows under headers in aligned columns (floats with 3 decimals)."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def privileged(agent: str) -> bool:
    """A reference that reads what no policy may (the oracle the label, the locator the object
    boxes): shown, never ranked."""
    return agent in BASELINES and BASELINES[agent].upper_bound


WHITE_BOX = "white-box"
"""The ``kind`` of an agent that learns from the classifier's gradients (not a black-box RL
agent: it reads the classifier's internals, which the env exposes as white-box attributes)."""


def reference_label(agent: str, kind: str | None = None) -> str:
    """``agent`` as a report names it: the oracle ``(upper bound)``, another privileged reference
    ``(privileged)``, an agent of kind :data:`WHITE_BOX` ``(white-box: classifier gradients)``."""
    if kind == WHITE_BOX:
        return agent + " (white-box: classifier gradients)"
    if not privileged(agent):
        return agent
    return agent + (" (upper bound)" if agent == "oracle" else " (privileged)")


def pyplot() -> Any:
    """``matplotlib.pyplot`` drawing to files (the Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# -- glance-focus leaderboard ---------------------------------------------------------------------


def leaderboard_report(
    suite: Any, jobs: Sequence[Any], results: Mapping[str, dict[str, Any]], config: Any
) -> dict[str, Any]:
    """``leaderboard.json``'s content from the finished jobs (pure: no files, no training).

    Args:
        suite: the :class:`~agents.leaderboard.Suite` as planned (tasks, agents, seeds).
        jobs: its :class:`~agents.leaderboard.Job` list.
        results: per job key, the saved job (:func:`agents.leaderboard.run_job`).
        config: the :class:`~agents.leaderboard.LeaderboardConfig` (its evaluation settings).

    Returns:
        ``suite``, ``tasks``, ``agents``, ``seeds``, ``settings``, ``per_task`` (per agent: the
        accuracy after each step with intervals, final accuracy and normalised score per seed,
        learning curve), ``aggregate`` (rliable's metrics of the scores normalised by
        :data:`ANCHORS`), ``probability_of_improvement`` over :data:`REFERENCE` (and, under
        ``"of"``, of each :data:`COMPARED` agent that ran over every other policy), ``runs``
        (timings); when the ``locator`` ran, ``locator_normalized_per_seed`` per task and agent
        and ``aggregate_locator`` (:data:`LOCATOR_ANCHORS`).
    """
    agents, seeds = list(suite.agents), list(suite.seeds)
    per_task: dict[str, dict[str, Any]] = {}
    rows_per_task: list[dict[str, Any]] = []  # per task of the suite, per agent: its row
    finals_per_task: list[dict[str, np.ndarray]] = []
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
            subsets = {point.get("subset", FIRST) for h in histories for point in h}
            white_box = any(r["record"].get("white_box") for r in done)
            rows[agent] = {
                "kind": WHITE_BOX if white_box else "learned" if learned else "heuristic",
                "anytime": statistics.seed_image_intervals(correct, resamples=config.resamples),
                "final_per_seed": finals[agent].tolist(),
                "curve": _curve(histories, subsets, config.resamples, (agent, task.env_id))
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
        per_task[task.env_id] = {"timesteps": task.timesteps, "agents": rows}
        rows_per_task.append(rows)
        finals_per_task.append(finals)
    ranked = [a for a in agents if not privileged(a)]  # references that peek: not policies
    by_task = list(zip(rows_per_task, finals_per_task, strict=True))
    score_matrix = _normalise(by_task, ANCHORS, "normalized_per_seed", ranked)
    locator = None
    if LOCATOR_ANCHORS[1] in agents:
        if all(f["locator"].mean() > f["random"].mean() for f in finals_per_task):
            field = "locator_normalized_per_seed"
            locator = _normalise(by_task, LOCATOR_ANCHORS, field, ranked)
        else:
            warnings.warn(
                "the locator does not score above the random policy on every task: no scores "
                "normalised by it (random 0, locator 1) are reported",
                stacklevel=2,
            )
    report = {
        "suite": config.suite,
        "description": suite.description,
        "tasks": [dataclasses.asdict(t) for t in suite.tasks],
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
    compared = {
        agent: statistics.improvement_of(score_matrix, agent, resamples=config.resamples)
        for agent in COMPARED
        if agent in score_matrix
    }
    if compared:
        report["probability_of_improvement"]["of"] = compared
    if locator is not None:
        report["aggregate_locator"] = statistics.aggregate(locator, resamples=config.resamples)
    return json.loads(json.dumps(report))


def _curve(
    histories: list[list[dict[str, Any]]], subsets: set[str], resamples: int, where: tuple
) -> dict[str, Any] | None:
    """The learning curve over seeds, with the rule that picked its images (``subset``), or
    ``None`` (with a warning) when the runs' points were measured on differently picked images:
    they are not points of one curve."""
    if len(subsets) > 1:
        warnings.warn(
            f"the learning curves of {where[0]} on {where[1]} were measured on images picked in "
            f"different ways ({sorted(subsets)}): no curve is reported for it; rerun the older "
            "runs to have one",
            stacklevel=3,
        )
        return None
    return {**statistics.learning_curve(histories, resamples=resamples), "subset": subsets.pop()}


def _normalise(
    by_task: list[tuple[dict[str, Any], dict[str, np.ndarray]]],
    anchors: tuple[str, str],
    field: str,
    ranked: list[str],
) -> dict[str, np.ndarray]:
    """Normalise every agent's final accuracy per seed between ``anchors`` (0 and 1) task by
    task (``by_task``: per task, the agents' report rows and final accuracies), store it as
    ``field`` of each row, and return the ``ranked`` agents' ``(runs, tasks)`` matrices
    (rliable's layout)."""
    normalized: dict[str, list[list[float]]] = {a: [] for a in ranked}
    for rows, finals in by_task:
        low, high = (float(finals[a].mean()) for a in anchors)
        for agent, final in finals.items():
            scores = statistics.normalize(final, low, high, anchors=anchors).tolist()
            rows[agent][field] = scores
            if agent in normalized:
                normalized[agent].append(scores)
    return {a: np.array(normalized[a]).T for a in ranked}


def leaderboard_markdown(report: dict[str, Any]) -> str:
    """``leaderboard.md``: accuracy per task, aggregate metrics (random 0, oracle 1; and random 0,
    locator 1 where the report has them), and cost per run."""
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
        "| agent | " + " | ".join(short_id(t) for t in tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for agent in report["agents"]:
        cells = []
        for task in tasks:
            a = report["per_task"][task]["agents"][agent]["anytime"]
            cells.append(
                f"{100 * a['mean'][-1]:.1f} [{100 * a['low'][-1]:.1f}, {100 * a['high'][-1]:.1f}]"
            )
        kind = report["per_task"][tasks[0]]["agents"][agent]["kind"]
        lines.append(f"| {reference_label(agent, kind)} | " + " | ".join(cells) + " |")
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
        cells = [format_interval(metrics[m]) for m in statistics.METRICS]
        cells.append(format_interval(improvement[agent]) if agent in improvement else "-")
        lines.append(f"| {agent} | " + " | ".join(cells) + " |")
    for agent, over in report["probability_of_improvement"].get("of", {}).items():
        lines += [
            "",
            f"## P({agent} better than each other policy) (normalised: random 0, oracle 1)",
            "",
            f"| other policy | P({agent} better) |",
            "|---|---|",
        ]
        lines += [f"| {other} | {format_interval(value)} |" for other, value in over.items()]
    if "aggregate_locator" in report:
        lines += [
            "",
            "## Across tasks (normalised: random 0, locator 1; rliable, 95% stratified bootstrap)",
            "",
            "| agent | IQM | mean | optimality gap |",
            "|---|---|---|---|",
        ]
        for agent, metrics in report["aggregate_locator"].items():
            cells = [format_interval(metrics[m]) for m in statistics.METRICS]
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
    subsets = sorted(
        {
            row["curve"]["subset"]
            for task in tasks
            for row in report["per_task"][task]["agents"].values()
            if row["curve"] is not None
        }
    )
    lines += [
        "",
        "An interval of P(better) above 0.5 is a significant improvement; non-overlapping accuracy"
        " intervals are significant differences.",
    ]
    if subsets:  # one way per agent and task (_curve)
        picked = " or ".join(SUBSETS[subset] for subset in subsets)
        images = report["settings"]["eval_images"]
        lines.append(f"Learning curves (`curves.png`): {images} test images, {picked}.")
    lines.append("")
    return "\n".join(lines)


def plot_aggregate(report: dict[str, Any], path: Path) -> None:
    """``aggregate.png``: rliable's interval plot of IQM, mean and optimality gap."""
    plt = pyplot()
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
    plt = pyplot()
    tasks = list(report["per_task"])
    palette = "tab10" if len(report["agents"]) <= 10 else "tab20"  # one colour per agent
    colors = {a: plt.get_cmap(palette)(i % 20) for i, a in enumerate(report["agents"])}
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
            elif row["kind"] == "heuristic":  # their accuracy, flat
                ax.axhline(row["anytime"]["mean"][-1], linestyle=":", color=color, label=agent)
        ax.set(title=short_id(task), xlabel="timesteps", ylabel="test accuracy (last step)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def short_id(env_id: str) -> str:
    """``GlanceFocus-<name>-v0`` -> ``<name>`` (table headers, plot titles)."""
    return env_id.removeprefix("GlanceFocus-").removesuffix("-v0")


def format_interval(value: dict[str, float]) -> str:
    """``{"low", "value", "high"}`` as ``value [low, high]`` with 3 decimals (no ``-0.000``)."""
    low, point, high = (round(value[k], 3) + 0.0 for k in ("low", "value", "high"))
    return f"{point:.3f} [{low:.3f}, {high:.3f}]"


# -- glance-focus benchmark -----------------------------------------------------------------------


def benchmark_summary(
    name: str,
    runs: Sequence[tuple[Any, Any]],
    seeds: Sequence[int],
    timesteps: int,
    stage: int = 1,
    white_box: bool = False,
) -> dict[str, Any]:
    """One agent's entry of the benchmark's ``results.json``: per-seed results and their mean over
    seeds; the intervals hold the seed-to-seed variation as well as the test set's
    (:func:`agents.statistics.seed_image_intervals`: every seed is evaluated on the same test
    canvases).

    Args:
        name: the agent.
        runs: per seed, its (test, calibration) :class:`~agents.evaluation.EvalResult`.
        seeds: the seeds of ``runs``.
        timesteps: the training budget (reported as 0 for a heuristic).
        stage: the classifier's stage (3: fine-tuned on the agent's locations).
    """
    from agents.early_exit import as_records, budget_curve

    tests = [test for test, _ in runs]
    intervals = statistics.seed_image_intervals([t.correct for t in tests])
    curves = [budget_curve(calibration, test) for test, calibration in runs]
    mean_curve = [
        {
            "p": points[0].p,
            "mflops": float(np.mean([c[i].mflops for c in curves])),
            "accuracy": float(np.mean([c[i].accuracy for c in curves])),
        }
        for i, points in enumerate(zip(*curves, strict=True))
    ]
    return {
        "kind": WHITE_BOX if white_box else "heuristic" if name in BASELINES else "learned",
        "upper_bound": name in BASELINES and BASELINES[name].upper_bound,
        "classifier_stage": stage,
        "seeds": list(seeds),
        "timesteps": 0 if name in BASELINES else timesteps,
        "anytime_accuracy": intervals["mean"],
        "anytime_ci95": [list(ci) for ci in zip(intervals["low"], intervals["high"], strict=True)],
        "mflops_per_step": tests[0].mflops,
        "budget_curve": mean_curve,
        "per_seed": [
            {"seed": s, "anytime_accuracy": t.anytime_accuracy, "budget_curve": as_records(c)}
            for s, t, c in zip(seeds, tests, curves, strict=True)
        ],
    }


def print_benchmark(results: dict[str, Any]) -> None:
    """The benchmark's accuracy table (with 95% intervals), the fewest mean MFLOPs at which early
    exit matches the full-resolution model's accuracy, and that model."""
    full = results["full_resolution"]
    rows = []
    for name, agent in results["agents"].items():
        row = [reference_label(name, agent["kind"])]
        row += [
            f"{a:.3f} [{lo:.3f},{hi:.3f}]"
            for a, (lo, hi) in zip(agent["anytime_accuracy"], agent["anytime_ci95"], strict=True)
        ]
        if full is not None:  # without a reference model there is nothing to match
            match = agent.get("mflops_to_match_full_resolution")
            row.append("never" if match is None else f"{match:.1f}")
        rows.append(row)
    steps = len(next(iter(results["agents"].values()))["anytime_accuracy"])
    header = ["agent", "glance", *(f"focus {t}" for t in range(1, steps))]
    print_table(header + ([] if full is None else ["MFLOPs to full-res acc"]), rows)
    if full is not None:
        print(
            f"full resolution ({full['classifier']}): {full['accuracy']:.3f} at "
            f"{full['mflops']:.1f} MFLOPs"
        )


def plot_benchmark(results: dict[str, Any], out: Path) -> None:
    """The benchmark's ``anytime.png`` (accuracy vs step) and ``budget.png`` (accuracy vs
    MFLOPs)."""
    plt = pyplot()
    full = results["full_resolution"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, agent in results["agents"].items():
        steps = np.arange(len(agent["anytime_accuracy"]))
        low, high = np.array(agent["anytime_ci95"]).T
        style = "--" if agent["upper_bound"] else "-"
        ax.plot(steps, agent["anytime_accuracy"], style, marker="o", label=name)
        ax.fill_between(steps, low, high, alpha=0.15)
    if full is not None:
        ax.axhline(full["accuracy"], color="k", linestyle=":", label="full resolution")
    ax.set(xlabel="step (0 = glance)", ylabel="test accuracy", title=results["env"])
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "anytime.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, agent in results["agents"].items():
        curve = agent["budget_curve"]
        style = "--" if agent["upper_bound"] else "-"
        ax.plot([p["mflops"] for p in curve], [p["accuracy"] for p in curve], style, label=name)
    for point in results.get("stop_policies", []):
        ax.plot([point["mflops"]], [point["accuracy"]], "D", label=point["agent"])
    if full is not None:
        ax.plot([full["mflops"]], [full["accuracy"]], "k*", markersize=12, label="full resolution")
    ax.set(
        xlabel="mean MFLOPs per image (early exit)", ylabel="test accuracy", title=results["env"]
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "budget.png", dpi=120)
    plt.close(fig)
