"""Fingerprints of training runs: what must match for a resume to continue a checkpoint.

A run stores in ``last.pt`` the settings that change the weights it computes (every field but
:data:`RESULT_NEUTRAL`) and hashes of its training data and starting weights. A resume compares
them with its own and refuses, naming the differences, when they differ, so a checkpoint made with
other epochs, learning rate, data or policy is never silently continued.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.data import ImageSource

RESULT_NEUTRAL = (
    *("resume", "progress", "out", "export", "threads", "workers", "device"),
    *("eval_images", "eval_every"),
)
"""Settings that do not change the weights a run computes; left out of its fingerprint."""


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (identifies weights and policies in fingerprints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def settings_fingerprint(settings: Any, **extra: Any) -> dict[str, Any]:
    """The fingerprint of a run: every field of the dataclass ``settings`` that changes what the run
    computes (all but :data:`RESULT_NEUTRAL`), plus ``extra`` (e.g. data and weight hashes), as
    JSON-able values."""
    fields = {k: v for k, v in vars(settings).items() if k not in RESULT_NEUTRAL}
    return json.loads(json.dumps({**fields, **extra}, sort_keys=True, default=str))


def differences(
    old: dict[str, Any], new: dict[str, Any], template: str = "{key}: {old!r} -> {new!r}"
) -> list[str]:
    """``template`` filled for every key whose value differs between ``old`` and ``new``
    (sorted by key; a key missing on one side counts as ``None`` there)."""
    return [
        template.format(key=key, old=old.get(key), new=new.get(key))
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def fingerprint_differences(saved: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """``"name: checkpoint X, now Y"`` for every entry that differs (all, if ``saved`` is None)."""
    if saved is None:
        return ["the checkpoint records no settings (written by an older version)"]
    return differences(saved, current, "{key}: checkpoint {old!r}, now {new!r}")


def source_fingerprint(data: ImageSource) -> dict[str, Any]:
    """What identifies a training source's contents: the digits of MNIST canvases (count and a
    hash of pixels and labels), the files of an image folder (count and a hash of their paths
    and labels), else the source's type and size."""
    digits = getattr(data, "digits", None)
    if digits is not None:
        return {"digits": len(digits), "digits_sha256": array_sha256(digits.images, digits.labels)}
    items = getattr(data, "items", None)
    if isinstance(items, list):
        root = Path(getattr(data, "root", "."))
        listing = "\n".join(f"{Path(p).relative_to(root)}\t{label}" for p, label in items)
        return {
            "images": len(items),
            "listing_sha256": hashlib.sha256(listing.encode()).hexdigest(),
        }
    return {"source": type(data).__name__, "images": len(data)}


def array_sha256(*arrays: np.ndarray) -> str:
    """Hex SHA-256 of arrays' shapes, dtypes and bytes (identifies data and weights)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
