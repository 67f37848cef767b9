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
- ``hyperparams`` (a dict) and ``version`` (a string): part of the fingerprint, so a change of
  either retrains; values are fingerprinted in a canonical form (:func:`canonical`: sets sorted,
  module-level functions and classes by name), and what has none (a lambda) is refused;
- ``resources`` (e.g. ``{"num_cpus": 1, "num_gpus": 0}``): what a launcher requests per run;
- ``env_kwargs`` on the returned policy: environment arguments it needs (merged under the run's
  by the evaluation harness);
- ``learner_seconds`` (set by ``train``): seconds spent in gradient updates, reported as the
  learner's share of the training time;
- ``learned`` (default ``True``; ``False`` for fixed rules that need no training).

Where an agent can be named (``glance-focus benchmark --agents``, ``glance-focus leaderboard``,
:func:`resolve_agent`):

- a built-in algorithm: ``ppo``, ``a2c``, ``sac``, ``td3``, ``recurrent_ppo`` (alias
  ``recurrentppo``, ``ppo_lstm``), ``dqn`` (grid actions), ``tqc`` (sb3-contrib), all on the
  env's dict observation (recurrent state, last feature map, step, locations visited); with the
  suffix ``-hidden`` (``ppo-hidden``, ...) the same algorithm on the recurrent state alone, a row
  of its own, so what the policy sees is measured;
- this package's other agents: ``gfnet`` and ``gfnet-ppo`` (GFNet's stage 2,
  :mod:`agents.gfnet`), ``differentiable`` (white-box, :mod:`agents.differentiable`);
- a heuristic: ``random``, ``center``, ``raster``, ``saliency``, and the privileged references
  ``oracle`` (reads the label) and ``locator`` (reads the object boxes);
- an import path ``pkg.module:obj``, where ``obj`` is an agent, or a class or function that
  returns one when called without arguments (e.g. ``examples.custom_algorithm:make_agent``),
  imported from ``sys.path`` as it is (the ``glance-focus`` command puts the folder it runs in
  first, as ``python -m`` does);
- a name registered under the entry-point group ``glance_focus.agents`` by an installed package.

