"""Saved agents are read without running code from the file."""

import base64
import json
import pickle
import zipfile

import pytest

from agents.model_files import UnsafeModelError, safe_custom_objects
from agents.train import load_model


class _WritesAMarker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def _fake_agent(path, blob: bytes) -> None:
    entry = {":type:": "<class 'function'>", ":serialized:": base64.b64encode(blob).decode()}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps({"lr_schedule": entry, "gamma": 0.7}))


def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.zip"
    _fake_agent(path, pickle.dumps(_WritesAMarker(str(marker))))
    with pytest.raises(UnsafeModelError, match=r"'lr_schedule' wants _?io\.open.*trusted=True"):
        load_model("ppo", path)
    assert not marker.exists()


def test_allowed_entries_are_unpickled_and_plain_ones_left_to_sb3(tmp_path):
    from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule

    path = tmp_path / "agent.zip"
    _fake_agent(path, pickle.dumps(FloatSchedule(ConstantSchedule(3e-4))))
    objects = safe_custom_objects(path)
    assert list(objects) == ["lr_schedule"] and objects["lr_schedule"](0.5) == 3e-4


def test_files_that_are_not_agents(tmp_path):
    text = tmp_path / "notes.zip"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a saved Stable-Baselines3 agent"):
        load_model("ppo", text)
    with pytest.raises(FileNotFoundError, match="no saved agent at"):
        load_model("ppo", tmp_path / "missing.zip")
