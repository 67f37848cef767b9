"""Importing the agent toolkit without its extra names the extra to install."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gf_env.install import EXTRAS, MissingExtraError, require_extra

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
    assert last.startswith("gf_env.install.MissingExtraError: ")
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


def _shadowing_distribution(folder, package):
    """A folder holding another distribution's top-level ``package`` (with its dist-info)."""
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text("")
    info = folder / "other_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: other-dist\nVersion: 1.0\n")
    (info / "top_level.txt").write_text(f"{package}\n")
    return folder


def test_a_shadowed_classifiers_package_is_named_on_import(tmp_path):
    site = _shadowing_distribution(tmp_path / "site", "classifiers")
    result = subprocess.run(
        [sys.executable, "-c", "import gf_env"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("gf_env.install.ShadowedPackageError: ")
    assert f"'classifiers' is {site / 'classifiers'} (installed by other-dist)" in last
    assert f"not {ROOT / 'classifiers'}" in last and "pip uninstall other-dist" in last


def test_the_command_names_a_shadowed_agents_package(tmp_path):
    site = _shadowing_distribution(tmp_path / "site", "agents")
    script = "import sys; from gf_env.install import glance_focus_command as c; c(['--help'])"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("glance-focus: the top-level package 'agents' of glance-focus")
    assert "(installed by other-dist)" in result.stderr
