"""What an installation of glance-focus provides, checked where it is used.

- **Extras.** ``pip install glance-focus`` gives the environments and classifiers. The agent
  toolkit (the :mod:`agents` package, the ``glance-focus`` command and :mod:`gf_env.sb3`) needs
  the ``agents`` extra; importing it without that extra raises :class:`MissingExtraError` naming
  the extra.
- **Top-level names.** The distribution installs three top-level packages, ``gf_env``,
  ``classifiers`` and ``agents``. Another installed distribution with a package of the same name
  (PyPI has an ``agents``) can shadow one of them; :func:`check_own_packages` (run by
  ``import gf_env``, ``import agents`` and the ``glance-focus`` command) then says which
  distribution and which file, instead of a failure deep inside an import.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path

DISTRIBUTION = "glance-focus"
ROOT = Path(__file__).resolve().parents[1]
"""The folder holding this distribution's top-level packages."""

EXTRAS: dict[str, tuple[str, ...]] = {
    "agents": ("stable_baselines3", "sb3_contrib", "matplotlib", "yaml", "rliable"),
    "clients": ("tianshou", "torchrl"),
}
"""Each extra of ``pyproject.toml`` that a module here needs, with the modules it provides."""


class MissingExtraError(ModuleNotFoundError):
    """A part of the package was imported without the extra that installs its dependencies."""


def require_extra(extra: str, *modules: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` (or only ``modules``,
    when given) can be imported.

    The first module is imported, the others only looked up, so that a quick check of a large
    extra stays cheap.

    Args:
        extra: a key of :data:`EXTRAS`.
        modules: the modules to check; default all of the extra's.
        feature: what needs them, for the message (e.g. ``"the agents package"``).
    """
    names = modules or EXTRAS[extra]
    missing = []
    for k, name in enumerate(names):
        try:
            found = importlib.import_module(name) if k == 0 else importlib.util.find_spec(name)
        except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
            found = None
        if found is None:
            missing.append(name)
    if missing:
        raise MissingExtraError(
            f"{feature} needs the {extra!r} extra ({', '.join(missing)} not installed): "
            f'pip install "glance-focus[{extra}]" (or, from a clone, pip install -e ".[{extra}]")',
            name=missing[0],
        )


class ShadowedPackageError(ImportError):
    """A top-level package of glance-focus resolves to another distribution's package."""


def check_own_packages(*names: str) -> None:
    """Raise :class:`ShadowedPackageError` unless each top-level package in ``names`` is the one
    installed with this distribution (next to :mod:`gf_env`)."""
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        found = Path(spec.origin).resolve().parent if spec and spec.origin else None
        if found == ROOT / name:
            continue
        owners = sorted(
            set(importlib.metadata.packages_distributions().get(name, [])) - {DISTRIBUTION}
        )
        where = (
            f"{found} (installed by {', '.join(owners)})"
            if found and owners
            else f"{found} (no installed distribution claims it)"
            if found
            else "not importable"
        )
        fix = f"pip uninstall {' '.join(owners)}" if owners else f"move {found} out of the path"
        raise ShadowedPackageError(
            f"the top-level package {name!r} of {DISTRIBUTION} is shadowed: {name!r} is {where}, "
            f"not {ROOT / name}. Install glance-focus in a virtual environment of its own, or "
            f"{fix}.",
            name=name,
        )


def glance_focus_command(argv: list[str] | None = None) -> int:
    """The ``glance-focus`` console script: put the working folder first on ``sys.path``, check
    the packages it runs on, then run :func:`agents.cli.main`.

    A console script starts with its own ``bin`` folder on ``sys.path``, not the folder it runs
    in; ``python -m agents.cli`` starts with that folder first. The command puts it first too
    (once, before it imports :mod:`agents`), so both import the same modules:
    ``--agents my_algo:make_agent``, ``--gym-packages my_envs`` and ``--env my_envs:MyEnv-v0``
    find ``./my_algo.py`` and ``./my_envs.py``, and worker processes started with ``spawn``
    (``leaderboard --workers``) inherit the path. Python's ``-P`` (``PYTHONSAFEPATH``) leaves it
    out, as under ``-m``. As under ``-m``, an ``agents`` folder in the working folder shadows this
    distribution's; the check names it. Library functions never edit ``sys.path``.
    """
    if not getattr(sys.flags, "safe_path", False) and sys.path[:1] != [os.getcwd()]:
        sys.path.insert(0, os.getcwd())
    try:
        check_own_packages("classifiers", "agents")
        require_extra("agents", feature="the glance-focus command")
    except ImportError as error:
        sys.exit(f"glance-focus: {error}")
    return importlib.import_module("agents.cli").main(argv)
