"""Helpers shared by the tests: IDX writing and small random GF models."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from classifiers import GFConfig, GFModel


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def tiny_gf(image_size: int = 60, patch: int = 28, glance: int = 16, seed: int = 0) -> GFModel:
    """A small randomly initialised GF model (fast, no shipped weights needed)."""
    torch.manual_seed(seed)
    config = GFConfig(
        image_size=(image_size, image_size),
        patch_size=patch,
        glance_size=glance,
        hidden_size=32,
        backbone_kwargs={"widths": (8, 16), "embed_dim": 32},
    )
    return GFModel(config).eval()
