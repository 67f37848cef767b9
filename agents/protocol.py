"""The agent protocol: how any algorithm, built in or your own, enters the benchmark.

An *agent* is an object with one required method::

    def train(self, run: Run) -> Policy

It trains on ``run.env_id`` with ``run.env_kwargs``, seeded by ``run.seed``, for ``run.timesteps``
environment steps, may write into ``run.run_dir``, and returns a policy with Stable-Baselines3's
``predict(observation, state=None, episode_start=None, deterministic=True) -> (actions, state)``.
While training it may call ``run.maybe_evaluate(policy, timesteps)`` (or ``run.evaluate``) to add
a point to its learning curve (test accuracy after each step, every ``run.eval_freq`` timesteps).

Optional members:

- ``save(policy, run_dir)`` and ``load(run_dir, run) -> Policy``: a finished run is then reused
  instead of retrained, if its settings fingerprint (:func:`fingerprint`) matches;
- ``hyperparams`` (a JSON-able dict) and ``version`` (a string): part of the fingerprint, so a
  change of either retrains;
- ``resources`` (e.g. ``{"num_cpus": 1, "num_gpus": 0}``): what a launcher requests per run;
- ``env_kwargs`` on the returned policy: environment arguments it needs (merged under the run's
  by the evaluation harness);
- ``learner_seconds`` (set by ``train``): seconds spent in gradient updates, reported as the
  learner's share of the training time;
- ``learned`` (default ``True``; ``False`` for fixed rules that need no training).

Where an agent can be named (``glance-focus benchmark --agents``, ``glance-focus leaderboard``,
:func:`resolve_agent`):

- a built-in algorithm: ``ppo``, ``a2c``, ``sac``, ``td3``, ``recurrent_ppo`` (alias
  ``recurrentppo``, ``ppo_lstm``), ``dqn`` (grid actions), ``tqc`` (sb3-contrib);
- a heuristic: ``random``, ``center``, ``raster``, ``saliency``, ``oracle``;
- an import path ``pkg.module:obj``, where ``obj`` is an agent, or a class or function that
  returns one when called without arguments (e.g. ``examples.custom_algorithm:make_agent``);
- a name registered under the entry-point group ``glance_focus.agents`` by an installed package.

:func:`train_or_reuse` runs one (agent, env, seed) and writes ``run.json`` (settings
fingerprint, wall time, env steps/s, the learner's share of time, the learning curve).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from stable_baselines3.common.callbacks import BaseCallback

from agents.baselines import BASELINES, make_baseline
from agents.evaluation import Policy, evaluate_policy
from agents.plugins import env_spec
from agents.reporting import write_json
from agents.train import ALGORITHMS, AgentConfig, load_model, train_agent
from classifiers import get_entry
from classifiers.training.fingerprint import differences, file_sha256

ENTRY_POINT_GROUP = "glance_focus.agents"
ALIASES = {"recurrentppo": "recurrent_ppo", "ppo_lstm": "recurrent_ppo"}
RUN_FILE = "run.json"


@runtime_checkable
class Agent(Protocol):
    """What an agent must offer: ``train(run) -> policy`` (see the module docstring for the
    optional members)."""

    def train(self, run: Run) -> Policy: ...


@dataclass
class Run:
    """One training run: what the agent is asked to do, and where it may write.

    Args:
        env_id: a registered glance-focus id.
        env_kwargs: environment arguments (``observation``, ``action_type``, ...).
        seed: seeds the agent's networks, sampling and training envs.
        timesteps: environment steps of training (the budget).
        run_dir: folder of this run (checkpoints, logs).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        num_envs: envs side by side in training (a hint; custom agents may ignore it).
        eval_freq: add a learning-curve point every N timesteps (0: only the final one).
        eval_images: test images per learning-curve point.
        hyperparams: overrides of the agent's hyperparameters (built-in algorithms: SB3 kwargs).
    """

    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    timesteps: int = 100_000
    run_dir: Path = Path("runs/agent")
    device: str = "auto"
    num_envs: int = 64
    eval_freq: int = 0
    eval_images: int = 500
    hyperparams: dict[str, Any] = field(default_factory=dict)
    evaluations: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")
        if self.eval_freq < 0 or self.eval_images < 1:
            raise ValueError(
                f"eval_freq must be >= 0 and eval_images >= 1, got {self.eval_freq} and "
                f"{self.eval_images}"
            )
        self._next_eval = self.eval_freq

    def evaluate(self, policy: Policy, timesteps: int) -> dict[str, Any]:
        """Evaluate ``policy`` on the first ``eval_images`` test images now and record a
        learning-curve point ``{"timesteps", "anytime_accuracy", "seconds"}``."""
        started = time.perf_counter()
        result = evaluate_policy(
            policy,
            self.env_id,
            max_images=self.eval_images,
            num_envs=min(self.num_envs, self.eval_images),
            device=self.device,
            **self.env_kwargs,
        )
        record = {
            "timesteps": int(timesteps),
            "anytime_accuracy": result.anytime_accuracy,
            "seconds": time.perf_counter() - started,
        }
        self.evaluations.append(record)
        return record

    def maybe_evaluate(self, policy: Policy, timesteps: int) -> dict[str, Any] | None:
        """:meth:`evaluate` if ``timesteps`` has reached the next multiple of ``eval_freq``."""
        if not self.eval_freq or timesteps < self._next_eval:
            return None
        while self._next_eval <= timesteps:
            self._next_eval += self.eval_freq
        return self.evaluate(policy, timesteps)


class TimingCallback(BaseCallback):
    """Seconds SB3 spends outside rollout collection (gradient updates: the learner)."""

    def __init__(self) -> None:
        super().__init__()
        self.learner_seconds = 0.0
        self._rollout_end: float | None = None

    def _on_rollout_start(self) -> None:
        if self._rollout_end is not None:
            self.learner_seconds += time.perf_counter() - self._rollout_end

    def _on_rollout_end(self) -> None:
        self._rollout_end = time.perf_counter()

    def _on_training_end(self) -> None:
        self._on_rollout_start()
        self._rollout_end = None

    def _on_step(self) -> bool:
        return True


@dataclass
class SB3Agent:
    """A built-in algorithm (:data:`agents.train.ALGORITHMS`) trained by
    :func:`agents.train.train_agent` with the package's defaults and the run's overrides."""

    algo: str
    learned: bool = True
    # No code hash: the package versions (``version``) and the hyperparameters in the fingerprint
    # pin a built-in algorithm, so editing this package's files does not discard hours of runs.
    source_file: str | None = None

    def __post_init__(self) -> None:
        self.version = " ".join(
            f"{name}=={_package_version(name)}"
            for name in ("glance-focus", "stable-baselines3", "sb3-contrib")
        )
        self.learner_seconds: float | None = None

    @property
    def hyperparams(self) -> dict[str, Any]:
        from agents.train import DEFAULT_HYPERPARAMS

        return DEFAULT_HYPERPARAMS[self.algo]

    def config(self, run: Run) -> AgentConfig:
        """The :class:`AgentConfig` of ``run``: its ``observation`` env argument picks the
        observation, the others (``mnist_root``, ``classifier``, ...) pass to the env as they are;
        DQN adds grid actions itself."""
        return AgentConfig(
            algo=self.algo,
            env=run.env_id,
            timesteps=run.timesteps,
            num_envs=run.num_envs,
            seed=run.seed,
            device=run.device,
            out=str(run.run_dir),
            eval_freq=run.eval_freq,
            eval_images=run.eval_images,
            observation=run.env_kwargs.get("observation", "dict"),
            env_kwargs={k: v for k, v in run.env_kwargs.items() if k != "observation"},
            hp=dict(run.hyperparams),
            progress=False,
        )

    def env_kwargs_for(self, run: Run) -> dict[str, Any]:
        """The env arguments the trained policy acts in (DQN: grid actions)."""
        return self.config(run).env_arguments

    def train(self, run: Run) -> Policy:
        timing = TimingCallback()
        model, summary = train_agent(self.config(run), extra_callback=timing)
        run.evaluations.extend(summary["evaluations"])  # the last one is after training
        self.learner_seconds = timing.learner_seconds
        return model

    def save(self, policy: Policy, run_dir: Path) -> None:
        """Nothing to do: :func:`train_agent` saved ``model.zip`` in the run folder."""

    def load(self, run_dir: Path, run: Run) -> Policy:
        return load_model(self.algo, Path(run_dir) / "model.zip", device=run.device)


@dataclass
class HeuristicAgent:
    """A fixed rule of :mod:`agents.baselines`: nothing to train, built for the env's budget."""

    name: str
    learned: bool = False
    source_file: str = inspect.getfile(make_baseline)

    def train(self, run: Run) -> Policy:
        steps = {**env_spec(run.env_id).kwargs, **run.env_kwargs}.get("max_focus_steps", 4)
        return make_baseline(self.name, steps, seed=run.seed)


