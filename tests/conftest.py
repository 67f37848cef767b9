"""Shared fixtures: a tiny MNIST folder in torchvision's layout and a small random GF model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifiers import GFModel
from tests.helpers import tiny_gf, write_idx


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory) -> Path:
    """``root/MNIST/raw`` with 30 train and 20 test digits; train images gzipped, the rest not."""
    root = tmp_path_factory.mktemp("mnist")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count, compress in (("train", 30, True), ("t10k", 20, False)):
        images = (rng.random((count, 28, 28)) > 0.8).astype(np.uint8) * 255
        labels = np.arange(count) % 10
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, False)
    return root


@pytest.fixture
def tiny_model() -> GFModel:
    return tiny_gf()
