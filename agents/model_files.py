"""Reading saved agents (Stable-Baselines3 ``.zip`` files) without running code from the file.

SB3 stores tensors as ``.pth`` entries, which it reads with ``torch.load(weights_only=True)``, and
everything else (spaces, schedules, the policy class and its keyword arguments) as cloudpickle
blobs inside the ``data`` entry, which ``Algorithm.load`` would unpickle as they are: a file from
the internet could run any code. :func:`safe_custom_objects` unpickles those blobs itself with an
unpickler that resolves only an allowlist of harmless globals (spaces, policies, feature
extractors, buffers, schedules, SB3's setting types, activations, optimisers and numpy's
array/RNG reconstructors), classes only from modules already imported, and hands the results to
SB3 as ``custom_objects``, so SB3 unpickles nothing. A blob that needs
anything else is refused with :class:`UnsafeModelError`, naming the global. Allowed classes are
data, not constructors: an object is made with ``cls.__new__`` and given its recorded state, never
by calling the class with the file's arguments (``MultiheadAttention(30000, 1)`` would allocate
10 GB, ``VectorizedActionNoise(noise, 200000)`` make 200,000 copies), and state is set only on
objects the blob made. Schedules and action noises, which SB3 calls during training, are then
rebuilt from their recorded numbers with SB3's own classes.

The plain (JSON) entries of ``data`` are vetted too. ``Algorithm.load`` copies every one of them
onto the model and, with no ``env`` argument, hands ``data["env"]`` to ``gym.make``, which imports
the module named before a colon (``"evilmod:Nope-v0"`` runs ``evilmod``). SB3 never saves ``env``,
so it is overridden with ``None``. The other plain entries SB3 reads are numbers, strings it looks
up in fixed tables (policy aliases, train-frequency units, ``"auto"``) or keyword dicts passed to
classes the allowlist vetted; none of them names code. The ``.pth`` members name the attributes
their weights are loaded into (``policy.pth`` into ``model.policy``); only public attribute paths
are accepted. The keys of ``pytorch_variables.pth`` name attributes too (SB3 sets ``<key>.data``
on the model): only the variables SB3 saves there are accepted. All members together, and the
records of the torch archives nested in them, are capped in size
(:func:`classifiers.checkpoint.check_member_sizes`). :func:`load_exactly` refuses a file whose
weights do not fill the model, where SB3 would keep random weights after a warning.
"""

from __future__ import annotations

import base64
import enum
import io
import json
import os
import pickle
import re
import sys
import warnings
import zipfile
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
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
# The member with the tensors SB3 keeps outside ``state_dict``s, and the names it saves there (the
# entropy coefficient of SAC and TQC, learned or fixed): tensor attributes of the model itself.
_VARIABLES_FILE = "pytorch_variables.pth"
_PYTORCH_VARIABLES = frozenset({"log_ent_coef", "ent_coef_tensor"})


class UnsafeModelError(pickle.UnpicklingError):
    """A saved agent needs code outside the allowlist to be unpickled."""


def _numpy_array(subtype: Any, shape: Any, dtype: Any) -> bool:
    # numpy pickles an array as an empty one whose state is set after: never a shape to allocate
    return subtype is np.ndarray and tuple(shape) == (0,)


def _bit_generator(name: Any) -> bool:
    from numpy.random._pickle import BitGenerators

    return (isinstance(name, str) and name in BitGenerators) or (
        isinstance(name, type) and issubclass(name, np.random.BitGenerator)
    )


def _generator(name: Any, ctor: Any = None) -> bool:
    from numpy.random._pickle import __bit_generator_ctor as bit_generator_ctor

    if isinstance(name, np.random.BitGenerator):
        return ctor is None
    return _bit_generator(name) and ctor in (None, bit_generator_ctor)


def _seed_sequence(cls: Any, *_: Any) -> bool:
    return cls is np.random.SeedSequence


