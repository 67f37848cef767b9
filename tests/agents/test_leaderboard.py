"""The leaderboard end to end with tiny budgets: a user's agent (the REINFORCE example, named by
import path) next to PPO and the heuristics, resumed, refused, and run again through Ray."""

import json
import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest

from agents.cli import main
from agents.leaderboard import BUILT_IN, LeaderboardConfig, get_suite, plan, run_leaderboard
from agents.protocol import fingerprint_difference, is_learned, resolve_agent, slug
from tests.helpers import break_package

TASK = "GlanceFocus-ClutteredMNIST100-v0"  # hard enough that random < oracle on 48 images
CUSTOM = "examples.custom_algorithm:make_agent"


def tiny(out, **overrides) -> LeaderboardConfig:
    settings = {
        "suite": "mnist",
        "tasks": [TASK],
        "agents": [CUSTOM, "center"],
        "seeds": [0, 1],
        "timesteps": 64,
        "num_envs": 8,
        "eval_freq": 32,
        "eval_images": 8,
        "test_images": 48,
        "resamples": 200,
        "out": str(out),
    }
    return LeaderboardConfig(**{**settings, **overrides})


def deterministic(report: dict) -> dict:
    """The report without what depends on the machine's speed (timings)."""
    runs = [{k: v for k, v in r.items() if k != "timing"} for r in report["runs"]]
    return {**report, "runs": runs}


def test_suites_are_data_and_include_every_mnist_id():
    suite = get_suite("mnist")
    ids = [t.env_id for t in suite.tasks]
    assert ids[:3] == [
        "GlanceFocus-TranslatedMNIST-v0",
        "GlanceFocus-ClutteredMNIST-v0",
        "GlanceFocus-ClutteredMNIST100-v0",
    ]
    # every offline MNIST id joins the suite as it is registered (the multi-look tasks included)
    assert {"GlanceFocus-LargeMNIST-v0", "GlanceFocus-MaxMNIST-v0"} <= set(ids)
    built_in = {"ppo", "a2c", "sac", "td3", "recurrent_ppo", "dqn", "tqc"}
    references = {"gfnet", "gfnet-ppo", "differentiable", "oracle", "locator"}
    assert built_in | references <= set(suite.agents)
    assert suite.seeds == (0, 1, 2, 3, 4)
    assert [t.timesteps for t in suite.tasks][:3] == [100_000, 100_000, 250_000]  # measured
    assert all(t.timesteps == 250_000 for t in suite.tasks[3:])  # DEFAULT_BUDGET
    with pytest.raises(ValueError, match="unknown suite 'atari'"):
        get_suite("atari")


def test_plan_adds_the_anchors_and_checks_names(tmp_path):
    suite, jobs = plan(tiny(tmp_path))
    assert suite.agents == (CUSTOM, "center", "random", "oracle")
    assert len(jobs) == 4 * 2 and {j.task.timesteps for j in jobs} == {64}
    with pytest.raises(ValueError, match="unknown agent 'nope'"):
        plan(tiny(tmp_path, agents=["nope"]))
    with pytest.raises(ValueError, match="not in suite"):
        plan(tiny(tmp_path, tasks=["GlanceFocus-ImageNet-v0"]))
    with pytest.raises(ValueError, match="launcher must be one of"):
        tiny(tmp_path, launcher="slurm")


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """PPO, the REINFORCE example and a heuristic (plus the anchors), plain launcher."""
    out = tmp_path_factory.mktemp("plain")
    config = tiny(out, agents=["ppo", CUSTOM, "center"], seeds=[0])
    return config, run_leaderboard(config)


def test_custom_agent_through_the_leaderboard_resumes_and_refuses(plain, capsys):
    config, report = plain
    tmp_path = Path(config.out)
    on_disk = json.loads((tmp_path / "leaderboard.json").read_text())
    assert on_disk == report
    custom = report["per_task"][TASK]["agents"][CUSTOM]
    assert custom["kind"] == "learned" and custom["curve"]["timesteps"] == [32.0, 64.0]
    assert len(custom["anytime"]["mean"]) == 5  # glance + 4 focus steps
    assert report["per_task"][TASK]["agents"]["center"]["curve"] is None
    anchors = report["per_task"][TASK]["agents"]
    assert anchors["random"]["normalized_per_seed"] == [0.0]
    assert anchors["oracle"]["normalized_per_seed"] == [1.0]
    assert set(report["aggregate"]) == {"ppo", CUSTOM, "center", "random"}  # no oracle
    assert set(report["probability_of_improvement"]["over_reference"]) == {
        CUSTOM,
        "center",
        "random",
    }
    for run in report["runs"]:
        timing = run["timing"]
        assert timing["wall_s"] > 0 and timing["test_eval_s"] > 0
        learned = run["agent"] in ("ppo", CUSTOM)
        assert (timing["env_steps_per_s"] is not None) == learned
    ppo = next(r for r in report["runs"] if r["agent"] == "ppo")["timing"]
    assert 0 < ppo["learner_share"] < 1
    table = (tmp_path / "leaderboard.md").read_text()
    assert CUSTOM in table and "| oracle (upper bound) |" in table and "P(better than ppo)" in table
    for image in ("aggregate.png", "curves.png"):
        assert (tmp_path / image).read_bytes()[:4] == b"\x89PNG"

    capsys.readouterr()
    again = run_leaderboard(config)  # resumed: every run reused, same report
    assert "5 runs, 5 finished before, 0 to do" in capsys.readouterr().out
    assert deterministic(again) == deterministic(report)

    with pytest.raises(ValueError, match=r"timesteps: 64 -> 128"):
        run_leaderboard(
            tiny(tmp_path, agents=[CUSTOM], seeds=[0], timesteps=128, on_mismatch="refuse")
        )


