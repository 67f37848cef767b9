import gymnasium as gym
import numpy as np
import pytest

from agents import BASELINES, CenterPolicy, RasterPolicy, make_baseline
from classifiers.testing import FakeClassifier

OBS = np.zeros((3, 256), dtype=np.float32)


@pytest.mark.parametrize("name", sorted(set(BASELINES) - {"saliency", "oracle", "locator"}))
def test_observation_only_baselines_give_valid_actions(name):
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


def _vector_env(**kwargs):
    from gymnasium.vector import AutoresetMode

    return gym.make_vec(
        "GlanceFocus-ClutteredMNIST-v0",
        num_envs=4,
        autoreset_mode=AutoresetMode.DISABLED,
        classifier=FakeClassifier(patch_size=28),
        **kwargs,
    )


def test_oracle_takes_the_best_grid_cell_and_leaves_episodes_untouched():
    env = _vector_env()
    oracle = make_baseline("oracle", 4)
    assert oracle.upper_bound
    oracle.bind(env)
    assert oracle.cells.shape == (9, 2)  # ceil(60 / 28) = 3
    obs, _ = env.reset(seed=0)
    candidates = np.broadcast_to(oracle.cells, (4, 9, 2))
    probs = env.oracle_true_class_probs(candidates)
    assert probs.shape == (4, 9)
    # looking ahead changes nothing: again the same answer, and the step below still starts there
    np.testing.assert_array_equal(env.oracle_true_class_probs(candidates), probs)
    actions, _ = oracle.predict(obs, episode_start=np.ones(4, dtype=bool))
    _, _, _, _, info = env.step(actions)
    np.testing.assert_allclose(info["true_class_prob"], probs.max(axis=1), rtol=1e-4, atol=1e-5)


def test_saliency_visits_the_strongest_glance_cells_first():
    env = _vector_env(observation="dict")
    saliency = make_baseline("saliency", 4)
    saliency.bind(env)
    obs, _ = env.reset(seed=0)
    energy = np.linalg.norm(obs["features"], axis=1).reshape(4, -1)
    start = np.ones(4, dtype=bool)
    seen = []
    for t in range(4):
        actions, _ = saliency.predict(obs, episode_start=start if t == 0 else None)
        seen.append(actions.copy())
        obs, *_ = env.step(actions)
    assert len({tuple(a) for a in np.stack(seen)[:, 0]}) == 4  # four different cells
    strongest = np.argmax(energy, axis=1)
    h = w = int(np.sqrt(energy.shape[1]))
    rows, cols = np.divmod(strongest, w)
    centres = (np.stack([rows, cols], 1) + 0.5) * (60 / h)
    np.testing.assert_allclose(seen[0], saliency.location_of(centres), atol=1e-6)


def test_geometry_and_observation_requirements_are_explained():
    bound = make_baseline("saliency", 4)
    bound.bind(_vector_env())
    with pytest.raises(ValueError, match="dict observations"):
        bound.predict(OBS)
    with pytest.raises(RuntimeError, match=r"evaluate it with agents\.evaluate_anytime"):
        make_baseline("oracle", 4).predict(OBS)
    with pytest.raises(ValueError, match="max_focus_steps=4"):
        make_baseline("center", 3).bind(_vector_env())
