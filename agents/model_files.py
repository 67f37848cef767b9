"""Reading saved agents (Stable-Baselines3 ``.zip`` files) without running code from the file.

SB3 stores tensors as ``.pth`` entries, which it reads with ``torch.load(weights_only=True)``, and
everything else (spaces, schedules, the policy class and its keyword arguments) as cloudpickle
blobs inside the ``data`` entry, which ``Algorithm.load`` would unpickle as they are: a file from
the internet could run any code. :func:`safe_custom_objects` unpickles those blobs itself with an
unpickler that resolves only an allowlist of harmless globals (spaces, policies, feature
extractors, buffers, schedules, SB3's setting types, activations, optimisers and numpy's
array/RNG reconstructors), classes only from modules already imported, and hands the results to
SB3 as ``custom_objects``, so SB3 unpickles nothing. A blob that needs
anything else is refused with :class:`UnsafeModelError`, naming the global.

The plain (JSON) entries of ``data`` are vetted too. ``Algorithm.load`` copies every one of them
onto the model and, with no ``env`` argument, hands ``data["env"]`` to ``gym.make``, which imports
the module named before a colon (``"evilmod:Nope-v0"`` runs ``evilmod``). SB3 never saves ``env``,
so it is overridden with ``None``. The other plain entries SB3 reads are numbers, strings it looks
up in fixed tables (policy aliases, train-frequency units, ``"auto"``) or keyword dicts passed to
classes the allowlist vetted; none of them names code. The ``.pth`` members name the attributes
their weights are loaded into (``policy.pth`` into ``model.policy``); only public attribute paths
are accepted.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import re
import sys
import zipfile
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.buffers import BaseBuffer
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from classifiers.checkpoint import check_member_sizes

# Callables the numpy, collections and RNG pickles of SB3's data need, by exact name.
_SAFE_FUNCTIONS = {
    ("collections", "deque"),
    ("collections", "OrderedDict"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    # scalar types, as the action noises keep their dtype
    *(("numpy", name) for name in ("float16", "float32", "float64")),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    *(
        (f"numpy.{core}.{module}", name)
        for core in ("core", "_core")
        for module, name in (
            ("numeric", "_frombuffer"),
            ("multiarray", "scalar"),
            ("multiarray", "_reconstruct"),
        )
    ),
}
# Modules whose classes may be named, and the base classes those classes must have.
_SAFE_MODULES = (
    "stable_baselines3.",
    "sb3_contrib.",
    "gymnasium.spaces.",
    "agents.",
    "torch.nn.modules.activation",
    "torch.optim.",
    "numpy.random.",
)
_SAFE_BASES = (
    gym.spaces.Space,
    BasePolicy,
    BaseFeaturesExtractor,
    BaseBuffer,
    torch.nn.Module,
    torch.optim.Optimizer,
    np.random.BitGenerator,
    np.random.SeedSequence,
)
# Plain value types of SB3's own settings, by exact name.
_SB3_VALUES = {
    ("stable_baselines3.common.utils", name)
    for name in ("ConstantSchedule", "FloatSchedule", "LinearSchedule")
} | {
    ("stable_baselines3.common.type_aliases", "TrainFreq"),
    ("stable_baselines3.common.type_aliases", "TrainFrequencyUnit"),
    ("stable_baselines3.common.noise", "NormalActionNoise"),
    ("stable_baselines3.common.noise", "OrnsteinUhlenbeckActionNoise"),
    # what SB3 wraps one of those in for a vector env (TD3's default noise here)
    ("stable_baselines3.common.noise", "VectorizedActionNoise"),
}


# Entries SB3 leaves out of every saved agent that ``Algorithm.load`` would act on, and the value
# that makes it ignore them (``env`` would go to ``gym.make``).
_NEVER_SAVED = {"env": None}
# The members of an SB3 zip that hold text (JSON, version strings, system info).
_TEXT_MEMBERS = frozenset({"data", "_stable_baselines3_version", "system_info.txt"})
# A ``.pth`` member's name minus the suffix is an attribute path on the model; public names only.
_PARAMETER_FILE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*\.pth")


class UnsafeModelError(pickle.UnpicklingError):
    """A saved agent needs code outside the allowlist to be unpickled."""


class _AllowlistUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, source: str, key: str):
        super().__init__(io.BytesIO(data))
        self.source, self.key = source, key

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_FUNCTIONS:
            return super().find_class(module, name)
        if (module + ".").startswith(_SAFE_MODULES) and "." not in name:
            # Only modules the program has already imported: importing one by a name from the file
            # would run it (``agents.__main__`` is the CLI) before its class could be checked.
            value = getattr(sys.modules.get(module), name, None)
            known = (module, name) in _SB3_VALUES
            if known or (isinstance(value, type) and issubclass(value, _SAFE_BASES)):
                return value
        raise UnsafeModelError(
            f"{self.source}: entry {self.key!r} wants {module}.{name}, which a saved agent has no "
            "reason to need; it was not loaded. If you made this file yourself or trust its "
            "source, load it with trusted=True"
        )


def safe_custom_objects(path: str | os.PathLike) -> dict[str, Any]:
    """Unpickle every cloudpickled entry of a saved agent with the allowlist and neutralise the
    plain entries SB3 would act on; the result is meant for
    ``Algorithm.load(path, custom_objects=...)``.

    Args:
        path: the saved agent (``model.zip``).

    Raises:
        UnsafeModelError: an entry names a global outside the allowlist.
        CheckpointError: a member would inflate beyond its cap (a ``ValueError``).
        ValueError: the file is not an SB3 model archive, or a ``.pth`` member's name is not a
            public attribute path.
    """
    source = os.fspath(path)
    try:
        with zipfile.ZipFile(source) as archive:
            check_member_sizes(archive, source, text=_TEXT_MEMBERS)
            names = archive.namelist()
            data = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{source!r} is not a saved Stable-Baselines3 agent (a .zip with a 'data' entry): "
            f"{error}"
        ) from error
    if not isinstance(data, dict):
        raise ValueError(f"{source!r}: its 'data' entry holds a {type(data).__name__}, not a dict")
    for name in names:
        if name.endswith(".pth") and not _PARAMETER_FILE.fullmatch(name):
            raise ValueError(
                f"{source!r}: member {name!r} is not a parameter file SB3 writes (those are "
                "named after a public attribute of the model, such as 'policy.pth'); SB3 would "
                "load it into whatever the name reaches, so the file was not loaded"
            )
    objects: dict[str, Any] = {key: value for key, value in _NEVER_SAVED.items() if key in data}
    for key, value in data.items():
        if isinstance(value, dict) and ":serialized:" in value:
            blob = base64.b64decode(value[":serialized:"].encode())
            objects[key] = _AllowlistUnpickler(blob, source, key).load()
    return objects
