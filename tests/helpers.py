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


def tiny_ppo_config(out, env: str = "GlanceFocus-ClutteredMNIST-v0", **overrides):
    """An ``AgentConfig`` for a PPO run of a few seconds (tiny nets, one short rollout)."""
    from agents.train import AgentConfig

    settings = {
        "env": env,
        "timesteps": 64,
        "num_envs": 4,
        "eval_images": 4,
        "features_dim": 16,
        "hp": {"n_steps": 8, "batch_size": 32, "n_epochs": 1, "policy_kwargs": {"net_arch": [16]}},
        "out": str(out),
        "progress": False,
    }
    return AgentConfig(**{**settings, **overrides})


def cli_error(text: str) -> str:
    """A command-line error as one line: tyro's box drawing and line wrapping removed."""
    return " ".join("".join(c if not 0x2500 <= ord(c) <= 0x257F else " " for c in text).split())


def break_package(monkeypatch, folder: Path, name: str) -> None:
    """Make ``import name`` fail, as a missing or broken install does, until the test ends: a
    package ``name`` that raises on import, first on ``sys.path``, and no cached copy."""
    import sys

    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(f"raise ImportError('{name} is broken (a test)')\n")
    monkeypatch.syspath_prepend(str(folder))
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        monkeypatch.delitem(sys.modules, module)
