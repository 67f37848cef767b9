"""A saved agent from elsewhere cannot make the loader import, construct or call anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agents.model_files import UnsafeModelError, safe_custom_objects
from agents.train import load_agent, load_model, make_agent, save_model
from classifiers.checkpoint import MAX_TEXT_MEMBER_BYTES, CheckpointError
from tests.agents.test_model_files import _fake_agent
from tests.helpers import tiny_ppo_config

ENV = "GlanceFocus-ClutteredMNIST-v0"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def saved_agent(tmp_path_factory) -> Path:
    """A real (untrained) PPO agent for the tiny env, saved as SB3 saves it."""
    out = tmp_path_factory.mktemp("agent")
    return save_model(make_agent(tiny_ppo_config(out, env=ENV)), out / "model.zip")


def rewrite(source: Path, target: Path, edit_data=None, extra: dict[str, bytes] | None = None):
    """Copy an agent zip (deflated), passing its ``data`` dict through ``edit_data`` and adding members."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            content = old.read(info)
            if info.filename == "data" and edit_data is not None:
                content = json.dumps(edit_data(json.loads(content))).encode()
            new.writestr(info.filename, content, zipfile.ZIP_DEFLATED)
        for name, content in (extra or {}).items():
            new.writestr(name, content)
    return target


