"""The agent protocol: naming agents, reuse guarded by the settings fingerprint, timing."""

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import threading
import types
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import classifiers
from agents import cli
from agents.cli import main
from agents.launchers import launch
from agents.leaderboard import plan
from agents.protocol import (
    HeuristicAgent,
    Run,
    SB3Agent,
    fingerprint,
    is_agent_spec,
    resolve_agent,
    train_or_reuse,
)
from gf_env.install import glance_focus_command
from tests.helpers import cli_error

ENV = "GlanceFocus-ClutteredMNIST-v0"
CUSTOM = "examples.custom_algorithm:make_agent"
ROOT = Path(__file__).resolve().parents[2]


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
    assert (
        record["fingerprint"]["weights_sha256"]["classifier"] == sha
    )  # the env's classifier weights
    (tmp_path / "other.pt").write_bytes(b"weights")
    retrained = Run(ENV, env_kwargs={"checkpoint": str(tmp_path / "other.pt")})
    assert fingerprint("my_algo:AGENT", AGENT, retrained)["weights_sha256"]["classifier"] == (
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
    model, record = train_or_reuse("ppo", run)
    assert 0 < record["timing"]["learner_share"] < 1
    watched = dataclasses.replace(run, progress=True)  # how a run is watched is no setting
    reused, again = train_or_reuse("ppo", watched)
    assert again["reused"] and again["fingerprint"] == record["fingerprint"]
    for name, tensor in model.policy.state_dict().items():
        torch.testing.assert_close(reused.policy.state_dict()[name], tensor)
    assert record["evaluations"][-1]["timesteps"] == 64
    assert "stable-baselines3==" in record["fingerprint"]["version"]
    # built-ins are pinned by package versions and hyperparameters, not by this package's files
    assert record["fingerprint"]["code_sha256"] is None
    # the observation picks AgentConfig.observation, other env arguments pass to the env
    config = SB3Agent("ppo").config(Run(ENV, env_kwargs={"observation": "hidden", "grid_size": 3}))
    assert config.observation == "hidden" and config.env_kwargs == {"grid_size": 3}


def test_a_hidden_row_trains_the_algorithm_on_the_hidden_observation(tmp_path):
    hidden, plain = resolve_agent("ppo-hidden"), resolve_agent("ppo")
    assert (hidden.algo, hidden.observation) == ("ppo", "hidden")
    assert resolve_agent("ppo_lstm-hidden").algo == "recurrent_ppo"
    assert plain.config(Run(ENV)).observation == "dict"
    assert hidden.config(Run(ENV, env_kwargs={"grid_size": 3})).observation == "hidden"
    with pytest.raises(ValueError, match=r"'ppo-hidden' trains on observation='hidden'.*'dict'"):
        hidden.config(Run(ENV, env_kwargs={"observation": "dict"}))
    with pytest.raises(ValueError, match="unknown agent 'reinforce-hidden'"):
        resolve_agent("reinforce-hidden")
    run = Run(
        ENV,
        timesteps=16,
        run_dir=tmp_path,
        num_envs=4,
        eval_images=4,
        hyperparams={"n_steps": 4, "batch_size": 16, "n_epochs": 1},
    )
    model, record = train_or_reuse("ppo-hidden", run)
    assert isinstance(model.observation_space, gym.spaces.Box)  # the recurrent state alone
    assert record["fingerprint"]["agent"] == "ppo-hidden"
    assert fingerprint("ppo", plain, run) != record["fingerprint"]  # never reused for ppo


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


def agent_name(spec: str) -> str:
    """The name of the heuristic agent ``spec`` names (run in a spawned worker)."""
    return resolve_agent(spec).name


def test_the_command_finds_an_agent_module_in_the_current_folder(tmp_path, monkeypatch):
    """The console script starts without its folder on sys.path (``python -m`` starts with it);
    the entry puts it first, so the command and its spawned workers find ./algo_in_cwd.py."""
    (tmp_path / "algo_in_cwd.py").write_text(
        "from agents.protocol import HeuristicAgent\n\n"
        "def make_agent():\n    return HeuristicAgent('center')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd())])
    monkeypatch.delitem(sys.modules, "algo_in_cwd", raising=False)
    planned = []

    def plan_only(config):  # the leaderboard up to its runs: every agent is resolved
        planned.append(plan(config))
        return 0

    settings, _, line = cli.SUBCOMMANDS["leaderboard"]
    monkeypatch.setitem(cli.SUBCOMMANDS, "leaderboard", (settings, plan_only, line))
    spec = "algo_in_cwd:make_agent"
    assert glance_focus_command(["leaderboard", "--agents", spec, "--seeds", "0"]) == 0
    sys.modules.pop("algo_in_cwd")
    assert sys.path[0] == os.getcwd() and sys.path.count(os.getcwd()) == 1
    [(suite, jobs)] = planned
    assert suite.agents[0] == spec and spec in {job.agent for job in jobs}
    spawned = launch(agent_name, [spec, spec], workers=2)  # workers inherit the parent's path
    assert [name for _, name in spawned] == ["center", "center"]


def test_resolving_an_agent_leaves_sys_path_alone(tmp_path):
    """Only the command's entry edits sys.path: importing agents.protocol and resolving agents
    (built-in, or a module in the working folder that is not on the path) change nothing."""
    (tmp_path / "algo_in_cwd.py").write_text("def make_agent():\n    return None\n")
    script = (
        "import sys\n"
        "sys.path.remove('')  # the working folder, off the path as under the console script\n"
        "before = list(sys.path)\n"
        "from agents.protocol import resolve_agent\n"
        "assert resolve_agent('ppo').algo == 'ppo' and resolve_agent('center').name == 'center'\n"
        "try:\n"
        "    resolve_agent('algo_in_cwd:make_agent')\n"
        "except ValueError as error:\n"
        "    assert 'cannot import' in str(error), error\n"
        "else:\n"
        "    raise AssertionError('found a module that is not on sys.path')\n"
        "assert sys.path == before, sorted(set(sys.path) ^ set(before))\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]


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


def register_steps(env_id: str, max_focus_steps: int) -> None:
    """(Re-)register ``env_id`` as ENV with another ``max_focus_steps``, as an edited
    ``--gym-packages`` module would in a new process."""
    spec = gym.spec(ENV)
    gym.registry.pop(env_id, None)
    gym.register(
        env_id,
        entry_point=spec.entry_point,
        vector_entry_point=spec.vector_entry_point,
        kwargs={**spec.kwargs, "max_focus_steps": max_focus_steps},
    )


def test_a_re_registered_id_is_another_task(user_module, tmp_path):
    """The fingerprint holds the arguments the env is made with (its registered ones under the
    run's), not only those typed: re-registering an id retrains."""
    env_id = "TestProtocol/Reregistered-v0"
    run = Run(env_id, timesteps=8, run_dir=tmp_path, num_envs=4, eval_images=4)
    try:
        register_steps(env_id, 2)
        before = AGENT.trained
        _, first = train_or_reuse("my_algo:AGENT", run)
        register_steps(env_id, 3)
        _, second = train_or_reuse("my_algo:AGENT", run)
    finally:
        gym.registry.pop(env_id, None)
    assert AGENT.trained == before + 2 and not second["reused"]
    assert first["fingerprint"]["env_kwargs"]["max_focus_steps"] == 2
    assert second["fingerprint"]["env_kwargs"]["max_focus_steps"] == 3
    assert len(second["evaluations"][-1]["anytime_accuracy"]) == 4  # glance + 3 focus steps


SCHEDULES = "def schedule(progress):\n    return 1e-3 * progress\n"


def test_hyperparameters_are_fingerprinted_in_a_canonical_form(monkeypatch, tmp_path):
    """Sets and functions in an agent's hyperparams: a rerun (new objects, new addresses)
    recognises its finished run; a lambda, which has no name to find it by, is refused."""

    def import_agent() -> CountingAgent:  # as a new process would: new objects, same names
        schedules = types.ModuleType("my_schedules")
        exec(SCHEDULES, schedules.__dict__)
        agent = CountingAgent()
        agent.hyperparams = {
            "lr": schedules.schedule,
            "inputs": {"glance", "state", "focus"},
            "activation": torch.nn.ReLU,
        }
        monkeypatch.setitem(sys.modules, "my_schedules", schedules)
        monkeypatch.setitem(sys.modules, "my_algo", types.SimpleNamespace(AGENT=agent))
        return agent

    import_agent()
    run = Run(ENV, timesteps=8, run_dir=tmp_path, num_envs=4, eval_images=4)
    _, first = train_or_reuse("my_algo:AGENT", run)
    assert first["fingerprint"]["hyperparams"]["defaults"] == {
        "activation": "torch.nn.modules.activation.ReLU",
        "inputs": ["focus", "glance", "state"],
        "lr": "my_schedules.schedule",
    }
    rerun = import_agent()
    _, again = train_or_reuse("my_algo:AGENT", run)
    assert again["reused"] and rerun.trained == 0
    rerun.hyperparams["lr"] = lambda progress: 1e-3
    with pytest.raises(ValueError, match=r"\['defaults'\]\['lr'\] = <function .*<lambda>.* cannot"):
        train_or_reuse("my_algo:AGENT", run)


@pytest.mark.parametrize("damage", ['{"fingerprint": {"seed"', '{"evaluations": []}', "[]"])
def test_a_damaged_run_record_is_named_and_redone(user_module, tmp_path, damage):
    run = Run(ENV, timesteps=8, run_dir=tmp_path / "run", num_envs=4, eval_images=4)
    train_or_reuse("my_algo:AGENT", run)
    (tmp_path / "run" / "run.json").write_text(damage)
    before = AGENT.trained
    with pytest.warns(UserWarning, match=r"run[/\\]run\.json is damaged"):
        _, record = train_or_reuse("my_algo:AGENT", run, on_mismatch="refuse")
    assert not record["reused"] and AGENT.trained == before + 1
    assert json.loads((tmp_path / "run" / "run.json").read_text())["fingerprint"]["seed"] == 0


def test_a_redo_trains_beside_the_finished_run_and_replaces_it_whole(user_module, tmp_path):
    """While a redo trains, the run folder still holds the finished run, whole; the redo's
    folder replaces it only when its files and record are written."""
    run_dir = tmp_path / "run"
    train_or_reuse(
        "my_algo:AGENT", Run(ENV, timesteps=8, run_dir=run_dir, num_envs=4, eval_images=4)
    )
    seen = {}

    class Watching(CountingAgent):
        def train(self, run):
            seen["trains_in"] = run.run_dir
            seen["finished"] = json.loads((run_dir / "run.json").read_text())["fingerprint"]
            return super().train(run)

    user_module.WATCHING = Watching()
    redo = Run(ENV, timesteps=16, run_dir=run_dir, num_envs=4, eval_images=4)
    train_or_reuse("my_algo:WATCHING", redo)
    assert seen["trains_in"].parent == tmp_path and seen["trains_in"] != run_dir
    assert seen["finished"]["timesteps"] == 8
    assert json.loads((run_dir / "run.json").read_text())["fingerprint"]["timesteps"] == 16
    assert (run_dir / "weights.txt").is_file() and sorted(p.name for p in tmp_path.iterdir()) == [
        "run"
    ]


def test_two_sweeps_on_one_folder_leave_one_whole_run(user_module, tmp_path):
    """Two sweeps at different budgets redo one run folder at once, interleaved: the 64-step run
    saves, the 128-step run saves and finishes, then the 64-step run finishes. The folder holds
    one of them whole (a record with its own weights), never one's record with the other's."""
    saved_64, done_128 = threading.Event(), threading.Event()

    class Racing(CountingAgent):
        def train(self, run):
            self.timesteps = run.timesteps
            return super().train(run)

        def save(self, policy, run_dir):
            if self.timesteps == 128:
                saved_64.wait(60)
            (run_dir / "weights.txt").write_text(str(self.timesteps))
            if self.timesteps == 64:
                saved_64.set()
                done_128.wait(60)

    user_module.Racing = Racing

    def sweep(timesteps: int) -> None:
        run = Run(ENV, timesteps=timesteps, run_dir=tmp_path / "run", num_envs=4, eval_images=4)
        train_or_reuse("my_algo:Racing", run)
        if timesteps == 128:
            done_128.set()

    threads = [threading.Thread(target=sweep, args=(steps,)) for steps in (64, 128)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    weights = (tmp_path / "run" / "weights.txt").read_text()
    assert weights == str(record["fingerprint"]["timesteps"]) == "64"  # the last to finish


KILLABLE = '''
import os
import signal

import numpy as np


class Policy:
    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return np.full((len(observation), 2), 0.5, dtype=np.float32), state


class Agent:
    """Learns nothing (so no evaluation); its weights file names its seed; with KILL_AFTER_SAVE
    set it SIGKILLs itself right after saving."""

    learned = False

    def train(self, run):
        self.seed = run.seed
        return Policy()

    def save(self, policy, run_dir):
        (run_dir / "weights.txt").write_text(str(self.seed))
        if os.environ.get("KILL_AFTER_SAVE"):
            os.kill(os.getpid(), signal.SIGKILL)

    def load(self, run_dir, run):
        return Policy()
'''


def test_a_run_sigkilled_after_its_checkpoint_leaves_the_finished_run_whole(tmp_path, monkeypatch):
    """A redo SIGKILLed right after writing its weights: the run folder still holds the finished
    run, record and weights alike; the redo's folder is cleared by the next call."""
    (tmp_path / "killable.py").write_text(KILLABLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    run_dir = tmp_path / "run"
    train_or_reuse("killable:Agent", Run(ENV, seed=0, run_dir=run_dir))
    redo = f"Run({ENV!r}, seed=1, run_dir=Path({str(run_dir)!r}))"
    script = "from pathlib import Path\nfrom agents.protocol import Run, train_or_reuse\n"
    script += f"train_or_reuse('killable:Agent', {redo})\n"
    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join([str(tmp_path), str(root)])
    env = {**os.environ, "KILL_AFTER_SAVE": "1", "PYTHONPATH": path}
    killed = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, check=False)
    assert killed.returncode == -signal.SIGKILL
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".run.")]
    assert len(left) == 1 and (left[0] / "weights.txt").read_text() == "1"  # never moved in
    assert (run_dir / "weights.txt").read_text() == "0"
    _, record = train_or_reuse("killable:Agent", Run(ENV, seed=0, run_dir=run_dir))
    assert record["reused"] and record["fingerprint"]["seed"] == 0 and not left[0].exists()