# What the allowed callables may be called with (the arguments as unpickled): the numpy and RNG
# helpers rebuild values from bytes, but some would also allocate a shape or call a callable the
# file names; the others only rebuild containers and numbers.
_ARGUMENT_CHECKS: dict[tuple[str, str], Any] = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _numpy_array for core in ("core", "_core")},
    ("numpy.random._pickle", "__bit_generator_ctor"): _bit_generator,
    ("numpy.random._pickle", "__generator_ctor"): _generator,
    ("numpy.random._pickle", "__randomstate_ctor"): _generator,
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"): _seed_sequence,
}


class _AllowlistUnpickler(pickle._Unpickler):
    """Resolves only the allowlisted globals, and treats classes as data: an object of an allowed
    class is made with ``cls.__new__`` and its recorded state, never by calling the class with
    the file's arguments (``MultiheadAttention(30000, 1)`` would allocate 10 GB). Only the
    functions of ``_SAFE_FUNCTIONS`` (with their arguments checked) and enum lookups are called,
    and state is set only on objects this unpickling made (never on a class or function)."""

    dispatch: ClassVar[dict] = dict(pickle._Unpickler.dispatch)

    def __init__(self, data: bytes, source: str, key: str):
        super().__init__(io.BytesIO(data))
        self.source, self.key = source, key
        self._callables: dict[int, tuple[Any, tuple[str, str]]] = {}
        self._made: dict[int, Any] = {}  # the objects themselves keep their ids unique

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_FUNCTIONS:
            value = super().find_class(module, name)
            self._callables[id(value)] = (value, (module, name))
            return value
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

    def _refuse(self, what: str) -> UnsafeModelError:
        return UnsafeModelError(
            f"{self.source}: entry {self.key!r} {what}; a saved agent records values, not "
            "calls, so it was not loaded. If you made this file yourself or trust its source, "
            "load it with trusted=True"
        )

    def _made_here(self, value: Any) -> Any:
        self._made[id(value)] = value
        return value

    def _call(self, func: Any, args: tuple, kwargs: dict | None = None) -> Any:
        name = getattr(func, "__qualname__", type(func).__name__)
        allowed = self._callables.get(id(func))
        if isinstance(func, type) and issubclass(func, enum.Enum) and len(args) == 1 and not kwargs:
            return func(*args)  # a lookup of a member by its value (more arguments make a class)
        if allowed is None or allowed[0] is not func:
            raise self._refuse(f"calls {name} with arguments from the file")
        check = _ARGUMENT_CHECKS.get(allowed[1])
        if kwargs or (check is not None and not check(*args)):
            raise self._refuse(f"calls {name} with arguments it never records ({args!r:.200})")
        return self._made_here(func(*args))

    def load_reduce(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self._call(self.stack[-1], args)

    def _instantiate(self, klass: Any, args: list) -> None:
        if args or not isinstance(klass, type):
            self.append(self._call(klass, tuple(args)))
        else:
            self.append(self._made_here(klass.__new__(klass)))

    def _new(self, cls: Any, args: tuple, kwargs: dict) -> Any:
        if not isinstance(cls, type):
            raise self._refuse(f"makes an object of {cls!r:.100}, which is not a class")
        if issubclass(cls, enum.Enum):
            return self._call(cls, args, kwargs)
        if (args or kwargs) and not issubclass(cls, tuple):  # a named tuple's fields are its data
            raise self._refuse(f"passes arguments to {cls.__qualname__}.__new__")
        return self._made_here(cls.__new__(cls, *args, **kwargs))

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, {}))

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, kwargs))

    def load_build(self) -> None:
        state, inst = self.stack[-1], self.stack[-2]
        if self._made.get(id(inst)) is not inst:
            raise self._refuse(f"sets the state of {inst!r:.100}, which it did not make")
        names = [
            key
            for part in (state if isinstance(state, tuple) else (state,))
            if isinstance(part, dict)
            for key in part
            if not isinstance(key, str) or key.startswith("__")
        ]
        if names:
            raise self._refuse(f"sets attributes {names[:5]!r} of a {type(inst).__name__}")
        super().load_build()

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build


