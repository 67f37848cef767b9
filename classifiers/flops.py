"""FLOP counting with PyTorch's own ``torch.utils.flop_counter``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_flops(fn: Callable[..., object], *args: torch.Tensor) -> int:
    """Floating-point operations of ``fn(*args)`` (one multiply-add counts as 2)."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        fn(*args)
    return int(counter.get_total_flops())