def test_ray_launcher_gives_the_same_results(plain, tmp_path):
    pytest.importorskip("ray")
    config, report = plain
    ray = run_leaderboard(replace(config, out=str(tmp_path), launcher="ray", workers=1))
    assert deterministic(ray) == deterministic(report)
    assert len(list(tmp_path.glob("jobs/*/*/seed0.json"))) == 5  # ran here, under Ray


def test_fingerprint_difference_names_each_setting():
    old = {"seed": 0, "timesteps": 64, "env_id": "a"}
    new = {"seed": 0, "timesteps": 128, "env_id": "b"}
    assert fingerprint_difference(old, new) == ["env_id: 'a' -> 'b'", "timesteps: 64 -> 128"]
    assert fingerprint_difference(old, dict(old)) == []


def test_a_suite_from_a_json_file(tmp_path):
    path = tmp_path / "mine.json"
    tasks = [{"env_id": TASK, "timesteps": 1000, "env_kwargs": {"max_focus_steps": 2}}]
    path.write_text(json.dumps({"tasks": tasks, "agents": [CUSTOM], "seeds": [7]}))
    suite, jobs = plan(LeaderboardConfig(suite=str(path), out=str(tmp_path)))
    assert suite.tasks[0].env_kwargs == {"max_focus_steps": 2} and suite.seeds == (7,)
    assert [(j.agent, j.seed, j.task.timesteps) for j in jobs] == [
        (CUSTOM, 7, 1000),
        ("random", 7, 1000),
        ("oracle", 7, 1000),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"tasks": [', r"not readable JSON"),
        ("[1, 2]", r"expected an object with tasks, agents, seeds, description"),
        ('{"tasks": [], "seed": [0]}', r"unknown field seed; the fields are tasks, agents"),
        ('{"agents": ["ppo"]}', r"tasks is missing"),
        ('{"tasks": []}', r"tasks must be a non-empty list"),
        ('{"tasks": [{"env_id": "X", "budget": 5}]}', r"unknown field tasks\[0\]\.budget"),
        ('{"tasks": [{"timesteps": 5}]}', r"tasks\[0\]\.env_id is missing"),
        (f'{{"tasks": [{{"env_id": "{TASK}", "timesteps": "5"}}]}}', r"timesteps must be a"),
        (f'{{"tasks": [{{"env_id": "{TASK}", "env_kwargs": [1]}}]}}', r"env_kwargs must be a"),
        (f'{{"tasks": [{{"env_id": "{TASK}"}}], "seeds": [0, "1"]}}', r"seeds must be a list"),
        # the env arguments are checked as --env-kwargs are
        (f'{{"tasks": [{{"env_id": "{TASK}", "env_kwargs": {{"split": "train"}}}}]}}', "'split'"),
        (f'{{"tasks": [{{"env_id": "{TASK}", "env_kwargs": {{"seed": 1}}}}]}}', "pass --seed"),
        (
            f'{{"tasks": [{{"env_id": "{TASK}", "env_kwargs": {{"max_focus_steps": "3"}}}}]}}',
            r"max_focus_steps must be int",
        ),
    ],
)
def test_a_malformed_suite_file_is_one_line_naming_the_file_and_field(tmp_path, text, message):
    path = tmp_path / "mine.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        get_suite(str(path))
    assert str(error.value).startswith(f"suite file {path}: ") and "\n" not in str(error.value)


def test_repeated_seeds_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"seeds \[1, 0, 1\] repeat \[1\]; name each seed once"):
        plan(tiny(tmp_path, seeds=[1, 0, 1]))


def test_a_broken_statistics_package_stops_the_sweep_before_any_run(tmp_path, monkeypatch, capsys):
    break_package(monkeypatch, tmp_path / "site", "rliable")
    out = tmp_path / "out"
    argv = ["leaderboard", "--tasks", TASK, "--agents", "center", "--seeds", "0"]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--test-images", "48", "--out", str(out)])
    assert stopped.value.code == 2 and not out.exists()  # nothing ran
    assert "the report needs 'rliable'" in capsys.readouterr().err


