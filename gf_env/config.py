"""Settings shared by the single and the vector environment: validation, spaces, actions."""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from gymnasium import spaces
from torch import nn

from classifiers import GlanceFocusClassifier, create_classifier
from classifiers.data import CANVAS_PRESETS, ImageSource, mnist_canvases
from classifiers.data.digits import check_split
from classifiers.registry import resolve_device
from gf_env.engine import OBSERVATIONS, REWARDS, GlanceFocusEngine

ACTION_TYPES = ("continuous", "grid")


@dataclass(frozen=True)
class EnvConfig:
    """Everything an environment is built from; the keyword arguments of both env classes.

    Args:
        data: a canvas preset (``"translated60"``, ``"cluttered60"``, ``"cluttered100"``) or an
            :class:`~classifiers.data.ImageSource` object.
        classifier: a registry name (loaded with its shipped weights, or ``checkpoint``) or an
            object implementing :class:`~classifiers.GlanceFocusClassifier`. It is put in eval mode
            and its gradients are switched off.
        split: ``"train"`` or ``"test"`` digits (canvas presets only).
        mnist_root: torchvision MNIST folder for the full set (canvas presets only).
        checkpoint: weights file for a registry-name classifier.
        max_focus_steps: focus steps after the glance; then the episode terminates.
        reward: ``"confidence_gain"``, ``"log_prob_gain"`` or ``"final_correct"``.
        action_type: ``"continuous"`` (``Box(0, 1, (2,))``: row, column) or ``"grid"``
            (``Discrete(G*G)``: cell ``k`` is row ``k // G``, column ``k % G``).
        grid_size: G for grid actions; default ``ceil(H / P)``, enough cells to tile the image.
        observation: ``"hidden"`` (the classifier's recurrent state) or ``"dict"`` (hidden state,
            last feature map, step index, locations so far).
        device: where the classifier runs; ``None`` means CUDA when available, else CPU.
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

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> EnvConfig:
        """Build from environment keyword arguments; unknown names raise with the closest match."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            # Python's own phrase first: TorchRL's GymEnv drops `frameskip` only on seeing it
            raise TypeError(
                f"got an unexpected keyword argument {unknown[0]!r}: unknown environment "
                f"argument(s) {_name_hints(unknown, names)}; valid: {sorted(names)}"
            )
        return cls(**kwargs)

    def __post_init__(self) -> None:
        _choice("reward", self.reward, REWARDS)
        _choice("action_type", self.action_type, ACTION_TYPES)
        _choice("observation", self.observation, OBSERVATIONS)
        check_split(self.split)
        if isinstance(self.data, str):
            _choice("data", self.data, tuple(CANVAS_PRESETS))
        _positive_int("max_focus_steps", self.max_focus_steps)
        if self.grid_size is not None:
            _positive_int("grid_size", self.grid_size, " (or None for ceil(H / P))")
        if self.device is not None:
            resolve_device(self.device)
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

    def build_engine(self, num_envs: int, keep_probs: bool = False) -> GlanceFocusEngine:
        """Resolve data and classifier, check they fit together, and build the engine
        (``keep_probs``: keep class probabilities, which rendering needs)."""
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        source = self.data
        if isinstance(source, str):
            source = mnist_canvases(source, self.split, self.mnist_root)
        elif not isinstance(source, ImageSource):
            raise TypeError(
                f"data must be a canvas preset name or an ImageSource, got {type(source).__name__}"
            )
        classifier = self.classifier
        if isinstance(classifier, str):
            classifier = create_classifier(
                classifier,
                pretrained=self.checkpoint is None,
                checkpoint=self.checkpoint,
                device=self.device,
            )
        elif not isinstance(classifier, GlanceFocusClassifier):
            raise TypeError(
                f"classifier must be a registry name or implement GlanceFocusClassifier "
                f"(glance, focus, step_flops, num_classes, ...), got {type(classifier).__name__}"
            )
        elif self.device is not None and isinstance(classifier, nn.Module):
            classifier.to(self.device)
        if isinstance(classifier, nn.Module):
            classifier.eval().requires_grad_(False)
        _check_compatible(source, classifier)
        return GlanceFocusEngine(
            source,
            classifier,
            num_envs,
            self.max_focus_steps,
            reward=self.reward,
            keep_features=self.observation == "dict",
            keep_probs=keep_probs,
        )

    def grid(self, engine: GlanceFocusEngine) -> int:
        """G of grid actions: ``grid_size``, or enough cells per side to tile the image."""
        if self.grid_size is not None:
            return self.grid_size
        return math.ceil(max(engine.height, engine.width) / engine.patch_size)


def check_render_mode(render_mode: str | None, supported: list[str]) -> None:
    """Refuse a render mode the environment does not offer, naming those it does."""
    if render_mode is not None and render_mode not in supported:
        raise ValueError(f"render_mode must be one of {supported} or None, got {render_mode!r}")


def _choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")


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
            f"unknown reset option(s) {_name_hints(unknown, allowed)}; valid: {list(allowed)}"
        )
    return dict(options)


def _name_hints(unknown: list[Any], valid: Any) -> str:
    """``'x' (did you mean 'y'?), 'z'``: each unknown name with its closest valid name."""
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), list(valid), n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ", ".join(hints)


