"""Gymnasium environments for glance-and-focus patch selection.

>>> import gymnasium as gym
>>> import gf_env
>>> env = gym.make("GlanceFocus-ClutteredMNIST100-v0")
"""

from gf_env.install import check_own_packages

check_own_packages("classifiers")  # before the first import of it, which would fail deep inside

from gf_env.async_vector import ReportingAsyncVectorEnv, WorkerDiedError, make_async_vec
from gf_env.config import EnvConfig
from gf_env.engine import EpisodeStateError, GlanceFocusEngine
from gf_env.glance_focus import GlanceFocusEnv
from gf_env.image_folders import ImageNetUnavailableError
from gf_env.registration import list_envs, register_envs
from gf_env.vector import GlanceFocusVectorEnv

register_envs()  # the only effect of importing this package

__all__ = [
    "EnvConfig",
    "EpisodeStateError",
    "GlanceFocusEngine",
    "GlanceFocusEnv",
    "GlanceFocusVectorEnv",
    "ImageNetUnavailableError",
    "ReportingAsyncVectorEnv",
    "WorkerDiedError",
    "list_envs",
    "make_async_vec",
    "register_envs",
]
