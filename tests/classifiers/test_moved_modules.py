"""Renamed modules keep their old import paths, with a warning that names the new one."""

import importlib
import warnings

import pytest
from gymnasium.envs.registration import load_env_creator

from classifiers.testing import FakeClassifier
from classifiers.utils import moved_module
from tests.image_folder import write_folder

MOVED = [
    ("classifiers.ops", "classifiers.patches", "patch_corners"),
    ("classifiers.mnist", "classifiers.mnist_models", "FULL_MNIST_TAG"),
    ("gf_env.imagenet", "gf_env.image_folders", "make_folder_env"),
    ("gf_env.imagenet", "gf_env.image_folders", "ImageNetUnavailableError"),
]


@pytest.mark.parametrize(("old", "new", "name"), MOVED)
def test_an_old_name_is_the_new_object_with_a_deprecation_warning(old, new, name):
    with pytest.warns(DeprecationWarning, match=rf"{old} was renamed to {new}: import {name}"):
        value = getattr(importlib.import_module(old), name)
    assert value is getattr(importlib.import_module(new), name)


def test_the_warning_points_at_the_importing_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from classifiers.ops import crop_patches  # noqa: F401
    assert [w.filename for w in caught] == [__file__]


def test_a_name_neither_module_has_is_an_attribute_error_of_the_old_module():
    getattr_ = moved_module("classifiers.ops", "classifiers.patches")
    with pytest.raises(AttributeError, match=r"module 'classifiers\.ops' has no attribute 'nope'"):
        getattr_("nope")
    with pytest.raises(AttributeError):
        getattr_("__path__")  # import machinery probes stay silent
    with pytest.raises(ImportError):
        exec("from classifiers.ops import nope")


def test_the_old_entry_points_still_build_envs(tmp_path):
    kwargs = {"root": str(write_folder(tmp_path / "images")), "max_focus_steps": 2, "workers": 0}
    kwargs["classifier"] = FakeClassifier(num_classes=3, in_chans=3, patch_size=96)
    with pytest.warns(DeprecationWarning, match="gf_env.image_folders"):
        make_env = load_env_creator("gf_env.imagenet:make_folder_env")
        make_vector_env = load_env_creator("gf_env.imagenet:make_folder_vector_env")
    env, vector = make_env(**kwargs), make_vector_env(num_envs=2, **kwargs)
    assert env.num_classes == 3 and vector.num_envs == 2
    env.close()
    vector.close()