@pytest.fixture
def evil_module(tmp_path, monkeypatch) -> Path:
    """A module ``evilmod`` on ``sys.path`` whose import writes a marker file."""
    marker = tmp_path / "marker"
    (tmp_path / "evilmod.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    sys.modules.pop("evilmod", None)


def test_a_plain_env_entry_runs_nothing(saved_agent, tmp_path, evil_module):
    path = rewrite(saved_agent, tmp_path / "x.zip", lambda data: {**data, "env": "evilmod:Nope-v0"})
    assert load_model("ppo", path).get_env() is None
    policy, env_kwargs = load_agent("ppo", path)
    assert policy.get_env() is None and env_kwargs == {"observation": "dict"}
    assert not evil_module.exists() and "evilmod" not in sys.modules
    # the command line, run from the folder that holds evilmod.py (first on sys.path under -m)
    command = [sys.executable, "-m", "agents.cli", "evaluate", "--agent", "ppo", "--model",
               str(path), "--env", ENV, "--test-images", "2"]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "step 1: accuracy" in run.stdout and not evil_module.exists()


def test_parameter_files_must_name_public_attributes(saved_agent, tmp_path):
    with zipfile.ZipFile(saved_agent) as archive:
        policy = archive.read("policy.pth")
    path = rewrite(saved_agent, tmp_path / "x.zip", extra={"policy.__class__.pth": policy})
    with pytest.raises(ValueError, match=r"'policy\.__class__\.pth' is not a parameter file SB3"):
        load_model("ppo", path)


def test_a_global_under_an_allowed_package_is_checked_before_any_import(tmp_path, monkeypatch):
    import agents

    marker = tmp_path / "marker"
    (tmp_path / "side_effect.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nclass Policy: pass\n"
    )
    monkeypatch.setattr(agents, "__path__", [*agents.__path__, str(tmp_path)])
    blob = b"\x80\x02cagents.side_effect\nPolicy\n)\x81."  # Policy.__new__(Policy)
    path = tmp_path / "agent.zip"
    _fake_agent(path, blob)
    with pytest.raises(UnsafeModelError, match=r"wants agents\.side_effect\.Policy"):
        safe_custom_objects(path)
    assert not marker.exists() and "agents.side_effect" not in sys.modules


def test_members_that_inflate_beyond_the_cap_are_not_read(saved_agent, tmp_path, monkeypatch):
    padding = " " * (MAX_TEXT_MEMBER_BYTES + 1)  # a 64 MiB 'data' entry from a 64 KiB file
    path = rewrite(saved_agent, tmp_path / "bomb.zip", lambda data: {**data, "pad": padding})
    assert path.stat().st_size < 200_000
    with pytest.raises(CheckpointError, match=r"member 'data' inflates to 67,1\d\d,\d{3} bytes, more "
                       r"than the 67,108,864 allowed .*GF_MAX_MEMBER_BYTES=BYTES"):  # fmt: skip
        load_model("ppo", path)
    monkeypatch.setenv("GF_MAX_MEMBER_BYTES", "1e9")
    assert "lr_schedule" in safe_custom_objects(path)  # read once the cap is raised
    monkeypatch.setenv("GF_MAX_MEMBER_BYTES", "50000")
    with pytest.raises(CheckpointError, match=r"member 'policy.pth' inflates to [\d,]+ bytes"):
        load_model("ppo", saved_agent)


def test_a_saved_agent_refuses_another_number_of_focus_steps(saved_agent):
    from agents.policies import load_policy

    with pytest.raises(ValueError, match=r"trained with 4 focus steps.*max_focus_steps=1"):
        load_policy("ppo", saved_agent, ENV, max_focus_steps=1)
    _, env_kwargs = load_policy("ppo", saved_agent, ENV, max_focus_steps=4)
    assert env_kwargs["max_focus_steps"] == 4


def _edit_policy(saved_agent: Path, target: Path, edit) -> Path:
    """Copy an agent zip with its ``policy.pth`` state dict passed through ``edit``."""
    import io

    import torch

    with zipfile.ZipFile(saved_agent) as archive:
        state = torch.load(io.BytesIO(archive.read("policy.pth")), weights_only=True)
    buffer = io.BytesIO()
    torch.save(edit(state), buffer)
    with zipfile.ZipFile(saved_agent) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            content = buffer.getvalue() if info.filename == "policy.pth" else old.read(info)
            new.writestr(info.filename, content)
    return target


def test_an_agent_with_missing_weights_is_refused_naming_them(saved_agent, tmp_path):
    # SB3 loads a file without pi_features_extractor weights as one of SB3 < 1.7, leaving random
    # weights in their place after a warning; any other missing weight is an internal error
    def without(prefix):
        return lambda state: {k: v for k, v in state.items() if not k.startswith(prefix)}

    old_style = _edit_policy(saved_agent, tmp_path / "a.zip", without("pi_features_extractor."))
    with pytest.raises(ValueError, match=r"a\.zip': its weights lack \"pi_features_extractor\..*"
                       r"random weights in their place, so it was not loaded"):  # fmt: skip
        load_model("ppo", old_style)
    no_head = _edit_policy(saved_agent, tmp_path / "b.zip", without("action_net."))
    with pytest.raises(ValueError, match=r"its weights lack \"action_net\.weight\", \"action_net"):
        load_model("ppo", no_head)
    shape = _edit_policy(
        saved_agent, tmp_path / "c.zip", lambda s: {**s, "log_std": s["log_std"].repeat(2)}
    )
    with pytest.raises(ValueError, match=r"do not fit the model .*size mismatch for log_std"):
        load_model("ppo", shape)


def test_pytorch_variables_may_only_name_the_variables_sb3_saves(saved_agent, tmp_path):
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"policy.log_std.__class__.__base__": torch.tensor([42.0])}, buffer)
    path = rewrite(
        saved_agent, tmp_path / "x.zip", extra={"pytorch_variables.pth": buffer.getvalue()}
    )
    with pytest.raises(ValueError, match=r"pytorch_variables\.pth sets 'policy\.log_std\.__class__"
                       r"\.__base__' to a Tensor; SB3 saves only the tensors \['ent_coef_tensor', "
                       r"'log_ent_coef'\]"):  # fmt: skip
        load_model("ppo", path)
    assert torch.equal(torch.zeros(3).data, torch.zeros(3))  # torch.Tensor.data untouched


def _agent_with(path: Path, blob: bytes, key: str = "lr_schedule") -> Path:
    import base64

    entry = {":type:": "<class 'object'>", ":serialized:": base64.b64encode(blob).decode()}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps({key: entry}))
    return path


