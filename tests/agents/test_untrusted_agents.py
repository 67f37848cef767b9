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
