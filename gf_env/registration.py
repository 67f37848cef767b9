"""The environment ids, registered on ``import gf_env``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

ENTRY_POINT = "gf_env.glance_focus:GlanceFocusEnv"
VECTOR_ENTRY_POINT = "gf_env.vector:GlanceFocusVectorEnv"
IMAGENET_ENTRY_POINT = "gf_env.imagenet:make_imagenet_env"

ENVS: list[dict[str, Any]] = [
    {
        "id": "GlanceFocus-TranslatedMNIST-v0",
        "kwargs": {
            "data": "translated60",
            "classifier": "gf-mnist-translated60",
            "max_focus_steps": 4,
        },
    },
    {
        "id": "GlanceFocus-ClutteredMNIST-v0",
        "kwargs": {
            "data": "cluttered60",
            "classifier": "gf-mnist-cluttered60",
            "max_focus_steps": 4,
        },
    },
    {
        "id": "GlanceFocus-ClutteredMNIST100-v0",
        "kwargs": {
            "data": "cluttered100",
            "classifier": "gf-mnist-cluttered100",
            "max_focus_steps": 4,
        },
    },
]
OFFLINE_ENV_IDS = [spec["id"] for spec in ENVS]
IMAGENET_ENV_ID = "GlanceFocus-ImageNet-v0"


def register_envs() -> None:
    """Register every id with Gymnasium; safe to call again (e.g. in async vector workers)."""
    for spec in ENVS:
        if spec["id"] not in gym.registry:
            gym.register(
                id=spec["id"],
                entry_point=ENTRY_POINT,
                vector_entry_point=VECTOR_ENTRY_POINT,
                kwargs=spec["kwargs"],
                disable_env_checker=False,
            )
    if IMAGENET_ENV_ID not in gym.registry:
        gym.register(
            id=IMAGENET_ENV_ID,
            entry_point=IMAGENET_ENTRY_POINT,
            vector_entry_point=IMAGENET_ENTRY_POINT,
        )


def list_envs(offline_only: bool = False) -> list[str]:
    """The ids this package registers; ``offline_only`` leaves out those needing external data."""
    return list(OFFLINE_ENV_IDS) if offline_only else [*OFFLINE_ENV_IDS, IMAGENET_ENV_ID]