def resolve_agent(spec: str) -> Any:
    """The agent named by ``spec``: a built-in algorithm, a heuristic, an import path
    ``pkg.module:obj`` or an entry point of the group ``glance_focus.agents``.

    Raises:
        ValueError: ``spec`` names nothing of these, or the object lacks ``train``.
    """
    name = ALIASES.get(spec, spec)
    if name in ALGORITHMS:
        return SB3Agent(name)
    if name in BASELINES:
        return HeuristicAgent(name)
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        try:
            obj: Any = _import_from_here(module_name)
        except ImportError as error:
            raise ValueError(
                f"cannot import {module_name!r} of agent {spec!r} ({error}); run from the folder "
                "that holds it or install its package"
            ) from error
        for part in attribute.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"module {module_name!r} has no {attribute!r} (agent {spec!r})")
            obj = getattr(obj, part)
        return _as_agent(obj, spec)
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    if spec in entry_points:
        return _as_agent(entry_points[spec].load(), spec)
    raise ValueError(
        f"unknown agent {spec!r}; name a built-in algorithm {sorted([*ALGORITHMS, *ALIASES])}, a "
        f"heuristic {sorted(BASELINES)}, an import path 'pkg.module:make_agent' or an entry point "
        f"of the group {ENTRY_POINT_GROUP!r} ({sorted(entry_points) or 'none installed'})"
    )