def _check_compatible(source: ImageSource, classifier: GlanceFocusClassifier) -> None:
    channels, height, width = source.image_shape
    if classifier.num_classes != source.num_classes:
        raise ValueError(
            f"the classifier predicts {classifier.num_classes} classes but the data has "
            f"{source.num_classes}; use a classifier trained on this data"
        )
    if classifier.in_chans != channels:
        raise ValueError(
            f"the classifier takes {classifier.in_chans}-channel images but the data has {channels} channels"
        )
    if classifier.patch_size > min(height, width):
        raise ValueError(
            f"patch_size {classifier.patch_size} is larger than the {height}x{width} images; "
            "use a classifier with a smaller patch or larger images"
        )


def action_space(config: EnvConfig, engine: GlanceFocusEngine) -> spaces.Space:
    """The single-environment action space."""
    if config.action_type == "grid":
        return spaces.Discrete(config.grid(engine) ** 2)
    return spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)


def observation_space(config: EnvConfig, engine: GlanceFocusEngine) -> spaces.Space:
    """The single-environment observation space (bounded by the classifier's ``state_range``)."""
    low, high = getattr(engine.classifier, "state_range", (-np.inf, np.inf))
    hidden = spaces.Box(low, high, shape=(engine.classifier.state_dim,), dtype=np.float32)
    if config.observation == "hidden":
        return hidden
    steps = engine.max_focus_steps
    return spaces.Dict(
        {
            "hidden": hidden,
            "features": spaces.Box(
                -np.inf, np.inf, shape=engine.classifier.feature_shape, dtype=np.float32
            ),
            "step": spaces.Discrete(steps + 1),
            "locations": spaces.Box(0.0, 1.0, shape=(steps, 2), dtype=np.float32),
        }
    )


def to_locations(actions: Any, config: EnvConfig, grid: int, batch: int | None) -> np.ndarray:
    """Validate actions and turn them into locations ``(k, 2)`` in [0, 1].

    ``batch`` is the number of actions expected (``None`` for one unbatched action). Continuous
    actions outside [0, 1] are clipped; NaN or infinite values raise. Every refusal is a
    ``ValueError`` that shows the action and says what was expected.
    """
    expected = () if batch is None else (batch,)
    try:
        values = np.asarray(actions)
    except (ValueError, TypeError):  # ragged nested lists
        raise ValueError(
            f"actions {_show(actions)} do not form an array (nested lists of unequal length?); "
            f"pass a numpy array of shape {_action_shape(config, expected)}"
        ) from None
    if config.action_type == "grid":
        return _grid_locations(values, expected, grid)
    shape = (*expected, 2)
    if values.shape != shape:
        per = "" if batch is None else f", one (row, column) pair per sub-environment ({batch})"
        raise ValueError(
            f"continuous actions must have shape {shape}{per}, got shape {values.shape}: "
            f"{_show(values)}"
        )
    if (
        values.dtype == np.bool_
        or not np.issubdtype(values.dtype, np.number)
        or np.issubdtype(values.dtype, np.complexfloating)
    ):
        raise ValueError(
            f"continuous actions must be real numbers, got dtype {values.dtype}: {_show(values)}; "
            "pass floats in [0, 1], e.g. np.array([0.5, 0.5], dtype=np.float32)"
        )
    values = values.reshape(-1, 2)
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        where = (
            "" if batch is None else f" for sub-environment(s) {np.flatnonzero(~finite).tolist()}"
        )
        raise ValueError(
            f"actions must be finite, got {_show(values[~finite])}{where}; NaN or inf usually "
            "means the policy diverged: check it, or replace non-finite values before stepping"
        )
    # clip before the cast, so that a huge finite float64 becomes 1, not inf
    return np.clip(values, 0.0, 1.0).astype(np.float32)


def _grid_locations(cells: np.ndarray, expected: tuple[int, ...], grid: int) -> np.ndarray:
    cell_count = grid * grid
    if cells.shape != expected or not np.issubdtype(cells.dtype, np.integer):
        raise ValueError(
            f"grid actions must be integers of shape {expected} (cell k in [0, {cell_count - 1}]), "
            f"got {cells.dtype} array of shape {cells.shape}: {_show(cells)}; pass e.g. np.int64(k)"
        )
    if ((cells < 0) | (cells >= cell_count)).any():
        raise ValueError(
            f"grid action {cells.tolist()} out of range [0, {cell_count - 1}] for a {grid}x{grid} "
            f"grid; cell k is row k // {grid}, column k % {grid}"
        )
    rows, cols = np.divmod(cells.reshape(-1), grid)
    scale = max(grid - 1, 1)
    return np.stack([rows, cols], axis=1).astype(np.float32) / scale


def _action_shape(config: EnvConfig, expected: tuple[int, ...]) -> tuple[int, ...]:
    return expected if config.action_type == "grid" else (*expected, 2)


def _show(value: Any, limit: int = 120) -> str:
    """A short text form of a (possibly large) action for error messages."""
    if isinstance(value, np.ndarray):
        text = np.array2string(
            value, threshold=8, edgeitems=2, separator=", ", max_line_width=10**6
        )
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
