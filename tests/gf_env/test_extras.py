"""Importing the agent toolkit without its extra names the extra to install."""

import subprocess
import sys
from pathlib import Path

import pytest

from gf_env.extras import EXTRAS, MissingExtraError, require_extra

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("module", "hidden"), [("agents", "stable_baselines3"), ("gf_env.sb3", "stable_baselines3")]
)
def test_import_without_the_extra_names_it(module, hidden):
    script = f"import sys; sys.modules[{hidden!r}] = None; import {module}"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("gf_env.extras.MissingExtraError: ")
    assert f"needs the 'agents' extra ({hidden} not installed)" in last
    assert 'pip install "glance-focus[agents]"' in last


def test_gf_env_imports_without_the_agent_extra():
    hidden = "; ".join(f"sys.modules[{name!r}] = None" for name in EXTRAS["agents"])
    script = f"import sys; {hidden}; import gf_env, gymnasium as gym; gym.make({'GlanceFocus-TranslatedMNIST-v0'!r})"
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)


def test_require_extra_lists_every_missing_module():
    with pytest.raises(
        MissingExtraError, match=r"\(no_such_module_a, no_such_module_b not installed\)"
    ):
        require_extra("agents", "no_such_module_a", "no_such_module_b", feature="this test")
    require_extra("agents", "numpy", feature="this test")  # present: no error