def test_damaged_job_files_are_named_and_redone(tmp_path, capsys):
    config = tiny(tmp_path, agents=["center"], seeds=[0])
    report = run_leaderboard(config)
    jobs = tmp_path / "jobs" / TASK
    (jobs / "center" / "seed0.json").write_text('{"key": "GlanceFocus-Clutte')  # cut short
    (jobs / "random" / "seed0.json").write_text('{"key": "random"}')  # not a job's result
    capsys.readouterr()
    with pytest.warns(UserWarning, match=r"center[/\\]seed0\.json is damaged") as warned:
        again = run_leaderboard(config)
    assert any("random" in str(w.message) and "no fingerprint" in str(w.message) for w in warned)
    assert "3 runs, 1 finished before, 2 to do" in capsys.readouterr().out
    assert deterministic(again) == deterministic(report)


class Failing:
    """A plug-in agent whose training fails (a bug, a lost GPU)."""

    def train(self, run):
        raise RuntimeError("CUDA error: device lost")


def test_a_failed_run_keeps_the_others_and_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "failing_algo", types.SimpleNamespace(make=Failing))
    argv = ["leaderboard", "--tasks", TASK, "--agents", "failing_algo:make", "center"]
    argv += ["--seeds", "0", "--test-images", "8", "--num-envs", "8", "--resamples", "200"]
    assert main([*argv, "--out", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "1 of 4 runs failed" in error
    assert f"{TASK}/failing_algo--make/seed0: RuntimeError: CUDA error: device lost" in error
    saved = sorted(p.parent.name for p in (tmp_path / "jobs" / TASK).glob("*/seed0.json"))
    assert saved == ["center", "oracle", "random"]  # kept: a rerun does the failed run only
    assert not (tmp_path / "leaderboard.json").exists()


def test_the_committed_leaderboard_jobs_are_still_recognised():
    """docs/leaderboard's jobs (the SB3 algorithms' of fingerprint version 1: typed env arguments,
    the classifier's hash alone; the newer agents' of version 2) match today's settings, so regenerating that report trains nothing. (A heuristic's
    fingerprint holds the hash of agents/baselines.py: an edit there re-evaluates them.)"""
    docs = Path(__file__).resolve().parents[2] / "docs" / "leaderboard"
    _, jobs = plan(LeaderboardConfig(suite="mnist", seeds=[0, 1, 2], out=str(docs)))
    assert len(jobs) == 16 * 6 * 3  # agents x tasks x seeds
    for job in jobs:
        saved = json.loads((docs / "jobs" / f"{job.key}.json").read_text())
        if job.agent in BUILT_IN:  # the SB3 runs predate version 2 and are still reused
            assert "fingerprint_version" not in saved["fingerprint"]
        difference = fingerprint_difference(saved["fingerprint"], job.fingerprint())
        if is_learned(resolve_agent(job.agent)):
            assert difference == [], job.key
        else:
            assert all(d.startswith("code_sha256: ") for d in difference), job.key


def test_gfnet_is_compared_with_every_other_policy_and_a_hidden_row_is_its_own(tmp_path):
    config = tiny(tmp_path, agents=["gfnet", "ppo-hidden", "center"], seeds=[0, 1])
    report = run_leaderboard(config)
    of = report["probability_of_improvement"]["of"]["gfnet"]
    assert set(of) == {"ppo-hidden", "center", "random"}  # every policy, no privileged reference
    assert all(0 <= v["low"] <= v["value"] <= v["high"] <= 1 for v in of.values())
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "## P(gfnet better than each other policy)" in markdown
    assert f"| center | {of['center']['value']:.2f}" in markdown
    hidden = report["per_task"][TASK]["agents"]["ppo-hidden"]
    assert hidden["kind"] == "learned"
    job = json.loads((tmp_path / "jobs" / TASK / "ppo-hidden" / "seed0.json").read_text())
    assert job["fingerprint"]["agent"] == "ppo-hidden"


def test_curves_measured_on_differently_picked_images_are_not_averaged(tmp_path):
    config = tiny(tmp_path, agents=[CUSTOM], seeds=[0, 1])
    report = run_leaderboard(config)
    curve = report["per_task"][TASK]["agents"][CUSTOM]["curve"]
    assert curve["subset"] == "spread"  # 8 of the 1,000 test images, spread over the split
    assert (
        "8 test images, spread evenly over the split" in (tmp_path / "leaderboard.md").read_text()
    )
    # a run recorded before the subsets were spread (no "subset": its first test images)
    path = tmp_path / "jobs" / TASK / slug(CUSTOM) / "seed1.json"
    old = json.loads(path.read_text())
    for point in old["record"]["evaluations"]:
        del point["subset"]
    path.write_text(json.dumps(old))
    with pytest.warns(UserWarning, match=r"measured on images picked in different ways"):
        again = run_leaderboard(config)
    assert again["per_task"][TASK]["agents"][CUSTOM]["curve"] is None
    assert (
        again["per_task"][TASK]["agents"][CUSTOM]["final_per_seed"]
        == (report["per_task"][TASK]["agents"][CUSTOM]["final_per_seed"])
    )
