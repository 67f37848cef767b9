"""Small helpers every package shares: the ``"auto"`` device, did-you-mean hints, freezing, and
the forwarding of renamed modules.

They live in :mod:`classifiers`, the lowest layer, so that :mod:`gf_env` and :mod:`agents` use
the same rule instead of each writing its own.
"""

from __future__ import annotations

import difflib
import importlib
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import torch
from torch import nn

T = TypeVar("T")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"`` picks CUDA when present, else CPU.

    Raises:
        ValueError: ``device`` is not a device name, or names a CUDA/MPS device this machine does
            not have.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is not a device name; use 'cpu', 'cuda', 'cuda:<index>', 'mps', "
            "or None for CUDA when available, else CPU"
        ) from None
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (resolved.index or 0) >= count:
            raise ValueError(
                f"device={device!r} but this machine has {count} usable CUDA device(s); "
                "use device='cpu', or None to pick CUDA only when it is there"
            )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device={device!r} but MPS is not available here; use device='cpu' or None"
        )
    return resolved


def closest_names(name: Any, valid: Iterable[Any], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` names of ``valid`` closest to ``name`` (``difflib`` similarity >= ``cutoff``)."""
    return difflib.get_close_matches(str(name), [str(v) for v in valid], n=n, cutoff=cutoff)


def did_you_mean(name: Any, valid: Iterable[Any], n: int = 3, cutoff: float = 0.5) -> str:
    """``" Did you mean 'a', 'b'?"`` for the names of ``valid`` closest to ``name``; ``""`` if
    none is close. Meant to be appended to an error message."""
    close = closest_names(name, valid, n=n, cutoff=cutoff)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""


def name_hints(unknown: Iterable[Any], valid: Iterable[Any]) -> str:
    """``'x' (did you mean 'y'?), 'z'``: each unknown name with its closest valid name."""
    valid = list(valid)
    hints = []
    for key in unknown:
        close = closest_names(key, valid)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ", ".join(hints)


def freeze(classifier: T, device: str | torch.device | None = None) -> T:
    """Make a classifier ready to serve an environment, in place, and return it.

    An :class:`torch.nn.Module` is moved to ``device`` (unless ``None``), put in eval mode and its
    parameters stop requiring gradients: the environment only runs it under
    ``torch.inference_mode()`` and never trains it. Other objects implementing
    :class:`~classifiers.GlanceFocusClassifier` are returned unchanged (they manage themselves).
    Pass ``copy.deepcopy(model)`` to keep your own model trainable.
    """
    if isinstance(classifier, nn.Module):
        if device is not None:
            classifier.to(device)
        classifier.eval().requires_grad_(False)
    return classifier


def moved_module(old: str, new: str) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``old``, a module renamed to ``new``: every name of ``new``
    still resolves through ``old`` (``from old import name`` keeps working), with a
    ``DeprecationWarning`` that names the new import.

    A renamed module keeps a two-line file under its old name::

        from classifiers.utils import moved_module

        __getattr__ = moved_module(__name__, "classifiers.patches")
    """

    def __getattr__(name: str) -> Any:
        target = importlib.import_module(new)
        if name.startswith("__") or not hasattr(target, name):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f"{old} was renamed to {new}: import {name} from {new}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(target, name)

    return __getattr__