:func:`train_or_reuse` runs one (agent, env, seed) and writes ``run.json`` (settings
fingerprint, wall time, env steps/s, the learner's share of time, the learning curve). It is the
one engine of ``glance-focus benchmark`` and ``glance-focus leaderboard``: a run trains in a fresh
folder beside its own and the finished folder (files and ``run.json``) replaces the old one by a
rename, so a killed or concurrent redo never pairs one run's record with another's files.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import functools
import glob
import importlib
import importlib.metadata
import inspect
import json
import os
import re
import shutil
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from agents.baselines import BASELINES, make_baseline
from agents.evaluation import Policy, curve_point, evaluate_anytime
from agents.plugins import check_choice, env_spec
from agents.reporting import write_json
from agents.settings import OnMismatch, Training, pick
from agents.train import ALGORITHMS, AgentConfig, Observation, load_model, train_agent
from classifiers import get_entry
from classifiers.checkpoint import HOST, process_alive
from classifiers.training.fingerprint import differences, file_sha256

ENTRY_POINT_GROUP = "glance_focus.agents"
ALIASES = {"recurrentppo": "recurrent_ppo", "ppo_lstm": "recurrent_ppo"}
BUILTIN_AGENTS = {
    "gfnet": "agents.gfnet:make_gfnet_agent",
    "gfnet-ppo": "agents.gfnet:make_gfnet_ppo_agent",
    "differentiable": "agents.differentiable:make_differentiable_agent",  # white-box
}
RUN_FILE = "run.json"
HIDDEN = "-hidden"
"""Suffix of a built-in algorithm's name that trains it on the ``hidden`` observation (``ppo-hidden``)."""
FINGERPRINT_VERSION = 2
"""Version 2: resolved env arguments (the registered ones under the user's) and ``weights_sha256``
(every weight file); version 1 (no ``fingerprint_version``) held the typed env arguments and
``classifier_sha256`` and is read by :func:`upgrade_fingerprint`."""


@runtime_checkable
class Agent(Protocol):
    """What an agent must offer: ``train(run) -> policy`` (see the module docstring for the
    optional members)."""

    def train(self, run: Run) -> Policy: ...


@dataclass
class Run(Training):
    """One training run: what the agent is asked to do, and where it may write.

    Args:
        env_id: a registered glance-focus id.
        env_kwargs: environment arguments (``observation``, ``action_type``, ...).
        seed: seeds the agent's networks, sampling and training envs.
        timesteps: environment steps of training (the budget).
        run_dir: folder of this run (checkpoints, logs).
        hyperparams: overrides of the agent's hyperparameters (built-in algorithms: SB3 kwargs).
        progress: show a progress bar while training (a hint; not part of the fingerprint).
        num_envs, eval_freq, eval_images, device: keyword-only, the
            :class:`~agents.settings.Training` settings: envs side by side in training (a hint;
            custom agents may ignore it), a learning-curve point every ``eval_freq`` timesteps
            (0: only the final one) on ``eval_images`` test images, and where to run
            (``"auto"``, ``"cpu"``, ``"cuda"``, ...).
    """

    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    timesteps: int = 100_000
    run_dir: Path = Path("runs/agent")
    _: KW_ONLY  # the rest by name (before 0.2 the fifth to eighth were device ... eval_images)
    hyperparams: dict[str, Any] = field(default_factory=dict)
    progress: bool = False
    evaluations: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.run_dir = Path(self.run_dir)
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")
        self._next_eval = self.eval_freq

    def evaluate(self, policy: Policy, timesteps: int) -> dict[str, Any]:
        """Evaluate ``policy`` on ``eval_images`` test images now (spread over the split) and
        record a learning-curve point (:func:`agents.evaluation.curve_point`)."""
        started = time.perf_counter()
        result = evaluate_anytime(
            policy,
            self.env_id,
            max_images=self.eval_images,
            num_envs=min(self.num_envs, self.eval_images),
            device=self.device,
            **self.env_kwargs,
        )
        record = curve_point(result, timesteps, time.perf_counter() - started)
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
    observation: Observation = "dict"
    """the observation it trains on unless the run's env arguments name one (``-hidden`` names)"""
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
        DQN adds grid actions itself.

        Raises:
            ValueError: the run's env arguments name another observation than a ``-hidden``
                agent's.
        """
        observation = run.env_kwargs.get("observation", self.observation)
        if self.observation != "dict" and observation != self.observation:
            raise ValueError(
                f"agent {self.algo + HIDDEN!r} trains on observation={self.observation!r}, but "
                f"the env arguments say observation={observation!r}; drop it, or name "
                f"{self.algo!r} (the dict observation)"
            )
        return AgentConfig(
            algo=self.algo,
            env=run.env_id,
            timesteps=run.timesteps,
            seed=run.seed,
            out=str(run.run_dir),
            **pick(Training, run),
            observation=observation,
            env_kwargs={k: v for k, v in run.env_kwargs.items() if k != "observation"},
            hp=dict(run.hyperparams),
            progress=run.progress,
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
    spec = BUILTIN_AGENTS.get(name, spec)  # agents of this package under the protocol, by name
    if name in ALGORITHMS:
        return SB3Agent(name)
    base = name.removesuffix(HIDDEN)
    if name.endswith(HIDDEN) and ALIASES.get(base, base) in ALGORITHMS:
        return SB3Agent(ALIASES.get(base, base), observation="hidden")
    if name in BASELINES:
        return HeuristicAgent(name)
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as error:
            raise ValueError(
                f"cannot import {module_name!r} of agent {spec!r} ({error}); run the "
                "glance-focus command from the folder that holds it, put that folder on sys.path, "
                "or install its package"
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
        f"unknown agent {spec!r}; name a built-in algorithm {sorted([*ALGORITHMS, *ALIASES])} "
        f"(with {HIDDEN!r} for the hidden observation), {sorted(BUILTIN_AGENTS)}, a "
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
    """The settings a finished run must match to be reused, the same for the benchmark and the
    leaderboard: agent spec, env id and its resolved arguments (the registered ones under the
    run's, so re-registering an id retrains), seed, budget, evaluation settings, hyperparameters
    (defaults and overrides), the agent's version, a hash of the code that defines it (so an
    edited algorithm retrains) and hashes of every weight file the env reads (retrained weights
    are another task).

    Raises:
        ValueError: a hyperparameter or env argument has no canonical form (:func:`canonical`).
    """
    learned = is_learned(agent)
    env_kwargs = resolved_env_kwargs(run.env_id, run.env_kwargs)
    return {
        "fingerprint_version": FINGERPRINT_VERSION,
        "agent": spec,
        "env_id": run.env_id,
        "env_kwargs": canonical(env_kwargs, "env_kwargs"),
        "seed": run.seed,
        "timesteps": run.timesteps if learned else 0,
        "num_envs": run.num_envs if learned else 0,  # heuristics: no training, no curve
        "eval_freq": run.eval_freq if learned else 0,
        "eval_images": run.eval_images if learned else 0,
        "hyperparams": canonical(
            {"defaults": getattr(agent, "hyperparams", {}), "overrides": run.hyperparams},
            f"hyperparams of agent {spec!r}",
        ),
        "version": canonical(getattr(agent, "version", None), f"version of agent {spec!r}"),
        "code_sha256": _code_hash(agent),
        "weights_sha256": _weights_hashes(env_kwargs),
    }


def resolved_env_kwargs(env_id: str, env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments the env of ``env_id`` is made with: its registered ones under ``env_kwargs``."""
    return {**env_spec(env_id).kwargs, **env_kwargs}


def canonical(value: Any, where: str = "value") -> Any:
    """``value`` as JSON that is the same in every process, so a rerun recognises its settings:
    mappings with sorted string keys, tuples as lists, sets sorted, numpy values as numbers or
    lists, paths as strings, module-level functions and classes (and enum members) by their
    import name, other objects by their ``repr``.

    Raises:
        ValueError: ``value`` (or a part of it, named from ``where``) has no such form: a lambda or
            a function defined inside another, or an object whose ``repr`` is its memory address.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda item: str(item[0]))
        return {str(k): canonical(v, f"{where}[{k!r}]") for k, v in items}
    if isinstance(value, (list, tuple)):
        return [canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted((canonical(v, where) for v in value), key=json.dumps)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, enum.Enum):
        return f"{type(value).__module__}.{type(value).__qualname__}.{value.name}"
    name = getattr(value, "__qualname__", None)
    if isinstance(name, str) and (inspect.isroutine(value) or inspect.isclass(value)):
        if "<" not in name:  # "<lambda>", "f.<locals>.g": no name to find it by again
            return f"{value.__module__}.{name}"
    elif " at 0x" not in repr(value):
        return repr(value)
    raise ValueError(
        f"{where} = {value!r} cannot be fingerprinted, so a finished run made with it could never "
        "be recognised: use a module-level function or class, or JSON values (numbers, strings, "
        "lists, dicts)"
    )


def upgrade_fingerprint(old: Mapping[str, Any]) -> dict[str, Any]:
    """A fingerprint of an earlier :data:`FINGERPRINT_VERSION` in today's form.

    Version 1 held the env arguments as typed and the classifier's weights hash alone; it is read
    as made under the env id's current registration (which it did not record) with no other
    weight file, so runs made before the upgrade (``docs/leaderboard/jobs``) are still reused.
    Other dicts are returned as they are."""
    old = dict(old)
    if "fingerprint_version" in old or "classifier_sha256" not in old or "env_id" not in old:
        return old
    classifier = old.pop("classifier_sha256")
    try:
        env_kwargs = resolved_env_kwargs(old["env_id"], old.get("env_kwargs") or {})
    except (gym.error.Error, ImportError):  # the id is no longer registered: it cannot match
        return old
    return {
        **old,
        "fingerprint_version": FINGERPRINT_VERSION,
        "env_kwargs": canonical(env_kwargs),
        "weights_sha256": {"classifier": classifier},
    }


def fingerprint_difference(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``"key: old -> new"`` for every setting that differs (``old`` upgraded first,
    :func:`upgrade_fingerprint`)."""
    return differences(upgrade_fingerprint(old), new)


def read_record(path: Path, required: tuple[str, ...] = ("fingerprint",)) -> dict[str, Any] | None:
    """The JSON record at ``path``, or ``None`` (with a warning naming the file) when it does not
    parse or lacks one of the ``required`` keys: a damaged record means "do that run again"."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        problem = f"{type(error).__name__}: {error}"
    else:
        missing = [key for key in required if not isinstance(record, dict) or key not in record]
        if not missing and isinstance(record.get("fingerprint"), dict):
            return record
        problem = f"no {', '.join(missing)}" if missing else "its fingerprint is not a dict"
    warnings.warn(f"{path} is damaged ({problem}); the run is done again", stacklevel=2)
    return None


def train_or_reuse(
    spec: str, run: Run, *, reuse: bool = True, on_mismatch: OnMismatch = "redo"
) -> tuple[Policy, dict[str, Any]]:
    """Train agent ``spec`` on ``run`` (or reuse the finished run in ``run.run_dir``) and record it.

    A finished run (``run.json`` whose fingerprint matches and an agent with ``load``) is loaded
    instead of trained. If ``run.json`` was made with other settings, ``on_mismatch="redo"``
    retrains and ``"refuse"`` raises a ``ValueError`` naming each difference; a damaged
    ``run.json`` is redone with a warning. A run trains in a fresh folder beside ``run.run_dir``
    and replaces it only when finished (:func:`_commit`): a run folder always holds one run's
    files with its record, whatever was killed when.

    Returns:
        The policy and the run record: ``fingerprint``, ``evaluations`` (learning curve),
        ``timing`` (``wall_s``: training including learning-curve evaluations, ``eval_s``,
        ``env_steps_per_s``: timesteps per second of training without evaluations,
        ``learner_share``: the share of that time spent in gradient updates, where measured),
        ``reused``.
    """
    check_choice("on_mismatch", on_mismatch, OnMismatch)
    agent = resolve_agent(spec)
    wanted = fingerprint(spec, agent, run)
    _remove_left_over(run.run_dir)
    path = run.run_dir / RUN_FILE
    record = read_record(path) if reuse and path.is_file() and hasattr(agent, "load") else None
    if record is not None:
        difference = fingerprint_difference(record["fingerprint"], wanted)
        if not difference:
            return agent.load(run.run_dir, run), {**record, "reused": True}
        if on_mismatch == "refuse":
            raise ValueError(
                f"{path} was made with other settings ({'; '.join(difference)}); pass the same "
                "settings, another output folder, or allow redoing the run"
            )
    run.evaluations.clear()
    staging = _beside(run.run_dir)
    staging.mkdir(parents=True)
    staged = dataclasses.replace(run, run_dir=staging)  # shares run.evaluations
    try:
        policy, record = _train(agent, staged, wanted)
        if hasattr(agent, "load") or is_learned(agent):
            write_json(record, staging / RUN_FILE)
        _commit(staging, run.run_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return policy, {**record, "reused": False}


def _train(agent: Any, run: Run, wanted: dict[str, Any]) -> tuple[Policy, dict[str, Any]]:
    """Train ``agent`` on ``run``, save it in ``run.run_dir``; the policy and the run record."""
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
    return policy, {
        "fingerprint": wanted,
        "evaluations": list(run.evaluations),
        "timing": {
            "wall_s": wall,
            "eval_s": eval_s,
            "env_steps_per_s": steps / train_s if learned else None,
            "learner_share": None if learner is None else min(learner / train_s, 1.0),
            # what an agent reports of its own cost (the differentiable agent: classifier images)
            **(getattr(agent, "training_cost", None) or {}),
        },
        **({"white_box": True} if getattr(agent, "white_box", False) else {}),
    }


def _commit(staging: Path, final: Path) -> None:
    """Put the finished run folder ``staging`` in the place of ``final`` by renames: a reader
    finds the old run whole, the new one whole, or (for a moment) none, which it redoes."""
    while True:
        try:
            staging.rename(final)  # atomic; refused while ``final`` holds files
            return
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        old = _beside(final)
        try:
            final.rename(old)
        except FileNotFoundError:  # another run moved it away first: try again
            continue
        shutil.rmtree(old, ignore_errors=True)


def _beside(final: Path) -> Path:
    """A fresh folder name beside ``final`` that names this process and host (a run trains in
    it; :func:`_commit` moves the replaced run there to delete it)."""
    return final.with_name(f".{final.name}.{os.getpid()}@{HOST}.{uuid.uuid4().hex[:8]}")


def _remove_left_over(final: Path) -> None:
    """Delete the folders beside ``final`` (:func:`_beside`) that processes of this host killed
    before they finished left behind; nothing reads them."""
    for folder in final.parent.glob(f".{glob.escape(final.name)}.*@{HOST}.*"):
        pid = folder.name[len(final.name) + 2 :].partition("@")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def slug(spec: str) -> str:
    """The folder name of agent ``spec``'s runs (``pkg.mod:make_agent`` -> ``pkg.mod--make_agent``)."""
    return spec.replace(":", "--").replace("/", "_")


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


def _weights_hashes(env_kwargs: Mapping[str, Any]) -> dict[str, str | None]:
    """sha256 of every weight file of resolved env arguments: ``"classifier"``, the weights the
    env classifies with (``checkpoint`` if given, else the shipped weights of its registered
    classifier; ``None`` if neither is a file), and each other argument that names a file."""
    checkpoint = env_kwargs.get("checkpoint")
    if checkpoint is not None:
        path: Path | None = Path(checkpoint)
    else:
        name = env_kwargs.get("classifier")
        try:
            path = get_entry(name).weights_path if isinstance(name, str) else None
        except KeyError:
            path = None
    hashes = {"classifier": _file_hash(path) if path is not None and path.is_file() else None}
    for key, value in sorted(env_kwargs.items()):
        if key != "checkpoint" and isinstance(value, (str, os.PathLike)) and Path(value).is_file():
            hashes[key] = _file_hash(Path(value))
    return hashes


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
    "OnMismatch",
    "Run",
    "SB3Agent",
    "TimingCallback",
    "canonical",
    "describe",
    "fingerprint",
    "fingerprint_difference",
    "is_agent_spec",
    "is_learned",
    "read_record",
    "resolve_agent",
    "resolved_env_kwargs",
    "run_env_kwargs",
    "slug",
    "train_or_reuse",
    "upgrade_fingerprint",
]