def test_allowed_classes_are_never_called_with_the_files_arguments(tmp_path):
    # MultiheadAttention(8, 1): with 30000 it would allocate 10.8 GB
    attention = b"\x80\x02ctorch.nn.modules.activation\nMultiheadAttention\nK\x08K\x01\x86R."
    with pytest.raises(UnsafeModelError, match=r"'lr_schedule' calls MultiheadAttention with "
                       r"arguments from the file; a saved agent records values"):  # fmt: skip
        safe_custom_objects(_agent_with(tmp_path / "a.zip", attention))
    # VectorizedActionNoise(NormalActionNoise.__new__(...), 3): its constructor deep-copies n_envs
    noise = (b"\x80\x02cstable_baselines3.common.noise\nVectorizedActionNoise\n"
             b"cstable_baselines3.common.noise\nNormalActionNoise\n)\x81K\x03\x86R.")  # fmt: skip
    with pytest.raises(UnsafeModelError, match=r"calls VectorizedActionNoise with arguments"):
        safe_custom_objects(_agent_with(tmp_path / "b.zip", noise, "action_noise"))
    # an attribute set on a class (not on an object the file made) would change it for everyone
    on_class = (b"\x80\x02cstable_baselines3.common.utils\nConstantSchedule\n"
                b"N}X\x03\x00\x00\x00valK\x07s\x86b.")  # fmt: skip
    with pytest.raises(UnsafeModelError, match=r"sets the state of <class 'stable_baselines3"):
        safe_custom_objects(_agent_with(tmp_path / "c.zip", on_class))
    from stable_baselines3.common.utils import ConstantSchedule

    assert "val" not in vars(ConstantSchedule)


def test_schedules_and_noises_are_rebuilt_from_their_recorded_values(tmp_path):
    import pickle

    import numpy as np
    import torch
    from stable_baselines3.common.noise import NormalActionNoise, VectorizedActionNoise
    from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule

    # an object of an allowed class where a schedule belongs is refused, not called
    module = pickle.dumps(torch.nn.ReLU())
    with pytest.raises(UnsafeModelError, match=r"'lr_schedule' holds ReLU\(\) \(ReLU\) where SB3 "
                       r"saves a schedule"):  # fmt: skip
        safe_custom_objects(_agent_with(tmp_path / "a.zip", module))
    schedule = safe_custom_objects(
        _agent_with(tmp_path / "b.zip", pickle.dumps(LinearSchedule(1.0, 0.0, 0.5)))
    )["lr_schedule"]
    assert type(schedule) is LinearSchedule and schedule(0.75) == 0.5
    with pytest.raises(UnsafeModelError, match=r"holds '3e-4' \(str\) where SB3 saves a number"):
        safe_custom_objects(_agent_with(tmp_path / "c.zip", pickle.dumps(ConstantSchedule("3e-4"))))
    # one noise named 1,000 times (cheap in a pickle) stays one noise, shared
    base = NormalActionNoise(np.zeros(2), np.full(2, 0.1))
    vector = VectorizedActionNoise(base, 1)
    vector.__dict__.update(n_envs=1000, _noises=[base] * 1000)
    noise = safe_custom_objects(
        _agent_with(tmp_path / "d.zip", pickle.dumps(vector), "action_noise")
    )["action_noise"]
    assert len(noise.noises) == 1000 and len({id(n) for n in noise.noises}) == 1
    assert noise().shape == (1000, 2)


def test_nested_archives_count_towards_the_caps(tmp_path, monkeypatch):
    import io

    def agent(path, inner_sizes):
        # policy.pth: a zip of its own whose records deflate to almost nothing
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
            for index, size in enumerate(inner_sizes):
                archive.writestr(f"archive/data/{index}", bytes(size))
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("data", json.dumps({"gamma": 0.7}))
            archive.writestr("policy.pth", inner.getvalue())
        return path

    monkeypatch.setenv("GF_MAX_MEMBER_BYTES", "4000")
    deep = agent(tmp_path / "deep.zip", [5000])
    assert zipfile.ZipFile(deep).getinfo("policy.pth").file_size < 4000
    with pytest.raises(CheckpointError, match=r"deep\.zip:policy\.pth': member 'archive/data/0' "
                       r"inflates to 5,000 bytes, more than the 4,000 allowed"):  # fmt: skip
        safe_custom_objects(deep)
    monkeypatch.setenv("GF_MAX_FILE_BYTES", "10000")
    wide = agent(tmp_path / "wide.zip", [3500, 3500, 3500])
    with pytest.raises(CheckpointError, match=r"members inflate to more than 10,000 bytes together "
                       r"\(10,5\d\d bytes by member 'policy\.pth'"):  # fmt: skip
        safe_custom_objects(wide)
    monkeypatch.setenv("GF_MAX_FILE_BYTES", "20000")
    assert safe_custom_objects(wide) == {}
