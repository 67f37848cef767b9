"""Report output shared by the agents' commands and the benchmark scripts: tables and JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifiers.checkpoint import atomic_write


def write_json(data: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (temporary file, sync, rename)."""
    text = json.dumps(data, indent=2).encode()
    return atomic_write(path, lambda handle: handle.write(text))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows under headers in aligned columns (floats with 3 decimals)."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)
