"""Optional parts of the package and the extra that installs each.

``pip install glance-focus`` gives the environments and classifiers. The agent toolkit (the
:mod:`agents` package, the ``glance-focus`` command and :mod:`gf_env.sb3`) needs the ``agents``
extra; importing it without that extra raises :class:`MissingExtraError` naming the extra.
"""

from __future__ import annotations

import importlib
import importlib.util

EXTRAS: dict[str, tuple[str, ...]] = {
    "agents": ("stable_baselines3", "sb3_contrib", "tensorboard", "matplotlib", "yaml", "rliable"),
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
