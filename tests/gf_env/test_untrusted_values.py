"""Values from outside (a file, a command line, an agent) are checked before they are used."""

import numpy as np
import pytest

import gf_env  # noqa: F401
from classifiers.testing import FakeClassifier
from gf_env import EnvConfig, GlanceFocusEnv
from gf_env.config import MAX_FLOPS_COST
from gf_env.sb3 import make_sb3_vec_env

ENV_ID = "GlanceFocus-ClutteredMNIST-v0"  # 60x60, P = 28: a 3x3 grid
FAKE = {"data": "cluttered60", "classifier": FakeClassifier(patch_size=28)}


@pytest.mark.parametrize(
    "cost", [1e308, 1e38, 10**300, MAX_FLOPS_COST * 1.01], ids=["1e308", "1e38", "10**300", "above"]
)
def test_a_flops_cost_that_would_make_rewards_infinite_is_refused(cost):
    # 1e308 gave -inf rewards; 10**300 a TypeError from np.isfinite
    with pytest.raises(ValueError, match=r"flops_cost must be a finite number >= 0 and at most "
                       r"1e\+06 \(reward per MFLOP; a larger price makes rewards overflow"):  # fmt: skip
        EnvConfig(stop_action=True, flops_cost=cost)
    with pytest.raises(ValueError, match=r"flops_cost must be .* at most 1e\+06"):
        make_sb3_vec_env(ENV_ID, num_envs=1, stop_action=True, flops_cost=cost, **FAKE)


def test_the_highest_flops_cost_keeps_rewards_finite():
    env = GlanceFocusEnv(stop_action=True, flops_cost=MAX_FLOPS_COST, **FAKE)
    env.reset(seed=0)
    _, reward, *_ = env.step(np.array([0.5, 0.5, 0.0], np.float32))
    assert np.isfinite(np.float32(reward)) and reward < -1


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"checkpoint": 1}, r"checkpoint must be str or PathLike or None, got 1 \(int\)"),
        ({"mnist_root": 3.5}, r"mnist_root must be str or PathLike or None, got 3\.5"),
        ({"split": 0}, r"split must be str, got 0 \(int\)"),
    ],
)
def test_arguments_of_the_wrong_type_are_refused_naming_the_key(kwargs, says):
    with pytest.raises(ValueError, match=says):
        EnvConfig(**kwargs)
    with pytest.raises(ValueError, match=says):
        EnvConfig.check_types(kwargs)


def test_check_types_leaves_object_arguments_and_unknown_names_to_the_env():
    EnvConfig.check_types({"data": object(), "classifier": 3, "nonsense": 1, "grid_size": None})
    with pytest.raises(ValueError, match=r"max_focus_steps must be int, got '3' \(str\); write it"):
        EnvConfig.check_types({"max_focus_steps": "3"})
    with pytest.raises(ValueError, match=r"stop_action must be bool, got 1 \(int\)"):
        EnvConfig.check_types({"stop_action": 1})


@pytest.fixture
def tianshou_adapter(monkeypatch):
    """``gf_env.tianshou`` imported over a stand-in for Tianshou's ``BaseVectorEnv`` (the adapter
    uses only its id and closed-state helpers), so its checks run without Tianshou installed."""
    import sys
    import types

    class BaseVectorEnv:
        def _wrap_id(self, id=None):
            return list(range(self.env_num)) if id is None else list(np.atleast_1d(id))

        def _assert_is_not_closed(self):
            assert not self.is_closed

    tianshou = types.ModuleType("tianshou")
    tianshou.env = types.ModuleType("tianshou.env")
    tianshou.env.BaseVectorEnv = BaseVectorEnv
    monkeypatch.setitem(sys.modules, "tianshou", tianshou)
    monkeypatch.setitem(sys.modules, "tianshou.env", tianshou.env)
    monkeypatch.delitem(sys.modules, "gf_env.tianshou", raising=False)
    import gf_env.tianshou as adapter

    yield adapter
    sys.modules.pop("gf_env.tianshou", None)


@pytest.mark.parametrize(
    "action",
    [[2.9, 0], ["4", "0"], [True, False], [float("nan"), 0]],
    ids=["fraction", "string", "bool", "nan"],
)
def test_the_tianshou_adapter_checks_grid_actions_before_casting_them(tianshou_adapter, action):
    envs = tianshou_adapter.make_tianshou_vec_env(ENV_ID, num_envs=2, action_type="grid", **FAKE)
    envs.reset()
    with pytest.raises(ValueError, match=r"grid actions must be integers of shape \(2,\)"):
        envs.step(np.array(action))
    _, _, _, _, infos = envs.step(np.array([4, 0]))  # nothing stepped before: focus step 1
    assert [info["step"] for info in infos] == [1, 1]


def test_the_tianshou_adapter_keeps_continuous_values_as_given(tianshou_adapter):
    envs = tianshou_adapter.make_tianshou_vec_env(ENV_ID, num_envs=2, **FAKE)
    envs.reset()
    with pytest.raises(ValueError, match=r"actions must be finite, got \[\[nan, 0\.5\]\]"):
        envs.step(np.array([[np.nan, 0.5], [0.5, 0.5]]), id=[0, 1])
    # a huge finite float64 is clipped to 1 by the env, not cast to float32's inf first
    _, rewards, *_ = envs.step(np.array([[1e300, 0.5]]), id=[0])
    assert np.isfinite(rewards).all()
