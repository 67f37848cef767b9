"""The registry checks a factory against its ``data=`` and warns about registrations that spawned
workers cannot see."""

import multiprocessing
import sys
import types
import warnings

import pytest

from classifiers import create_classifier, get_entry, register_classifier, registry
from tests.helpers import tiny_gf


@pytest.fixture(autouse=True)
def scratch_registry(monkeypatch):
    """Registrations made here vanish after each test."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_a_model_for_other_canvases_than_its_data_is_refused():
    register_classifier("test-tiny-60-on-100", data="cluttered100")(lambda: tiny_gf(60))
    with pytest.raises(ValueError, match=r"60x60 images, .* data='cluttered100', .* 100x100"):
        create_classifier("test-tiny-60-on-100")


def test_the_check_reads_an_image_size_attribute_and_passes_matching_models():
    register_classifier("test-tiny-60", data="cluttered60")(lambda: tiny_gf(60))
    assert create_classifier("test-tiny-60").config.image_size == (60, 60)

    class Custom(types.SimpleNamespace):
        image_size = 60  # a user model that declares its size as an int

    register_classifier("test-custom-60", data="translated60")(Custom)
    assert isinstance(create_classifier("test-custom-60"), Custom)
    register_classifier("test-custom-on-100", data="cluttered100")(Custom)
    with pytest.raises(ValueError, match="60x60 images"):
        create_classifier("test-custom-on-100")


def test_registering_in_an_interactive_main_warns_about_spawn(monkeypatch):
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # no __file__

    def factory():
        return tiny_gf(60)

    factory.__module__ = "__main__"
    with pytest.warns(UserWarning, match="'test-main' is registered in an interactive __main__"):
        register_classifier("test-main")(factory)
    factory.__module__ = __name__  # an importable module: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_classifier("test-module")(factory)


def test_an_unknown_name_in_a_worker_says_why(monkeypatch):
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    with pytest.raises(KeyError, match="This is a worker process: a registration made in"):
        get_entry("test-registered-in-the-parent")
