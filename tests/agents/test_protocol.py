"""The agent protocol: naming agents, reuse guarded by the settings fingerprint, timing."""

import hashlib
import importlib.metadata
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import classifiers
from agents.cli import main
from agents.protocol import (
    HeuristicAgent,
    Run,
    SB3Agent,
    fingerprint,
    is_agent_spec,
    resolve_agent,
    train_or_reuse,
)
from tests.helpers import cli_error

ENV = "GlanceFocus-ClutteredMNIST-v0"
CUSTOM = "examples.custom_algorithm:make_agent"


class ConstantPolicy:
    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return np.full((len(observation), 2), 0.5, dtype=np.float32), state


class CountingAgent:
    """Trains nothing, counts its calls, adds one learning-curve point per 'iteration'."""

    version = "1"

    def __init__(self):
        self.hyperparams = {"lr": 0.1}
        self.trained = 0

    def train(self, run):
        self.trained += 1
        for step in range(run.eval_freq, run.timesteps + 1, run.eval_freq or run.timesteps):
            run.maybe_evaluate(ConstantPolicy(), step)
        return ConstantPolicy()

    def save(self, policy, run_dir):
        (run_dir / "weights.txt").write_text("0.5")

    def load(self, run_dir, run):
        assert (run_dir / "weights.txt").read_text() == "0.5"
        return ConstantPolicy()


AGENT = CountingAgent()


@pytest.fixture
def user_module(monkeypatch):
    """A module of the user's, importable as ``my_algo``."""
    module = types.ModuleType("my_algo")
    module.AGENT = AGENT
    module.make_agent = CountingAgent
    module.not_an_agent = 42
    monkeypatch.setitem(sys.modules, "my_algo", module)
    return module


def test_resolve_agent_names(user_module, monkeypatch):
    assert isinstance(resolve_agent("ppo"), SB3Agent)
    assert resolve_agent("ppo_lstm").algo == resolve_agent("recurrentppo").algo == "recurrent_ppo"
    assert resolve_agent("tqc").algo == "tqc"
    assert isinstance(resolve_agent("oracle"), HeuristicAgent)
    assert resolve_agent("my_algo:AGENT") is AGENT  # an agent object
    assert isinstance(resolve_agent("my_algo:make_agent"), CountingAgent)  # a factory
    with pytest.raises(ValueError, match="is a int: neither an agent"):
        resolve_agent("my_algo:not_an_agent")
    with pytest.raises(ValueError, match="has no 'missing'"):
        resolve_agent("my_algo:missing")
    with pytest.raises(ValueError, match="cannot import 'no_such_module'"):
        resolve_agent("no_such_module:make_agent")
    with pytest.raises(ValueError, match=r"unknown agent 'reinforce'.*glance_focus\.agents"):
        resolve_agent("reinforce")
    assert not is_agent_spec("reinforce") and is_agent_spec(CUSTOM)

    entry = importlib.metadata.EntryPoint(
        name="counting", value="my_algo:make_agent", group="glance_focus.agents"
    )
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda group=None: [entry] if group == "glance_focus.agents" else [],
    )
    assert isinstance(resolve_agent("counting"), CountingAgent)  # an installed entry point


def test_train_or_reuse_reuses_redoes_and_refuses(user_module, tmp_path):
    agent_before = AGENT.trained
    run = Run(ENV, seed=3, timesteps=20, run_dir=tmp_path, num_envs=4, eval_freq=10, eval_images=4)
    _, record = train_or_reuse("my_algo:AGENT", run)
    assert AGENT.trained == agent_before + 1 and not record["reused"]
    assert [e["timesteps"] for e in record["evaluations"]] == [10, 20]
    assert record["fingerprint"] == fingerprint("my_algo:AGENT", AGENT, run)
    assert record["fingerprint"]["hyperparams"] == {"defaults": {"lr": 0.1}, "overrides": {}}
    assert record["timing"]["wall_s"] > 0 and record["timing"]["env_steps_per_s"] > 0
    assert json.loads((tmp_path / "run.json").read_text())["fingerprint"]["seed"] == 3
    shipped = Path(classifiers.__file__).parent / "weights" / "gf-mnist-cluttered60.pt"
    sha = hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert record["fingerprint"]["classifier_sha256"] == sha  # the env's classifier weights
    (tmp_path / "other.pt").write_bytes(b"weights")
    retrained = Run(ENV, env_kwargs={"checkpoint": str(tmp_path / "other.pt")})
    assert fingerprint("my_algo:AGENT", AGENT, retrained)["classifier_sha256"] == (
        hashlib.sha256(b"weights").hexdigest()
    )

    _, again = train_or_reuse("my_algo:AGENT", run)  # same settings: loaded, not trained
    assert again["reused"] and AGENT.trained == agent_before + 1
    assert again["evaluations"] == record["evaluations"]

    other = Run(ENV, seed=4, timesteps=20, run_dir=tmp_path, num_envs=4, eval_images=4)
    with pytest.raises(ValueError, match=r"eval_freq: 10 -> 0; seed: 3 -> 4"):
        train_or_reuse("my_algo:AGENT", other, on_mismatch="refuse")
    _, redone = train_or_reuse("my_algo:AGENT", other)  # default: redo
    assert not redone["reused"] and AGENT.trained == agent_before + 2
    assert [e["timesteps"] for e in redone["evaluations"]] == [20]  # the final point only

    AGENT.hyperparams["lr"] = 0.2  # a changed hyperparameter is another run
    try:
        _, changed = train_or_reuse("my_algo:AGENT", other)
        assert not changed["reused"]
    finally:
        AGENT.hyperparams["lr"] = 0.1
    with pytest.raises(ValueError, match="on_mismatch must be"):
        train_or_reuse("my_algo:AGENT", other, on_mismatch="ignore")