def is_agent_spec(spec: str) -> bool:
    """Whether ``spec`` names an agent :func:`resolve_agent` can find."""
    try:
        resolve_agent(spec)
    except ValueError:
        return False
    return True


def run_env_kwargs(agent: Any, run: Run) -> dict[str, Any]:
    """The env arguments to evaluate ``agent``'s policy of ``run`` with (the run's, or what a
    built-in algorithm trained in)."""
    if hasattr(agent, "env_kwargs_for"):
        return agent.env_kwargs_for(run)
    return dict(run.env_kwargs)


def is_learned(agent: Any) -> bool:
    """Whether ``agent`` trains (heuristics do not)."""
    return bool(getattr(agent, "learned", True))


def fingerprint(spec: str, agent: Any, run: Run) -> dict[str, Any]:
    """The settings a finished run must match to be reused: agent spec, env id and arguments,
    seed, budget, evaluation settings, hyperparameters (defaults and overrides), the agent's
    version, a hash of the code that defines it (so an edited algorithm retrains) and a hash of
    the env's classifier weights (retrained weights are another task)."""
    learned = is_learned(agent)
    record = {
        "agent": spec,
        "env_id": run.env_id,
        "env_kwargs": run.env_kwargs,
        "seed": run.seed,
        "timesteps": run.timesteps if learned else 0,
        "num_envs": run.num_envs if learned else 0,  # heuristics: no training, no curve
        "eval_freq": run.eval_freq if learned else 0,
        "eval_images": run.eval_images if learned else 0,
        "hyperparams": {
            "defaults": getattr(agent, "hyperparams", {}),
            "overrides": run.hyperparams,
        },
        "version": getattr(agent, "version", None),
        "code_sha256": _code_hash(agent),
        "classifier_sha256": _classifier_hash(run),
    }
    return json.loads(json.dumps(record, default=str))


