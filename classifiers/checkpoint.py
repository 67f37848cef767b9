"""Checkpoint files: written atomically, read with ``torch.load(weights_only=True)`` only."""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

FORMAT = "glance-focus-classifier"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint for the requested model."""


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write`` on a temporary file beside ``path``, sync it, then rename it over ``path``.

    A crash leaves either the old file or the new one, never a truncated one; concurrent writers
    each get their own temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically (:func:`atomic_write`)."""
    return atomic_write(path, lambda handle: torch.save(obj, handle))


def load_file(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint file safely; only tensors and plain containers are accepted."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"checkpoint {str(path)!r} is a folder; pass the file inside it (e.g. {str(path / 'last.pt')!r})"
        )
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is empty (0 bytes); the write that made it was cut short: "
            "re-export or re-download it"
        )
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if isinstance(exc, pickle.UnpicklingError) and unsafe:
            raise CheckpointError(
                f"refused to load {str(path)!r}: it holds a {unsafe.group(1)} object that only "
                "arbitrary code could rebuild (torch.load(weights_only=True) refuses it), which is "
                "unsafe for files from elsewhere. Re-save it as a dict of tensors."
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", str(exc))
        detail = detail.group(1) if detail else (str(exc).splitlines() or [""])[0]
        raise CheckpointError(
            f"{str(path)!r} is not a readable checkpoint (truncated or corrupt?): "
            f"{type(exc).__name__}: {detail}; re-export it, or re-download it and compare its size"
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{str(path)!r} holds a {type(data).__name__}, expected a dict")
    return data


def classifier_checkpoint(name: str, model: nn.Module, **meta: Any) -> dict[str, Any]:
    """The dict a classifier is saved as: format tag, registry name, config, weights, metadata.

    Args:
        name: the registry name to load it as (any label for an unregistered model).
        model: any ``nn.Module``; its ``config.to_dict()`` is recorded when it has one (then
            :func:`load_into` checks the architecture), else the config is ``None``.
        **meta: JSON-like metadata (how the weights were made).
    """
    to_dict = getattr(getattr(model, "config", None), "to_dict", None)
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "name": name,
        "config": to_dict() if callable(to_dict) else None,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta,
    }


def load_into(model: nn.Module, data: dict[str, Any], source: str = "checkpoint") -> None:
    """Load a classifier checkpoint dict into ``model``, checking config and keys.

    Raises:
        CheckpointError: the file is for another architecture or patch size, or its keys or
            shapes do not match; the message names the differences.
    """
    if data.get("format") != FORMAT or "state_dict" not in data:
        raise CheckpointError(
            f"{source} is not a glance-focus classifier checkpoint (keys: {sorted(data)[:8]}); "
            "expected one written by classifiers.train or save_atomic(classifier_checkpoint(...))"
        )
    saved = data.get("config")
    state = data["state_dict"]
    if saved is not None and not isinstance(saved, dict):
        raise CheckpointError(
            f"{source} has a {type(saved).__name__} under 'config', expected a dict or None; "
            "the file was not written by classifier_checkpoint()"
        )
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(
            f"{source} has a malformed 'state_dict' ({type(state).__name__}); expected a dict of "
            "parameter names to tensors, as model.state_dict() gives"
        )
    config = getattr(model, "config", None)
    if config is not None and saved is not None:
        current = config.to_dict()
        diff = {k: (saved.get(k), v) for k, v in current.items() if _norm(saved.get(k)) != _norm(v)}
        if diff:
            detail = ", ".join(f"{k}: file {a!r} vs model {b!r}" for k, (a, b) in diff.items())
            raise CheckpointError(
                f"{source} was saved for another architecture ({detail}); create the classifier "
                f"the file was trained as (its registry name is {data.get('name')!r})"
            )
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{source} does not match the model: missing keys {missing[:10]}, unexpected keys "
            f"{unexpected[:10]}, shape mismatches {shapes[:10]}"
        )
    broken = sorted(k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all())
    if broken:
        raise CheckpointError(
            f"{source} holds NaN or infinite weights in {broken[:10]}; the training that wrote it "
            "diverged: use an earlier checkpoint or retrain with a lower learning rate"
        )
    model.load_state_dict(state)


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value
