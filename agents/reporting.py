"""Report output shared by the agents' commands and the benchmark scripts: tables and JSON, and
the checks a report needs before its runs start (its packages, distinct seeds)."""

from __future__ import annotations

import importlib
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


def require_modules(*modules: str) -> None:
    """Import ``modules`` now (what a report needs after hours of runs), so a missing or broken
    package stops a sweep before its first run.

    Raises:
        ImportError: a module fails to import; the message names its package and the fix.
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:  # a broken install fails with other errors too
            package = module.partition(".")[0]
            raise ImportError(
                f"the report needs {package!r}, which fails to import ({type(error).__name__}: "
                f"{error}); install it (pip install 'glance-focus[agents]') or repair it, then "
                "start again: nothing has run yet"
            ) from error


def check_seeds(seeds: Sequence[int]) -> None:
    """Refuse repeated seeds: ``--seeds 0 0`` would count one run as two independent seeds and
    narrow every interval over seeds.

    Raises:
        ValueError: names the repeated seeds.
    """
    repeated = sorted({seed for seed in seeds if list(seeds).count(seed) > 1})
    if repeated:
        raise ValueError(
            f"seeds {list(seeds)} repeat {repeated}; name each seed once (one run per seed)"
        )


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