def fingerprint_difference(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``"key: old -> new"`` for every setting that differs."""
    return differences(old, new)


def train_or_reuse(
    spec: str, run: Run, *, reuse: bool = True, on_mismatch: str = "redo"
) -> tuple[Policy, dict[str, Any]]:
    """Train agent ``spec`` on ``run`` (or reuse the finished run in ``run.run_dir``) and record it.

    A finished run (``run.json`` whose fingerprint matches and an agent with ``load``) is loaded
    instead of trained. If ``run.json`` was made with other settings, ``on_mismatch="redo"``
    retrains and ``"refuse"`` raises a ``ValueError`` naming each difference.

    Returns:
        The policy and the run record: ``fingerprint``, ``evaluations`` (learning curve),
        ``timing`` (``wall_s``: training including learning-curve evaluations, ``eval_s``,
        ``env_steps_per_s``: timesteps per second of training without evaluations,
        ``learner_share``: the share of that time spent in gradient updates, where measured),
        ``reused``.
    """
    if on_mismatch not in ("redo", "refuse"):
        raise ValueError(f"on_mismatch must be 'redo' or 'refuse', got {on_mismatch!r}")
    agent = resolve_agent(spec)
    wanted = fingerprint(spec, agent, run)
    path = run.run_dir / RUN_FILE
    if reuse and path.is_file() and hasattr(agent, "load"):
        record = json.loads(path.read_text())
        difference = fingerprint_difference(record["fingerprint"], wanted)
        if not difference:
            return agent.load(run.run_dir, run), {**record, "reused": True}
        if on_mismatch == "refuse":
            raise ValueError(
                f"{path} was made with other settings ({'; '.join(difference)}); pass the same "
                "settings, another output folder, or allow redoing the run"
            )
    run.evaluations.clear()
    run.run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    policy = agent.train(run)
    learned = is_learned(agent)
    if learned and (not run.evaluations or run.evaluations[-1]["timesteps"] < run.timesteps):
        run.evaluate(policy, run.timesteps)  # the learning curve ends with the trained policy
    wall = time.perf_counter() - started
    if hasattr(agent, "save"):
        agent.save(policy, run.run_dir)
    eval_s = sum(e.get("seconds", 0.0) for e in run.evaluations)
    train_s = max(wall - eval_s, 1e-9)
    learner = getattr(agent, "learner_seconds", None)
    steps = run.evaluations[-1]["timesteps"] if run.evaluations else run.timesteps
    record = {
        "fingerprint": wanted,
        "evaluations": list(run.evaluations),
        "timing": {
            "wall_s": wall,
            "eval_s": eval_s,
            "env_steps_per_s": steps / train_s if learned else None,
            "learner_share": None if learner is None else min(learner / train_s, 1.0),
        },
        "reused": False,
    }
    if hasattr(agent, "load") or learned:
        write_json({k: v for k, v in record.items() if k != "reused"}, path)
    return policy, record


def train_for_benchmark(
    spec: str,
    env_id: str,
    *,
    seed: int,
    timesteps: int,
    run_dir: str | Path,
    num_envs: int = 64,
    device: str = "auto",
    eval_images: int = 500,
    reuse: bool = True,
    env_kwargs: dict[str, Any] | None = None,
) -> tuple[Policy, dict[str, Any]]:
    """Train (or reuse) the protocol agent ``spec`` for ``glance-focus benchmark`` (in the env
    ``env_id`` with ``env_kwargs``); returns the policy and the env arguments to evaluate it with."""
    run = Run(
        env_id,
        env_kwargs=dict(env_kwargs or {}),
        seed=seed,
        timesteps=timesteps,
        run_dir=Path(run_dir),
        device=device,
        num_envs=num_envs,
        eval_images=eval_images,
    )
    policy, _ = train_or_reuse(spec, run, reuse=reuse)
    return policy, run_env_kwargs(resolve_agent(spec), run)


def _import_from_here(module_name: str) -> Any:
    """Import ``module_name``, looking in the current folder too (as ``python -m`` does, and the
    ``glance-focus`` console script does not), so ``my_algo:make_agent`` finds ``./my_algo.py``."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        here = os.getcwd()
        if here in sys.path:
            raise
        sys.path.append(here)
        return importlib.import_module(module_name)


def _as_agent(obj: Any, spec: str) -> Any:
    """``obj`` if it has ``train``, else what calling it without arguments returns."""
    if not hasattr(obj, "train") or inspect.isclass(obj):
        if not callable(obj):
            raise ValueError(
                f"agent {spec!r} is a {type(obj).__name__}: neither an agent (an object with "
                "train(run)) nor a factory returning one; see agents.protocol"
            )
        obj = obj()
    if not callable(getattr(obj, "train", None)):
        raise ValueError(
            f"agent {spec!r} gave {type(obj).__name__}, which has no train(run) method; see "
            "agents.protocol for the protocol"
        )
    return obj


def _code_hash(agent: Any) -> str | None:
    """sha256 of the agent's ``source_file`` (``None`` there: no hash), else of the file defining
    its class (``None`` if unavailable)."""
    if hasattr(agent, "source_file"):
        source = agent.source_file  # None: the agent opts out (its ``version`` pins it)
    else:
        try:
            source = inspect.getsourcefile(type(agent))
        except TypeError:
            return None
    if source is None or not Path(source).is_file():
        return None
    return _file_hash(Path(source))


def _classifier_hash(run: Run) -> str | None:
    """sha256 of the weights the run's env classifies with: ``checkpoint=`` if given, else the
    shipped weights of its registered classifier (``None`` if neither is a file)."""
    checkpoint = run.env_kwargs.get("checkpoint")
    if checkpoint is not None:
        path: Path | None = Path(checkpoint)
    else:
        name = run.env_kwargs.get("classifier", env_spec(run.env_id).kwargs.get("classifier"))
        try:
            path = get_entry(name).weights_path if isinstance(name, str) else None
        except KeyError:
            path = None
    return _file_hash(path) if path is not None and path.is_file() else None


@functools.lru_cache(maxsize=64)
def _cached_hash(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)  # size and mtime only key the cache


def _file_hash(path: Path) -> str:
    """sha256 of a file, computed once per (path, size, modification time)."""
    stat = path.stat()
    return _cached_hash(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _package_version(name: str) -> str | None:
    """The installed version of ``name``; this package's own from its ``pyproject.toml`` when it
    runs from a source tree that was not installed (``PYTHONPATH=.``), so that such runs and
    installed ones of the same release share a fingerprint."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return _source_version() if name == "glance-focus" else None


def _source_version() -> str | None:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        return None
    match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.MULTILINE)
    return match.group(1) if match else None


def describe(spec: str) -> dict[str, Any]:
    """Name, kind and resource request of an agent, for reports and launchers."""
    agent = resolve_agent(spec)
    return {
        "agent": spec,
        "learned": is_learned(agent),
        "resources": dict(getattr(agent, "resources", {"num_cpus": 1, "num_gpus": 0})),
    }


__all__ = [
    "Agent",
    "HeuristicAgent",
    "Run",
    "SB3Agent",
    "TimingCallback",
    "describe",
    "fingerprint",
    "fingerprint_difference",
    "is_agent_spec",
    "is_learned",
    "resolve_agent",
    "run_env_kwargs",
    "train_for_benchmark",
    "train_or_reuse",
]
