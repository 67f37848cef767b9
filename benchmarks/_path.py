"""Imported first by each benchmark script.

``python benchmarks/<script>.py`` puts this folder on ``sys.path``, where ``benchmarks/classifiers.py``
would shadow the ``classifiers`` package. Put the repository root there instead, which also makes
``benchmarks._report`` importable.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]