# Entries SB3 calls (a schedule of the training progress) or draws from (exploration noise): they
# are rebuilt from their recorded numbers with SB3's own classes, whatever object the file held.
_SCHEDULE_ENTRIES = frozenset(
    {"lr_schedule", "clip_range", "clip_range_vf", "exploration_schedule"}
)
_NOISE_ENTRIES = frozenset({"action_noise"})


class _Rebuilder:
    """Rebuilds the schedules and action noises of one entry from their recorded values, each
    object once (an entry that names one noise 200,000 times gets one noise, shared)."""

    def __init__(self, source: str, key: str):
        self.source, self.key = source, key
        self._done: dict[int, Any] = {}

    def _refuse(self, value: Any, expected: str) -> UnsafeModelError:
        return UnsafeModelError(
            f"{self.source}: entry {self.key!r} holds {value!r:.120} ({type(value).__name__}) "
            f"where SB3 saves {expected}; it was not loaded. If you made this file yourself or "
            "trust its source, load it with trusted=True"
        )

    def _number(self, value: Any) -> float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise self._refuse(value, "a number")
        return float(value)

    def _array(self, value: Any) -> np.ndarray:
        if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
            return np.asarray(value, dtype=np.float64)
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
            raise self._refuse(value, "an array of numbers")
        return value.copy()

    def _state(self, value: Any) -> dict[str, Any]:
        return vars(value) if hasattr(value, "__dict__") else {}

    def schedule(self, value: Any) -> Any:
        """A schedule (or a plain number, as SB3 also accepts) rebuilt from its numbers."""
        from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule, LinearSchedule

        if id(value) in self._done:
            return self._done[id(value)]
        state = self._state(value)
        if value is None or isinstance(value, (int, float, np.number)):
            rebuilt = value if value is None else self._number(value)
        elif type(value) is ConstantSchedule:
            rebuilt = ConstantSchedule(self._number(state.get("val")))
        elif type(value) is FloatSchedule:
            rebuilt = FloatSchedule(self.schedule(state.get("value_schedule")))
        elif type(value) is LinearSchedule:
            start, end, fraction = (state.get(k) for k in ("start", "end", "end_fraction"))
            rebuilt = LinearSchedule(self._number(start), self._number(end), self._number(fraction))
        else:
            raise self._refuse(
                value, "a schedule (ConstantSchedule, FloatSchedule, LinearSchedule)"
            )
        self._done[id(value)] = rebuilt
        return rebuilt

    def noise(self, value: Any) -> Any:
        """An action noise (or ``None``) rebuilt from its recorded arrays and numbers."""
        from stable_baselines3.common import noise as sb3_noise

        if value is None:
            return None
        if id(value) in self._done:
            return self._done[id(value)]
        state = self._state(value)
        kind = type(value)
        dtype = state.get("_dtype", np.float32)
        if kind in (sb3_noise.NormalActionNoise, sb3_noise.OrnsteinUhlenbeckActionNoise) and (
            dtype not in (np.float16, np.float32, np.float64)
        ):
            raise self._refuse(dtype, "a float dtype")
        if kind is sb3_noise.NormalActionNoise:
            rebuilt = kind(self._array(state.get("_mu")), self._array(state.get("_sigma")), dtype)
        elif kind is sb3_noise.OrnsteinUhlenbeckActionNoise:
            initial = state.get("initial_noise")
            rebuilt = kind(
                self._array(state.get("_mu")),
                self._array(state.get("_sigma")),
                theta=self._number(state.get("_theta")),
                dt=self._number(state.get("_dt")),
                initial_noise=None if initial is None else self._array(initial),
                dtype=dtype,
            )
        elif kind is sb3_noise.VectorizedActionNoise:
            noises = state.get("_noises")
            if not isinstance(noises, list) or not noises:
                raise self._refuse(noises, "a list of noises")
            rebuilt = kind(self.noise(state.get("_base_noise")), 1)
            rebuilt.n_envs = len(noises)
            rebuilt.noises = [self.noise(noise) for noise in noises]
        else:
            raise self._refuse(value, "an action noise (Normal, Ornstein-Uhlenbeck, vectorized)")
        self._done[id(value)] = rebuilt
        return rebuilt


