"""Actions of the environments: their space and how they become patch locations.

An :class:`ActionCodec` is built once per environment (by its engine) from the action type and
the grid size; both faces take their action space from it and pass every action through
:meth:`ActionCodec.decode` before the engine focuses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from classifiers.patches import cell_locations

ACTION_TYPES = ("continuous", "grid")
STOP_THRESHOLD = 0.5
"""A continuous action's third component stops the episode when it is at least this."""


class ActionCodec:
    """The action space of one (sub-)environment and the rule that turns actions into locations.

    Args:
        action_type: ``"continuous"`` (``Box(0, 1, (2,), float32)``: row, column) or ``"grid"``
            (``Discrete(G * G)``: cell ``k`` is row ``k // G``, column ``k % G``).
        grid_size: G (grid actions only; the environment passes ``ceil(max(H, W) / P)`` when the
            user gave none).
        stop_action: add a way to end the episode: a third component (``Box(0, 1, (3,))``,
            stop when it is >= :data:`STOP_THRESHOLD`) or one more cell (``Discrete(G * G + 1)``,
            the last action ``G * G`` stops).
    """

    def __init__(self, action_type: str, grid_size: int, stop_action: bool = False):
        if action_type not in ACTION_TYPES:
            raise ValueError(f"action_type must be one of {ACTION_TYPES}, got {action_type!r}")
        self.action_type = action_type
        self.grid_size = grid_size
        self.stop_action = stop_action
        self.space: spaces.Space = (
            spaces.Discrete(grid_size**2 + stop_action)
            if action_type == "grid"
            else spaces.Box(0.0, 1.0, shape=(2 + stop_action,), dtype=np.float32)
        )

    @property
    def stop_cell(self) -> int | None:
        """The grid action that stops (``G * G``), or ``None`` (continuous, or no stop action)."""
        return self.grid_size**2 if self.stop_action and self.action_type == "grid" else None

    def decode(self, actions: Any, batch: int | None) -> np.ndarray:
        """The locations of :meth:`decode_step` (for codecs without a stop action)."""
        return self.decode_step(actions, batch)[0]

    def decode_step(self, actions: Any, batch: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Validate actions and turn them into locations ``(k, 2)`` ``float32`` in [0, 1] and,
        with a stop action, which of them stop (``(k,)`` bool; ``None`` without one).

        Args:
            actions: one action (``batch=None``) or ``batch`` actions, as the space describes.
            batch: the number of actions expected; ``None`` for one unbatched action (k = 1).

        Continuous actions outside [0, 1] are clipped; NaN or infinite values raise. Grid cells
        map to :func:`classifiers.patches.cell_locations`. Every refusal is a ``ValueError`` that
        shows the action and says what was expected. A stopping action's location is not used
        (the stop cell maps to location (0, 0)).

        Torch tensors (or lists of them) are read as a policy's output: detached (a tensor that
        requires grad is accepted; no gradient flows through the environment), copied to the CPU
        from CUDA or any other device that holds values, and floats numpy lacks (``bfloat16``,
        ``float8``) widened to ``float32``, which holds them exactly. A tensor on the ``meta``
        device holds no values and is refused. Dates and durations (``datetime64``,
        ``timedelta64``) are not numbers here and are refused.
        """
        expected = () if batch is None else (batch,)
        width = 2 + self.stop_action
        if isinstance(actions, (list, tuple)) and any(isinstance(a, torch.Tensor) for a in actions):
            actions = [_tensor_values(a) if isinstance(a, torch.Tensor) else a for a in actions]
        elif isinstance(actions, torch.Tensor):
            actions = _tensor_values(actions)
        try:
            values = np.asarray(actions)
        except (ValueError, TypeError):  # ragged nested lists
            shape = expected if self.action_type == "grid" else (*expected, width)
            raise ValueError(
                f"actions {_show(actions)} do not form an array (nested lists of unequal length?); "
                f"pass a numpy array of shape {shape}"
            ) from None
        if self.action_type == "grid":
            return self._grid_locations(values, expected)
        values = _continuous_values(values, expected, batch, width)
        stop = values[:, 2] >= STOP_THRESHOLD if self.stop_action else None
        return np.ascontiguousarray(values[:, :2]), stop

    def cells(self, locations: np.ndarray) -> np.ndarray:
        """The grid cells of locations made by grid actions (the inverse of
        :func:`classifiers.patches.cell_locations`)."""
        grid = self.grid_size
        rows_cols = np.rint(np.asarray(locations) * max(grid - 1, 1)).astype(np.int64)
        return rows_cols[..., 0] * grid + rows_cols[..., 1]

    def _grid_locations(
        self, cells: np.ndarray, expected: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        grid = self.grid_size
        cell_count = int(self.space.n)
        if cells.shape != expected or cells.dtype.kind not in "iu":  # no bool, timedelta64
            raise ValueError(
                f"grid actions must be integers of shape {expected} (cell k in [0, {cell_count - 1}]), "
                f"got {cells.dtype} array of shape {cells.shape}: {_show(cells)}; pass e.g. np.int64(k)"
            )
        if ((cells < 0) | (cells >= cell_count)).any():
            stop = "" if self.stop_cell is None else f" (cell {self.stop_cell} stops)"
            raise ValueError(
                f"grid action {cells.tolist()} out of range [0, {cell_count - 1}] for a {grid}x{grid} "
                f"grid{stop}; cell k is row k // {grid}, column k % {grid}"
            )
        cells = cells.reshape(-1)
        if self.stop_cell is None:
            return cell_locations(cells, grid), None
        stop = cells == self.stop_cell
        return cell_locations(np.where(stop, 0, cells), grid), stop


def _continuous_values(
    values: np.ndarray, expected: tuple[int, ...], batch: int | None, width: int
) -> np.ndarray:
    """Continuous actions ``(k, width)``, validated and clipped to [0, 1]."""
    shape = (*expected, width)
    if values.shape != shape:
        what = "(row, column) pair" if width == 2 else "(row, column, stop) triple"
        per = "" if batch is None else f", one {what} per sub-environment ({batch})"
        raise ValueError(
            f"continuous actions must have shape {shape}{per}, got shape {values.shape}: "
            f"{_show(values)}"
        )
    if values.dtype.kind not in "iuf":  # no bool, complex, datetime64, timedelta64, object
        raise ValueError(
            f"continuous actions must be real numbers, got dtype {values.dtype}: {_show(values)}; "
            "pass floats in [0, 1], e.g. np.array([0.5, 0.5], dtype=np.float32)"
        )
    values = values.reshape(-1, width)
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


def _tensor_values(tensor: torch.Tensor) -> np.ndarray:
    """A tensor action as a numpy array: detached, on the CPU, in a dtype numpy has."""
    if tensor.device.type == "meta":
        raise ValueError(
            f"actions are a tensor on the meta device (shape {tuple(tensor.shape)}, "
            f"{tensor.dtype}), which holds no values; compute the policy's output on a real "
            "device (cpu, cuda) and pass that"
        )
    tensor = tensor.detach()
    if tensor.device.type != "cpu":
        tensor = tensor.cpu()
    if tensor.is_floating_point() and tensor.dtype not in _NUMPY_FLOATS:
        tensor = tensor.float()  # bfloat16, float8: float32 holds every value exactly
    try:
        return tensor.numpy()
    except (TypeError, RuntimeError):  # dtypes numpy lacks: complex32, quantized, ...
        raise ValueError(
            f"actions are a {tensor.dtype} tensor, which has no numpy counterpart; pass floats "
            "in [0, 1] (continuous) or integer cells (grid), e.g. tensor.float()"
        ) from None


_NUMPY_FLOATS = (torch.float16, torch.float32, torch.float64)


def _show(value: Any, limit: int = 120) -> str:
    """A short text form of a (possibly large) action for error messages."""
    if isinstance(value, np.ndarray):
        text = np.array2string(
            value, threshold=8, edgeitems=2, separator=", ", max_line_width=10**6
        )
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
