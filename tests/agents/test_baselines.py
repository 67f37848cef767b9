import gymnasium as gym
import numpy as np
import pytest

from agents import BASELINES, CenterPolicy, RasterPolicy, make_baseline

OBS = np.zeros((3, 256), dtype=np.float32)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_give_valid_actions(name):
    policy = make_baseline(name, max_focus_steps=4, seed=0)
    space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    for _ in range(6):
        actions, state = policy.predict(OBS)
        assert actions.shape == (3, 2) and actions.dtype == np.float32 and state is None
        assert all(space.contains(a) for a in actions)


def test_center_and_raster_locations():
    assert np.all(CenterPolicy(4).predict(OBS)[0] == 0.5)
    raster = RasterPolicy(4)
    start = np.ones(3, dtype=bool)
    sweep = [
        raster.predict(OBS, episode_start=start if t == 0 else None)[0][0].tolist()
        for t in range(4)
    ]
    assert sweep == [[0, 0], [0, 1], [1, 0], [1, 1]]  # 4 focus steps tile the quadrants
    restarted = raster.predict(OBS, episode_start=np.array([True, False, False]))[0]
    assert restarted[0].tolist() == [0, 0] and restarted[1].tolist() == [0, 0]  # 1 wraps round
    assert RasterPolicy(9).grid == 3


def test_random_is_seeded():
    a = make_baseline("random", 4, seed=1).predict(OBS)[0]
    b = make_baseline("random", 4, seed=1).predict(OBS)[0]
    c = make_baseline("random", 4, seed=2).predict(OBS)[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_unknown_baseline_and_bad_budget():
    with pytest.raises(ValueError, match="choose one of"):
        make_baseline("saliency-v2", 4)
    with pytest.raises(ValueError, match="max_focus_steps must be >= 1"):
        make_baseline("center", 0)