def test_run_evaluates_on_its_schedule():
    run = Run(ENV, timesteps=100, eval_freq=30, eval_images=4, num_envs=4)
    points = [run.maybe_evaluate(ConstantPolicy(), t) for t in (10, 30, 40, 95)]
    assert [p is not None for p in points] == [False, True, False, True]
    assert [e["timesteps"] for e in run.evaluations] == [30, 95]
    assert len(run.evaluations[0]["anytime_accuracy"]) == 5
    with pytest.raises(ValueError, match="timesteps must be >= 1"):
        Run(ENV, timesteps=0)


def test_built_in_algorithm_records_the_learner_share(tmp_path):
    run = Run(
        ENV,
        timesteps=64,
        run_dir=tmp_path,
        num_envs=4,
        eval_images=4,
        hyperparams={"n_steps": 8, "batch_size": 32, "n_epochs": 1},
    )
    _, record = train_or_reuse("ppo", run)
    assert 0 < record["timing"]["learner_share"] < 1
    assert record["evaluations"][-1]["timesteps"] == 64
    assert "stable-baselines3==" in record["fingerprint"]["version"]
    # built-ins are pinned by package versions and hyperparameters, not by this package's files
    assert record["fingerprint"]["code_sha256"] is None
    # the observation picks AgentConfig.observation, other env arguments pass to the env
    config = SB3Agent("ppo").config(Run(ENV, env_kwargs={"observation": "hidden", "grid_size": 3}))
    assert config.observation == "hidden" and config.env_kwargs == {"grid_size": 3}


def test_benchmark_takes_an_agent_by_import_path(tmp_path, capsys):
    argv = ["benchmark", "--env", ENV, "--agents", CUSTOM, "random", "--timesteps", "32"]
    argv += ["--num-envs", "8", "--out", str(tmp_path), "--test-images", "16"]
    argv += ["--calibration-images", "16", "--finetune-epochs", "0", "--no-progress"]
    assert main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    custom = results["agents"][CUSTOM]
    assert custom["kind"] == "learned" and custom["timesteps"] == 32
    assert len(custom["anytime_accuracy"]) == 5
    assert (tmp_path / f"examples-{CUSTOM}.png").is_file()
    with pytest.raises(SystemExit):
        main(["benchmark", "--agents", "nope:make_agent", "--out", str(tmp_path)])
    assert "or an import path 'pkg.module:make_agent'" in cli_error(capsys.readouterr().err)


def test_an_agent_module_in_the_current_folder_is_found(tmp_path, monkeypatch):
    # the console script has no '' on sys.path; a module beside the user must still be found
    (tmp_path / "algo_in_cwd.py").write_text(
        "from agents.protocol import HeuristicAgent\n\n"
        "def make_agent():\n    return HeuristicAgent('center')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "algo_in_cwd", raising=False)
    assert resolve_agent("algo_in_cwd:make_agent").name == "center"
    sys.modules.pop("algo_in_cwd")


def test_a_source_tree_run_has_the_installed_release_version(monkeypatch):
    """Run from a checkout that was not pip-installed, the built-in agents' fingerprint names this
    package's release from pyproject.toml, not None, so those runs are reused by installed ones."""
    installed = SB3Agent("ppo").version
    real_version = importlib.metadata.version

    def not_installed(name):
        if name == "glance-focus":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    from_source = SB3Agent("ppo").version
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'version = "{from_source.split()[0].split("==")[1]}"' in pyproject
    assert from_source == installed
