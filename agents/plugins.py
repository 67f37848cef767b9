"""RL Zoo's conventions for reaching your own code from every command.

``--gym-packages MODULE ...`` imports modules before anything else runs, so classifiers and env ids
they register (``register_classifier``, ``gym.register``) are known to every subcommand.
``--env-kwargs key:value ...`` passes environment arguments: a value that reads as a Python literal
(``4``, ``0.5``, ``True``, ``None``, ``'a'``) becomes it, any other stays a string (paths, names).
An env id may also carry its module, Gymnasium's ``"module:Id"``: :func:`env_spec` imports the
module (``gym.make`` does, ``gym.spec`` does not) before looking the id up.

:data:`EnvKwargs` and :data:`HyperParams` are the annotated field types the command line reads
these from (``tyro`` builds every flag from the settings dataclasses).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import gymnasium as gym
from tyro.constructors import PrimitiveConstructorSpec


def import_gym_packages(modules: Iterable[str]) -> None:
    """Import each module of ``modules`` (RL Zoo's ``--gym-packages``): what it registers at
    import (classifiers, env ids, agents) becomes available.

    Args:
        modules: importable module names (``my_pkg.envs``); already imported ones are skipped.

    Raises:
        ModuleNotFoundError: a module cannot be found (the message names it and the fix).
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name is not None and module.startswith(error.name):
                raise ModuleNotFoundError(
                    f"--gym-packages: cannot import {module!r} ({error}); pass an importable "
                    "module name (run from the folder that holds it, or pip install it)",
                    name=error.name,
                ) from error
            raise


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of ``env_id``, also for Gymnasium's ``"module:Id"`` form (the module is
    imported first, as ``gym.make`` does).

    Args:
        env_id: a registered id, or ``"module:Id"``.
    """
    module, sep, bare = env_id.rpartition(":")
    if sep:
        import_gym_packages([module])
    return gym.spec(bare if sep else env_id)


def merge_env_kwargs(
    user: dict[str, Any], required: dict[str, Any], by: str = "the policy"
) -> dict[str, Any]:
    """``user``'s env arguments with ``required`` (what a policy needs) on top.

    Args:
        user: the env arguments the user gave (``--env-kwargs``).
        required: the arguments the policy or algorithm cannot run without.
        by: who requires them, for the error message.

    Raises:
        ValueError: both set an argument to different values.
    """
    clash = {k: (user[k], v) for k, v in required.items() if k in user and user[k] != v}
    if clash:
        said = ", ".join(f"{k}: {u!r} given, {r!r} needed" for k, (u, r) in clash.items())
        raise ValueError(f"--env-kwargs disagrees with {by}: {said}; drop these arguments")
    return {**user, **required}


SettingsT = TypeVar("SettingsT")


def with_hyperparams(settings: SettingsT, hyperparams: Mapping[str, Any], agent: str) -> SettingsT:
    """``settings`` (an agent's frozen settings dataclass) with a run's ``hyperparams`` on top.

    Raises:
        ValueError: a name that is not a field of ``settings``, listing the valid ones.
    """
    names = {f.name for f in dataclasses.fields(settings)}
    unknown = sorted(set(hyperparams) - names)
    if unknown:
        raise ValueError(f"unknown {agent} hyperparameters {unknown}; valid: {sorted(names)}")
    return dataclasses.replace(settings, **hyperparams)


def check_choice(name: str, value: Any, choices: Any) -> None:
    """Refuse a ``value`` that is none of the ``choices`` of a closed setting (a ``Literal[...]``
    type, which ``tyro`` lists in ``--help`` and checks on the command line; this is the same
    check for Python callers).

    Args:
        name: the setting, for the message.
        value: what was given.
        choices: a ``Literal[...]`` type, or the allowed values.

    Raises:
        ValueError: ``value`` is not among them; the message names the setting, every choice and
            the value.
    """
    allowed = typing.get_args(choices) if typing.get_origin(choices) is typing.Literal else choices
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


def parse_pairs(
    items: Iterable[str], sep: str, value_of: Callable[[str], Any], flag: str
) -> dict[str, Any]:
    """``["key<sep>value", ...]`` -> ``{key: value_of(value)}``.

    Args:
        items: the strings as typed (each split at its first ``sep``).
        sep: the separator, ``":"`` or ``"="``.
        value_of: turns a value string into the value.
        flag: the flag they came from, for the error message.

    Raises:
        ValueError: an item without ``sep`` or without a key, or a value ``value_of`` refuses
            (the message names ``flag`` and the key).
    """
    pairs = {}
    for item in items:
        key, found, value = item.partition(sep)
        if not found or not key:
            raise ValueError(f"{flag} takes key{sep}value pairs, got {item!r}")
        try:
            pairs[key] = value_of(value)
        except ValueError as error:
            raise ValueError(f"{flag} {key}: {error}") from None
    return pairs


def literal_or_string(text: str) -> Any:
    """``text`` as a Python literal where it parses as one (``4``, ``None``, ``'a'``), else the
    string itself (``/data/mnist``).

    Raises:
        ValueError: ``text`` is a number too long for Python to read (over 4,300 digits).
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        if "digits" in str(error) and text.strip().lstrip("+-").isdigit():
            raise ValueError(
                f"a number of {len(text.strip().lstrip('+-')):,} digits, more than Python reads "
                "(4,300) and any setting takes"
            ) from None
        return text


def json_or_string(text: str) -> Any:
    """``text`` as JSON where it parses as JSON, else the string itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# Settings the commands take as flags of their own, never as env arguments: the evaluation harness
# takes these names as its own arguments (``split:train`` would report train-split accuracy as
# test accuracy), or the command passes them itself (``device`` twice is a TypeError).
RUN_SETTINGS = {
    "split": "the commands choose the split themselves (agents train on 'train'; evaluate, "
    "visualize and the test numbers of train, benchmark and leaderboard use 'test')",
    "seed": "pass --seed (--seeds for benchmark and leaderboard)",
    "deterministic": "evaluation always takes the policy's deterministic action (finetune has "
    "--deterministic)",
    "device": "pass --device (the env's classifier runs there too)",
    "num_envs": "pass --num-envs",
    "max_images": "pass --test-images",
}


def check_env_kwargs(env_kwargs: dict[str, Any], env_id: str | None = None) -> None:
    """Refuse env arguments that are settings of the command (:data:`RUN_SETTINGS`) and, for a
    glance-focus env id, values of the wrong type (``max_focus_steps:'3'``, ``checkpoint:1``),
    before anything is built.

    Args:
        env_kwargs: the env arguments (``--env-kwargs``).
        env_id: the env they are for, if known (its registered arguments are not checked).

    Raises:
        ValueError: the message names the key, the value and what to pass instead.
    """
    for key in env_kwargs:
        if key in RUN_SETTINGS:
            raise ValueError(
                f"--env-kwargs {key}:{env_kwargs[key]!r}: {key!r} is not an env argument here; "
                f"{RUN_SETTINGS[key]}. Drop it from --env-kwargs"
            )
    if env_id is not None and _is_glance_focus(env_id):
        from gf_env import EnvConfig

        try:
            EnvConfig.check_types(env_kwargs)
        except (TypeError, ValueError) as error:
            raise ValueError(f"--env-kwargs: {error}") from None


def _is_glance_focus(env_id: str) -> bool:
    """Whether ``env_id`` is registered with one of this package's env classes."""
    try:
        entry = env_spec(env_id).entry_point
    except (gym.error.Error, ImportError):
        return False  # an unknown id is reported where the env is made
    module = entry.split(":")[0] if isinstance(entry, str) else getattr(entry, "__module__", "")
    return module == "gf_env" or module.startswith("gf_env.")


def parse_env_kwargs(items: Iterable[str]) -> dict[str, Any]:
    """``--env-kwargs`` items (``key:value``, values as Python literals or strings) -> a dict.

    Raises:
        ValueError: an item is not ``key:value``, names a setting of the command rather than of
            the env (:data:`RUN_SETTINGS`), or holds a number too long to read.
    """
    pairs = parse_pairs(items, ":", literal_or_string, "--env-kwargs")
    check_env_kwargs(pairs)
    return pairs


def parse_hyperparams(items: Iterable[str]) -> dict[str, Any]:
    """``--hp`` items (``key=value``, values as JSON or strings) -> a dict."""
    return parse_pairs(items, "=", json_or_string, "--hp")


def _pairs_flag(sep: str, parse: Callable[[Iterable[str]], dict[str, Any]], show: Callable) -> Any:
    return PrimitiveConstructorSpec(
        nargs="*",
        metavar=f"KEY{sep}VALUE",
        instance_from_str=parse,
        is_instance=lambda value: isinstance(value, dict),
        str_from_instance=lambda pairs: [f"{k}{sep}{show(v)}" for k, v in pairs.items()],
    )


EnvKwargs = Annotated[dict[str, Any], _pairs_flag(":", parse_env_kwargs, repr)]
"""A dict field read from ``key:value ...`` on the command line (:func:`parse_env_kwargs`)."""

HyperParams = Annotated[dict[str, Any], _pairs_flag("=", parse_hyperparams, json.dumps)]
"""A dict field read from ``key=value ...`` on the command line, values as JSON (numbers,
booleans, lists) or else strings."""


@dataclass
class PluginOptions:
    """The two flags every ``glance-focus`` subcommand takes (settings dataclasses extend this);
    ``gym_packages`` are imported as soon as the settings are made."""

    gym_packages: list[str] = field(default_factory=list)
    """modules to import first: what they register (classifiers, env ids, agents) can be named"""
    env_kwargs: EnvKwargs = field(default_factory=dict)
    """env arguments on top of the id's, key:value (values as Python literals, else strings),
    e.g. mnist_root:/data/mnist checkpoint:w.pt max_focus_steps:3"""

    def __post_init__(self) -> None:
        import_gym_packages(self.gym_packages)
        env_id = getattr(self, "env", None)
        check_env_kwargs(self.env_kwargs, env_id if isinstance(env_id, str) else None)
