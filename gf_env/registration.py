"""The environment ids, registered on ``import gf_env``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

ENTRY_POINT = "gf_env.glance_focus:GlanceFocusEnv"
VECTOR_ENTRY_POINT = "gf_env.vector:GlanceFocusVectorEnv"
IMAGE_FOLDER_ENVS = {
    "GlanceFocus-Imagenette-v0": (
        "gf_env.image_folders:make_imagenette_env",
        "gf_env.image_folders:make_imagenette_vector_env",
    ),
    "GlanceFocus-ImageNet-v0": (
        "gf_env.image_folders:make_imagenet_env",
        "gf_env.image_folders:make_imagenet_vector_env",
    ),
    "GlanceFocus-ImageFolder-v0": (
        "gf_env.image_folders:make_folder_env",
        "gf_env.image_folders:make_folder_vector_env",
    ),
}
"""Ids over image folders on disk: ``(entry point, vector entry point)``."""

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
    {
        "id": "GlanceFocus-LargeMNIST-v0",
        "kwargs": {"data": "large112", "classifier": "gf-mnist-large112", "max_focus_steps": 4},
    },
    {
        "id": "GlanceFocus-MaxMNIST-v0",
        "kwargs": {"data": "max2x84", "classifier": "gf-mnist-max2x84", "max_focus_steps": 4},
    },
    {
        "id": "GlanceFocus-SearchMNIST-v0",
        "kwargs": {
            "data": "search2x128",
            "classifier": "gf-mnist-search2x128",
            "max_focus_steps": 4,
        },
    },
]
OFFLINE_ENV_IDS = [spec["id"] for spec in ENVS]
IMAGENET_ENV_ID = "GlanceFocus-ImageNet-v0"
IMAGENETTE_ENV_ID = "GlanceFocus-Imagenette-v0"
FOLDER_ENV_ID = "GlanceFocus-ImageFolder-v0"


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
    for env_id, (entry_point, vector_entry_point) in IMAGE_FOLDER_ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point)


def list_envs(offline_only: bool = False) -> list[str]:
    """The ids this package registers; ``offline_only`` leaves out those needing external data
    (an image folder on disk)."""
    return list(OFFLINE_ENV_IDS) if offline_only else [*OFFLINE_ENV_IDS, *IMAGE_FOLDER_ENVS]
