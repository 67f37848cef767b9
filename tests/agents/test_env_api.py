"""agents/ uses only the public env API: no engine, no config internals, no private names."""

import ast
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import agents
from agents.cli import main
from agents.env_api import env_attr
from agents.policies import load_policy, policy_names
from classifiers.testing import FakeClassifier
from gf_env.sb3 import make_sb3_vec_env
from tests.helpers import cli_error

AGENTS = Path(agents.__file__).parent
ENV = "GlanceFocus-ClutteredMNIST-v0"
FORBIDDEN_MODULES = ("gf_env.engine", "gf_env.config", "gf_env.actions", "gf_env.rendering")


def _violations(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            names = []
        found += [f"imports {n}" for n in names if n.startswith(FORBIDDEN_MODULES)]
        if isinstance(node, ast.Attribute) and node.attr in ("engine", "to_locations"):
            found.append(f"touches .{node.attr} (line {node.lineno})")
    return [f"{path.name}: {v}" for v in found]


def test_agents_use_only_the_public_env_api():
    files = sorted(AGENTS.glob("*.py"))
    assert len(files) > 10
    violations = [v for path in files for v in _violations(path)]
    assert violations == []


def test_the_scan_catches_what_it_forbids(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from gf_env.config import to_locations\nimport gf_env.engine\nx = env.engine\n")
    assert len(_violations(bad)) == 4


def test_env_attributes_reach_through_every_face():
    fake = {"classifier": FakeClassifier(patch_size=28)}
    single = gym.make(ENV, **fake)  # wrapped by Gymnasium (order enforcing, checker)
    vector = gym.make_vec(ENV, num_envs=3, **fake)
    sb3 = make_sb3_vec_env(ENV, num_envs=3, **fake)  # VecMonitor over the SB3 adapter
    for env in (single, vector, sb3):
        assert env_attr(env, "patch_size") == 28
        assert env_attr(env, "image_size") == (60, 60)
        assert env_attr(env, "max_focus_steps") == 4
        assert env_attr(env, "num_images") == 4000  # the train split
        assert env_attr(env, "grid_size") == 3
        assert env_attr(env, "feature_shape") == (4, 2, 2)
        assert env_attr(env, "step_flops").cumulative(2) == 3 * FakeClassifier().step_flops().focus
    with pytest.raises(AttributeError):
        env_attr(single, "no_such_attribute")


def test_load_policy_names_and_errors():
    assert {"random", "saliency", "oracle", "ppo", "gfnet"} <= set(policy_names())
    policy, env_kwargs = load_policy("saliency", None, ENV)
    assert policy.max_focus_steps == 4 and env_kwargs == {"observation": "dict"}
    policy, env_kwargs = load_policy("center", None, ENV, max_focus_steps=2)
    assert policy.max_focus_steps == 2 and env_kwargs == {"max_focus_steps": 2}
    with pytest.raises(ValueError, match="Did you mean 'raster'"):
        load_policy("rastr", None, ENV)
    with pytest.raises(ValueError, match=r"needs the path of its saved model\.zip"):
        load_policy("ppo", None, ENV)
    with pytest.raises(ValueError, match="takes no model file"):
        load_policy("center", "model.zip", ENV)


def test_evaluate_max_focus_steps_sets_the_env_too(capsys):
    # before load_policy, --max-focus-steps changed the baseline but not the env, and bind failed
    argv = ["evaluate", "--env", ENV, "--agent", "center", "--max-focus-steps", "2"]
    assert main([*argv, "--test-images", "8"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["step 0", "step 1", "step 2"]


def test_unknown_agent_on_the_command_line(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--agent", "oracel"])
    assert "Did you mean 'oracle'" in cli_error(capsys.readouterr().err)


def test_env_attr_needs_a_known_kind_of_env():
    with pytest.raises(AttributeError, match="has no get_attr"):
        env_attr(np.zeros(3), "patch_size")
