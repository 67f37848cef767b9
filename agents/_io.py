"""Atomic JSON writing for run summaries and reports."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json(data: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
    return path