def _check_pytorch_variables(source: str) -> None:
    """Refuse a ``pytorch_variables.pth`` whose keys are not variables SB3 saves: SB3 sets
    ``<key>.data`` on the model for each, so ``policy.log_std.__class__.__base__`` would replace
    ``torch.Tensor.data`` for the whole process."""
    with zipfile.ZipFile(source) as archive:
        variables = torch.load(
            io.BytesIO(archive.read(_VARIABLES_FILE)), map_location="cpu", weights_only=True
        )
    if not isinstance(variables, dict):
        raise ValueError(
            f"{source!r}: {_VARIABLES_FILE} holds a {type(variables).__name__}, not a dict of "
            "tensors; the file was not loaded"
        )
    for name, value in variables.items():
        if name not in _PYTORCH_VARIABLES or not (value is None or isinstance(value, torch.Tensor)):
            raise ValueError(
                f"{source!r}: {_VARIABLES_FILE} sets {name!r:.100} to a {type(value).__name__}; "
                f"SB3 saves only the tensors {sorted(_PYTORCH_VARIABLES)} there (and sets each "
                "key's '.data' on the model, whatever attribute it names), so the file was not "
                "loaded"
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
    if _VARIABLES_FILE in names:
        _check_pytorch_variables(source)
    objects: dict[str, Any] = {key: value for key, value in _NEVER_SAVED.items() if key in data}
    for key, value in data.items():
        if isinstance(value, dict) and ":serialized:" in value:
            blob = base64.b64decode(value[":serialized:"].encode())
            value = _AllowlistUnpickler(blob, source, key).load()
            if key in _SCHEDULE_ENTRIES:
                value = _Rebuilder(source, key).schedule(value)
            elif key in _NOISE_ENTRIES:
                value = _Rebuilder(source, key).noise(value)
            objects[key] = value
    return objects


# SB3's fallback for A2C/PPO files of SB3 < 1.7: on missing keys it loads what is there and warns;
# the rest of the policy keeps its random initial weights.
_INEXACT_LOAD = r".*deactivated exact_match"
_MISSING_KEYS = re.compile(r'Missing key\(s\) in state_dict: ((?:"[^"]*"(?:, )?)+)')


def load_exactly(
    algorithm: type[BaseAlgorithm], path: str | os.PathLike, **kwargs: Any
) -> BaseAlgorithm:
    """``algorithm.load(path, **kwargs)``, refusing a file whose weights do not fill the model
    exactly (SB3 would load such a file with random weights where keys are missing, after a
    warning).

    Raises:
        ValueError: weights are missing, unexpected or of the wrong shape (the message names
            them), or a saved variable names no attribute of the model.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=_INEXACT_LOAD)
        try:
            return algorithm.load(path, **kwargs)
        except (RuntimeError, UserWarning, AttributeError) as error:
            text = str(error)
            if isinstance(error, AttributeError):
                problem = f"a saved variable names no attribute of the model ({text})"
            elif "state_dict" not in text:
                raise
            else:
                missing = _MISSING_KEYS.search(text)
                problem = (
                    f"its weights lack {missing.group(1)[:500]}"
                    if missing
                    else "its weights do not fit the model its settings build: "
                    + " ".join(text.split("Original error:")[-1].split())[:500]
                )
            raise ValueError(
                f"{os.fspath(path)!r}: {problem}; SB3 would act with random weights in their "
                "place, so it was not loaded. Pass the model.zip that training wrote (or re-save "
                "the agent with this SB3 version)"
            ) from None
