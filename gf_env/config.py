"""The arguments of both environments, validated: :class:`EnvConfig` checks values only.

What they build (the data source, the classifier, spaces and action decoding) is made once by
:func:`gf_env.build.build_engine`."""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from classifiers import GlanceFocusClassifier
from classifiers.data import CANVAS_PRESETS, ImageSource
from classifiers.data.digits import check_split
from classifiers.utils import name_hints, resolve_device
from gf_env.actions import ACTION_TYPES

REWARDS = ("confidence_gain", "log_prob_gain", "final_correct")
OBSERVATIONS = ("hidden", "dict")
MAX_FOCUS_STEPS = 1000
"""The most focus steps an episode may take (the env stores every step's location)."""
MAX_GRID_SIZE = 1024
"""The most cells per side of a grid action space (``Discrete(G * G)``)."""
MAX_FLOPS_COST = 1e6
"""The highest ``flops_cost`` (reward per MFLOP): a focus step of the largest classifier here
(about 4,000 MFLOPs) then costs 4e9, still finite in float32; an episode's gain is at most 1, so
any price above 1 already forbids every focus step."""


@dataclass(frozen=True)
class EnvConfig:
    """Everything an environment is built from; the keyword arguments of both env classes.

    Args:
        data: a canvas preset (``"translated60"``, ``"cluttered60"``, ``"cluttered100"``) or an
            :class:`~classifiers.data.ImageSource` object.
        classifier: a registry name (loaded with its shipped weights, or ``checkpoint``) or an
            object implementing :class:`~classifiers.GlanceFocusClassifier`. The environment
            freezes it in place with :func:`classifiers.utils.freeze` (moved to ``device``, eval
            mode, gradients off): pass ``copy.deepcopy(model)`` to keep yours trainable.
        split: ``"train"`` or ``"test"`` digits (canvas presets only).
        mnist_root: torchvision MNIST folder for the full set (canvas presets only).
        checkpoint: weights file for a registry-name classifier.
        max_focus_steps: focus steps after the glance; then the episode terminates (at most
            :data:`MAX_FOCUS_STEPS`).
        reward: ``"confidence_gain"``, ``"log_prob_gain"`` or ``"final_correct"``.
        action_type: ``"continuous"`` (``Box(0, 1, (2,))``: row, column) or ``"grid"``
            (``Discrete(G*G)``: cell ``k`` is row ``k // G``, column ``k % G``).
        grid_size: G for grid actions; default ``ceil(H / P)``, enough cells to tile the image
            (at most :data:`MAX_GRID_SIZE`).
        observation: ``"hidden"`` (the classifier's recurrent state) or ``"dict"`` (hidden state,
            last feature map, step index, locations so far).
        device: where the classifier runs; ``None`` or ``"auto"`` means CUDA when available,
            else CPU (a classifier object is then left on its own device). ``"meta"`` and
            device types this PyTorch cannot allocate on (``"xla"`` without torch_xla) raise.
        stop_action: let the agent end the episode before the last focus step (when to stop):
            continuous actions get a third component (stop when >= 0.5), grid actions one more
            action (``G * G``). Off by default: the spaces and dynamics are those of ``-v0``.
        flops_cost: lambda, the reward's price per MFLOP of each focus step (needs
            ``stop_action``): every focus step's reward is lowered by ``lambda * focus MFLOPs``,
            so the return is ``p_stop(y) - p_0(y) - lambda * MFLOPs of the focus steps taken``.
    """

    data: str | ImageSource = "cluttered100"
    classifier: str | GlanceFocusClassifier = "gf-mnist-cluttered100"
    split: str = "train"
    mnist_root: str | os.PathLike | None = None
    checkpoint: str | os.PathLike | None = None
    max_focus_steps: int = 4
    reward: str = "confidence_gain"
    action_type: str = "continuous"
    grid_size: int | None = None
    observation: str = "hidden"
    device: str | None = None
    stop_action: bool = False
    flops_cost: float = 0.0

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> EnvConfig:
        """Build from environment keyword arguments; unknown names raise with the closest match."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            # Python's own phrase first: TorchRL's GymEnv drops `frameskip` only on seeing it
            raise TypeError(
                f"got an unexpected keyword argument {unknown[0]!r}: unknown environment "
                f"argument(s) {name_hints(unknown, names)}; valid: {sorted(names)}"
            )
        return cls(**kwargs)

    @classmethod
    def check_types(cls, kwargs: Mapping[str, Any]) -> None:
        """Refuse the arguments among ``kwargs`` whose value has none of the plain types its
        field takes (``max_focus_steps='3'``, ``checkpoint=1``), naming the key; arguments whose
        field also takes objects (``data``, ``classifier``) and unknown names are left to the
        full check when the env is made.

        Raises:
            ValueError: a value of the wrong type.
        """
        hints = typing.get_type_hints(cls)
        for name, value in kwargs.items():
            accepted = _plain_types(hints.get(name))
            if accepted is None or (
                isinstance(value, accepted)
                and not (isinstance(value, (bool, np.bool_)) and bool not in accepted)
            ):
                continue
            names = " or ".join("None" if t is type(None) else t.__name__ for t in accepted)
            raise ValueError(
                f"{name} must be {names}, got {value!r:.40} ({type(value).__name__})"
                + ("; write it without quotes" if isinstance(value, str) else "")
            )

    def __post_init__(self) -> None:
        type(self).check_types(
            {name: getattr(self, name) for name in ("split", "checkpoint", "mnist_root")}
        )
        _choice("reward", self.reward, REWARDS)
        _choice("action_type", self.action_type, ACTION_TYPES)
        _choice("observation", self.observation, OBSERVATIONS)
        check_split(self.split)
        if isinstance(self.data, str):
            _choice("data", self.data, tuple(CANVAS_PRESETS))
        elif not isinstance(self.data, ImageSource):
            raise TypeError(
                f"data must be a canvas preset name or an ImageSource, got {type(self.data).__name__}"
            )
        if not isinstance(self.classifier, (str, GlanceFocusClassifier)):
            raise TypeError(
                f"classifier must be a registry name or implement GlanceFocusClassifier "
                f"(glance, focus, step_flops, num_classes, ...), got {type(self.classifier).__name__}"
            )
        _positive_int("max_focus_steps", self.max_focus_steps)
        if self.max_focus_steps > MAX_FOCUS_STEPS:
            gib = self.max_focus_steps * 2 * 4 / 2**30
            raise ValueError(
                f"max_focus_steps must be at most {MAX_FOCUS_STEPS} (every sub-environment keeps "
                f"the location of each step: {self.max_focus_steps:,} steps would take "
                f"{gib:,.2f} GiB per sub-environment), "
                f"got {self.max_focus_steps!r}"
            )
        if self.grid_size is not None:
            _positive_int("grid_size", self.grid_size, " (or None for ceil(H / P))")
            if self.grid_size > MAX_GRID_SIZE:
                raise ValueError(
                    f"grid_size must be at most {MAX_GRID_SIZE} ({MAX_GRID_SIZE**2:,} cells, more "
                    "patch positions than any image here has pixels; for finer positions use "
                    f"action_type='continuous'), got {self.grid_size!r}"
                )
        if self.device is not None:
            _check_device(self.device)
        _check_stop(self.stop_action, self.flops_cost)
        if self.checkpoint is not None and not isinstance(self.classifier, str):
            raise ValueError(
                f"checkpoint={str(self.checkpoint)!r} is only used with a registry-name classifier, "
                f"but classifier is a {type(self.classifier).__name__} object; load the weights "
                "into your object yourself, or pass classifier=<registry name>"
            )
        if self.mnist_root is not None and not isinstance(self.data, str):
            raise ValueError(
                f"mnist_root={str(self.mnist_root)!r} is only used with a canvas preset, but data "
                f"is a {type(self.data).__name__} object; drop mnist_root or pass data=<preset>"
            )


def _plain_types(hint: Any) -> tuple[type, ...] | None:
    """The types a field annotated ``hint`` takes when all are plain values (``int | None``,
    ``str | os.PathLike | None``; an ``int`` also passes for ``float``), else ``None``."""
    if hint is None:
        return None
    members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    plain = (str, int, float, bool, type(None), os.PathLike)
    if not all(member in plain for member in members):
        return None
    return (*members, int) if float in members else members


def _check_stop(stop_action: Any, flops_cost: Any) -> None:
    if not isinstance(stop_action, (bool, np.bool_)):
        raise ValueError(f"stop_action must be True or False, got {stop_action!r}")
    number = not isinstance(flops_cost, (bool, np.bool_)) and isinstance(
        flops_cost, (int, float, np.integer, np.floating)
    )
    # compared as Python numbers: 10**300 has no float, and NaN fails both comparisons
    if not number or not 0 <= flops_cost <= MAX_FLOPS_COST:
        raise ValueError(
            f"flops_cost must be a finite number >= 0 and at most {MAX_FLOPS_COST:g} (reward per "
            f"MFLOP; a larger price makes rewards overflow to -inf), got {flops_cost!r:.40}"
        )
    if flops_cost and not stop_action:
        raise ValueError(
            f"flops_cost={flops_cost!r} prices focus steps the agent cannot skip; pass "
            "stop_action=True as well (or drop flops_cost)"
        )


def check_render_mode(render_mode: str | None, supported: list[str]) -> None:
    """Refuse a render mode the environment does not offer, naming those it does."""
    if render_mode is not None and render_mode not in supported:
        raise ValueError(f"render_mode must be one of {supported} or None, got {render_mode!r}")


def _choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")


def _check_device(device: str | torch.device) -> None:
    """Refuse a device the environment cannot compute on, before any weights are loaded: the
    ``meta`` device (tensors without values) and device types this PyTorch cannot allocate on
    (``"xla"`` without torch_xla, ...); CUDA and MPS are checked by ``resolve_device``."""
    resolved = resolve_device(device)
    if resolved.type == "meta":
        raise ValueError(
            f"device={device!r}: the meta device holds no values, so the classifier cannot run "
            "there; use 'cpu', 'cuda', or None for CUDA when available, else CPU"
        )
    if resolved.type in ("cpu", "cuda", "mps"):
        return
    try:
        torch.empty(0, device=resolved)
    except (RuntimeError, AssertionError) as error:
        reason = str(error).split(". ")[0].strip()[:100] or type(error).__name__
        raise ValueError(
            f"device={device!r} cannot be used by this PyTorch ({reason}); use 'cpu', 'cuda', or "
            "None for CUDA when available, else CPU (or install the backend for that device)"
        ) from None


def _positive_int(name: str, value: Any, note: str = "") -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1{note}, got {value!r}")


def check_options(options: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    """``reset`` options as a dict; a key the environment does not know raises (a typo would
    otherwise be ignored silently), naming the closest known key."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(
            f"reset options must be a dict (keys {list(allowed)}) or None, got {type(options).__name__}"
        )
    unknown = sorted(set(options) - set(allowed), key=str)
    if unknown:
        raise ValueError(
            f"unknown reset option(s) {name_hints(unknown, allowed)}; valid: {list(allowed)}"
        )
    return dict(options)
