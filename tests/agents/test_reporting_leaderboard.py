"""The leaderboard's report from finished jobs, without running anything: the committed report
regenerates byte for byte, and the locator adds its normalisation only when it ran."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from agents.leaderboard import LeaderboardConfig, Suite, Task, plan
from agents.reporting import leaderboard_markdown, leaderboard_report, write_json

DOCS = Path(__file__).resolve().parents[2] / "docs" / "leaderboard"
SEEDS = (0, 1, 2)
ACCURACY = {"ppo": 0.8, "random": 0.5, "oracle": 1.0, "locator": 0.9, "center": 0.6}


def fake_report(agents: tuple[str, ...], **accuracy: float) -> dict:
    """The report of two tasks on which every agent gets its ``ACCURACY`` share of 20 images
    right after the last step (learned agents with a two-point learning curve)."""
    tasks = (Task("GlanceFocus-A-v0", 100), Task("GlanceFocus-B-v0", 100))
    suite = Suite(tasks=tasks, agents=agents, seeds=SEEDS)
    jobs, results = [], {}
    for task in tasks:
        for agent in agents:
            for seed in SEEDS:
                key = f"{task.env_id}/{agent}/seed{seed}"
                jobs.append(SimpleNamespace(key=key, task=task, agent=agent, seed=seed))
                share = {**ACCURACY, **accuracy}[agent]
                right = round(20 * share) - (seed == 1 and agent == "ppo")
                correct = np.zeros((20, 3), dtype=np.uint8)
                correct[:right] = 1
                curve = [{"timesteps": t, "anytime_accuracy": [0.5, 0.6, 0.7]} for t in (50, 100)]
                timing = {"wall_s": 1.0, "eval_s": 0.1, "env_steps_per_s": None}
                results[key] = {
                    "correct": correct.tolist(),
                    "record": {
                        "evaluations": curve if agent == "ppo" else [],
                        "timing": {**timing, "learner_share": None},
                    },
                    "eval_s": 0.5,
                }
    config = SimpleNamespace(
        suite="fake", eval_freq=50, eval_images=20, test_images=None, num_envs=4, resamples=100
    )
    return leaderboard_report(suite, jobs, results, config)


def test_the_locator_adds_a_normalisation_random_0_locator_1():
    report = fake_report(("ppo", "center", "random", "oracle", "locator"))
    for task in report["per_task"].values():
        rows = task["agents"]
        assert np.mean(rows["random"]["locator_normalized_per_seed"]) == 0.0
        assert np.mean(rows["locator"]["locator_normalized_per_seed"]) == pytest.approx(1.0)
        assert np.mean(rows["oracle"]["locator_normalized_per_seed"]) == pytest.approx(1.25)
        assert rows["center"]["locator_normalized_per_seed"] == pytest.approx([0.25] * 3)
        assert rows["center"]["normalized_per_seed"] == pytest.approx([0.2] * 3)  # as before
    # ranked as in the oracle's aggregate: the privileged references are shown, never ranked
    assert (
        list(report["aggregate_locator"])
        == list(report["aggregate"])
        == [
            "ppo",
            "center",
            "random",
        ]
    )
    center = report["aggregate_locator"]["center"]["IQM"]
    assert [center[k] for k in ("low", "value", "high")] == pytest.approx([0.25] * 3)
    text = leaderboard_markdown(report)
    assert "## Across tasks (normalised: random 0, locator 1;" in text
    assert "| center | 0.250 [0.250, 0.250] | 0.250 [0.250, 0.250] | 0.750 [0.750, 0.750] |" in text
    assert "| locator (privileged) |" in text


def test_without_the_locator_the_report_has_no_locator_fields():
    report = fake_report(("ppo", "center", "random", "oracle"))
    assert "aggregate_locator" not in report
    assert all(
        "locator_normalized_per_seed" not in row
        for task in report["per_task"].values()
        for row in task["agents"].values()
    )
    assert "locator" not in leaderboard_markdown(report)


def test_a_locator_no_better_than_random_is_named_and_leaves_the_report_as_without_it():
    with pytest.warns(UserWarning, match="the locator does not score above the random policy"):
        report = fake_report(("ppo", "random", "oracle", "locator"), locator=0.5)
    assert "aggregate_locator" not in report
    assert (
        "locator_normalized_per_seed" not in report["per_task"]["GlanceFocus-A-v0"]["agents"]["ppo"]
    )
    assert report["aggregate"]["ppo"]["mean"]["value"] == pytest.approx((0.6 + 0.5 + 0.6) / 3)


@pytest.mark.slow
def test_the_committed_leaderboard_regenerates_byte_for_byte(tmp_path):
    """docs/leaderboard's leaderboard.json and .md from its committed job files (about two
    minutes of bootstrap on one CPU; the runs are not redone)."""
    config = LeaderboardConfig(suite="mnist", seeds=list(SEEDS), out=str(DOCS))
    suite, jobs = plan(config)
    results = {j.key: json.loads((DOCS / "jobs" / f"{j.key}.json").read_text()) for j in jobs}
    report = leaderboard_report(suite, jobs, results, config)
    write_json(report, tmp_path / "leaderboard.json")
    assert (tmp_path / "leaderboard.json").read_bytes() == (DOCS / "leaderboard.json").read_bytes()
    assert leaderboard_markdown(report) == (DOCS / "leaderboard.md").read_text()
