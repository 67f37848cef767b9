"""When to stop: ``stop_action`` and ``flops_cost`` on both faces and the SB3 adapter."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import gf_env  # noqa: F401
from classifiers.testing import FakeClassifier
from gf_env import EnvConfig, EpisodeStateError, GlanceFocusEnv, GlanceFocusVectorEnv
from gf_env.sb3 import make_sb3_vec_env

ENV_ID = "GlanceFocus-ClutteredMNIST-v0"  # 60x60, P = 28: a 3x3 grid
FAKE = {"data": "cluttered60", "classifier": FakeClassifier(patch_size=28)}
GO, STOP = np.array([0.5, 0.25, 0.0], np.float32), np.array([0.5, 0.25, 0.7], np.float32)


def test_spaces_gain_a_stop_only_when_asked():
    assert GlanceFocusEnv(**FAKE).action_space == gym.spaces.Box(0, 1, (2,), np.float32)
    assert GlanceFocusEnv(stop_action=True, **FAKE).action_space == gym.spaces.Box(
        0, 1, (3,), np.float32
    )
    assert GlanceFocusEnv(action_type="grid", **FAKE).action_space == gym.spaces.Discrete(9)
    grid = GlanceFocusEnv(action_type="grid", stop_action=True, **FAKE)
    assert grid.action_space == gym.spaces.Discrete(10)
    assert (grid.stop_action, grid.flops_cost) == (True, 0.0)
    _, info = GlanceFocusEnv(**FAKE).reset(seed=0)
    assert "stopped" not in info  # the -v0 info is unchanged without the option


def test_continuous_stop_ends_the_episode_with_no_focus_and_reports_the_cost():
    env = GlanceFocusEnv(stop_action=True, **FAKE)
    flops = env.step_flops
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(GO)
    assert not terminated and not info["stopped"] and info["step"] == 1
    before = dict(info)
    _, reward, terminated, truncated, info = env.step(STOP)
    assert (reward, terminated, truncated, info["stopped"]) == (0.0, True, False, True)
    assert info["step"] == 1 and info["flops"] == flops.cumulative(1)
    for key in ("prediction", "true_class_prob", "patch_box"):  # no focus step was taken
        assert info[key] == before[key]
    with pytest.raises(EpisodeStateError, match="stop action"):
        env.step(GO)
    _, info = env.reset()
    assert not info["stopped"] and info["step"] == 0


@pytest.mark.parametrize("third", [0.5, 1.0, 3.0])
def test_stop_threshold_is_half_and_clipped(third):
    env = GlanceFocusEnv(stop_action=True, **FAKE)
    env.reset(seed=0)
    assert env.step(np.array([0.1, 0.1, third], np.float32))[2]
    env.reset(seed=0)
    assert not env.step(
        np.array([0.1, 0.1, np.nextafter(np.float32(0.5), np.float32(0))], np.float32)
    )[2]


def test_stop_at_the_glance_costs_only_the_glance():
    env = GlanceFocusEnv(action_type="grid", stop_action=True, **FAKE)
    _, glance = env.reset(seed=1)
    _, reward, terminated, _, info = env.step(9)
    assert terminated and reward == 0.0 and info["step"] == 0
    assert info["flops"] == env.step_flops.glance
    assert info["prediction"] == glance["prediction"]


def test_flops_cost_lowers_each_focus_reward_by_lambda_times_focus_mflops():
    lam = 0.02
    free = GlanceFocusEnv(stop_action=True, **FAKE)
    priced = GlanceFocusEnv(stop_action=True, flops_cost=lam, **FAKE)
    step_cost = lam * free.step_flops.focus / 1e6
    free.reset(seed=4)
    priced.reset(seed=4)
    total = 0.0
    for action in (GO, GO, STOP):
        _, a, *_ = free.step(action)
        _, b, _, _, info = priced.step(action)
        total += b
        expected = a if action[2] >= 0.5 else a - step_cost
        assert b == pytest.approx(expected, abs=1e-12)
    _, first = GlanceFocusEnv(**FAKE).reset(seed=4)
    # the return is p_stop(y) - p_0(y) - lambda * MFLOPs of the focus steps taken
    assert total == pytest.approx(
        info["true_class_prob"] - first["true_class_prob"] - 2 * step_cost, abs=1e-9
    )


def test_final_correct_pays_at_the_stop():
    env = GlanceFocusEnv(reward="final_correct", stop_action=True, **FAKE)
    env.reset(seed=2)
    _, reward, *_ = env.step(GO)
    assert reward == 0.0
    _, reward, terminated, _, info = env.step(STOP)
    assert terminated and reward == float(info["prediction"] == info["label"])


def test_default_episode_is_bit_identical_with_the_stop_never_used():
    """The stop option changes nothing while the agent does not stop."""
    plain, stopping = GlanceFocusEnv(**FAKE), GlanceFocusEnv(stop_action=True, **FAKE)
    a_obs, _ = plain.reset(seed=5)
    b_obs, _ = stopping.reset(seed=5)
    np.testing.assert_array_equal(a_obs, b_obs)
    for _ in range(4):
        a = plain.step(GO[:2])
        b = stopping.step(GO)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:3] == b[1:3]
        assert a[4] == {k: v for k, v in b[4].items() if k != "stopped"}
    assert b[2] and not b[4]["stopped"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"flops_cost": 0.01}, "stop_action=True"),
        ({"stop_action": True, "flops_cost": -1.0}, "flops_cost must be a finite number >= 0"),
        ({"stop_action": True, "flops_cost": float("nan")}, "finite"),
        ({"stop_action": True, "flops_cost": "0.1"}, "flops_cost"),
        ({"stop_action": 1}, "stop_action must be True or False"),
    ],
)
def test_bad_stop_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EnvConfig(**kwargs)


def test_bad_stop_actions_raise():
    env = GlanceFocusEnv(stop_action=True, **FAKE)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(3,\).*stop\) triple|shape \(3,\)"):
        env.step(np.array([0.5, 0.5], np.float32))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([0.5, 0.5, np.nan], np.float32))
    grid = GlanceFocusEnv(action_type="grid", stop_action=True, **FAKE)
    grid.reset(seed=0)
    with pytest.raises(ValueError, match=r"out of range \[0, 9\].*cell 9 stops"):
        grid.step(np.int64(10))


def _vector(mode, **kwargs):
    return GlanceFocusVectorEnv(num_envs=3, autoreset_mode=mode, stop_action=True, **FAKE, **kwargs)


def test_vector_env_stops_sub_environments_independently_next_step():
    env = _vector(AutoresetMode.NEXT_STEP, flops_cost=0.01)
    env.reset(seed=0)
    _, rewards, terminated, _, info = env.step(np.stack([STOP, GO, GO]))
    assert terminated.tolist() == [True, False, False]
    assert info["stopped"].tolist() == [True, False, False] and info["step"].tolist() == [0, 1, 1]
    assert rewards[0] == 0.0
    _, rewards, terminated, _, info = env.step(np.stack([GO, STOP, GO]))
    assert rewards[0] == 0.0 and info["step"].tolist() == [0, 1, 2]  # env 0 was reset
    assert terminated.tolist() == [False, True, False] and not info["stopped"][0]


def test_vector_env_same_step_reports_the_stop_in_final_info():
    env = _vector(AutoresetMode.SAME_STEP)
    env.reset(seed=0)
    env.step(np.stack([GO, GO, GO]))
    _, _, terminated, _, info = env.step(np.stack([GO, STOP, GO]))
    assert terminated.tolist() == [False, True, False]
    assert info["_final_info"].tolist() == [False, True, False]
    assert info["final_info"]["stopped"][1] and info["final_info"]["step"][1] == 1
    assert info["final_info"]["flops"][1] == env.step_flops.cumulative(1)
    assert info["step"].tolist() == [2, 0, 2] and not info["stopped"].any()


def test_vector_env_disabled_refuses_a_stopped_sub_environment_until_reset():
    env = _vector(AutoresetMode.DISABLED)
    env.reset(seed=0)
    env.step(np.stack([GO, STOP, GO]))
    with pytest.raises(EpisodeStateError, match=r"stop action.*sub-environment\(s\) \[1\]"):
        env.step(np.stack([GO, GO, GO]))
    _, info = env.reset(options={"reset_mask": np.array([False, True, False])})
    _, _, terminated, _, info = env.step(np.stack([GO, GO, GO]))
    assert info["step"].tolist() == [2, 1, 2] and not terminated.any()


def test_vector_env_matches_single_envs_with_stops():
    actions = [np.stack([GO, STOP, GO]), np.stack([STOP, GO, GO]), np.stack([GO, GO, STOP])]
    vector = _vector(AutoresetMode.NEXT_STEP, flops_cost=0.005)
    vector.reset(seed=10)
    got = [vector.step(a)[1] for a in actions]
    for i in range(3):
        single = GlanceFocusEnv(stop_action=True, flops_cost=0.005, **FAKE)
        single.reset(seed=10 + i)
        done, expected = False, []
        for a in actions:
            if done:
                single.reset()
                expected.append(0.0)
                done = False
                continue
            _, reward, done, *_ = single.step(a[i])
            expected.append(reward)
        np.testing.assert_allclose([g[i] for g in got], expected, atol=1e-6)


def test_registered_ids_take_the_option():
    env = gym.make(
        ENV_ID, stop_action=True, flops_cost=0.01, classifier=FakeClassifier(patch_size=28)
    )
    assert env.action_space.shape == (3,)
    assert env.unwrapped.flops_cost == 0.01


def test_sb3_adapter_reports_the_stop_and_resets():
    venv = make_sb3_vec_env(
        ENV_ID,
        num_envs=2,
        seed=0,
        monitor=False,
        stop_action=True,
        classifier=FakeClassifier(patch_size=28),
    )
    venv.reset()
    _, rewards, dones, infos = venv.step(np.stack([STOP, GO]))
    assert dones.tolist() == [True, False] and rewards[0] == 0.0
    assert infos[0]["stopped"] and infos[0]["step"] == 0 and "terminal_observation" in infos[0]
    assert venv.get_attr("stop_action") == [True, True]
