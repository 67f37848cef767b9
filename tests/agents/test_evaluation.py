import dataclasses

import numpy as np
import pytest

import agents
from agents import EvalResult, bootstrap_intervals, evaluate_anytime, evaluation, make_baseline
from classifiers.data.base import spread_indices
from classifiers.testing import FakeClassifier

ENV = "GlanceFocus-ClutteredMNIST-v0"
FAKE = {"classifier": FakeClassifier(patch_size=28)}  # the harness, not the classifier, is tested


def test_every_image_once_and_per_step_outcomes():
    result = evaluate_anytime(make_baseline("center", 4), ENV, max_images=45, num_envs=20, **FAKE)
    assert result.correct.shape == (45, 5) and result.confidence.shape == (45, 5)
    assert result.image_index.tolist() == spread_indices(1000, 45).tolist()
    assert np.array_equal(result.correct, result.prediction == result.labels[:, None])
    assert len(result.anytime_accuracy) == 5 and len(result.mflops) == 5
    assert result.mflops == sorted(result.mflops) and result.mflops[0] > 0
    assert np.all((result.confidence > 0) & (result.confidence <= 1))


def test_a_subset_is_spread_over_a_split_stored_in_class_order():
    # the embedded test digits are stored 0s first, then 1s, ...: the first 500 are digits 0-4
    half = evaluate_anytime(make_baseline("center", 4), ENV, max_images=500, num_envs=100, **FAKE)
    assert np.bincount(half.labels, minlength=10).tolist() == [50] * 10
    assert half.meta["subset"] == "spread" and half.image_index.tolist() == list(range(0, 1000, 2))
    every = evaluate_anytime(make_baseline("center", 4), ENV, num_envs=100, **FAKE)
    assert every.meta["subset"] == "all" and every.image_index.tolist() == list(range(1000))
    assert spread_indices(7, 7).tolist() == list(range(7))
    assert spread_indices(10, 4).tolist() == [0, 2, 5, 7]
    with pytest.raises(ValueError, match="cannot pick 0 of 10 images; pick 1 to 10"):
        spread_indices(10, 0)


def test_same_seed_same_canvases_for_every_policy():
    a = evaluate_anytime(
        make_baseline("center", 4), ENV, max_images=30, num_envs=16, seed=3, **FAKE
    )
    b = evaluate_anytime(
        make_baseline("raster", 4), ENV, max_images=30, num_envs=16, seed=3, **FAKE
    )
    again = evaluate_anytime(
        make_baseline("center", 4), ENV, max_images=30, num_envs=16, seed=3, **FAKE
    )
    assert np.array_equal(a.correct[:, 0], b.correct[:, 0])  # the glance sees the same canvases
    assert np.array_equal(a.confidence, again.confidence)
    other = evaluate_anytime(
        make_baseline("center", 4), ENV, max_images=30, num_envs=16, seed=4, **FAKE
    )
    assert not np.array_equal(a.confidence[:, 0], other.confidence[:, 0])


def test_batching_does_not_change_results():
    a = evaluate_anytime(make_baseline("raster", 4), ENV, max_images=24, num_envs=24, **FAKE)
    b = evaluate_anytime(make_baseline("raster", 4), ENV, max_images=24, num_envs=24, **FAKE)
    np.testing.assert_array_equal(a.prediction, b.prediction)


def test_bootstrap_intervals_cover_the_mean_and_shrink_with_data():
    rng = np.random.default_rng(0)
    small = rng.random((100, 2)) < 0.8
    large = rng.random((4000, 2)) < 0.8
    (lo_s, hi_s), _ = bootstrap_intervals(small, resamples=500)
    (lo_l, hi_l), _ = bootstrap_intervals(large, resamples=500)
    assert lo_s <= small[:, 0].mean() <= hi_s and lo_l <= large[:, 0].mean() <= hi_l
    assert hi_l - lo_l < hi_s - lo_s
    assert 0.75 < lo_l < 0.8 < hi_l < 0.85


def test_interval_level_is_checked():
    result = evaluate_anytime(make_baseline("center", 4), ENV, max_images=10, num_envs=10, **FAKE)
    with pytest.raises(ValueError, match="level must be in"):
        result.confidence_intervals(level=95)


class StopAt:
    """Focus at the centre, stop after ``k[i]`` focus steps in sub-environment ``i``."""

    def __init__(self, k):
        self.k = np.asarray(k)
        self.env_kwargs = {"stop_action": True}

    def bind(self, env):
        self.steps = np.zeros(env.num_envs, dtype=np.int64)

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        self.steps[episode_start] = 0
        actions = np.full((len(observation), 3), 0.5, dtype=np.float32)
        actions[:, 2] = self.steps >= self.k
        self.steps += 1
        return actions, state


def test_stopping_policy_reports_the_accuracy_at_its_stop():
    k = np.arange(16) % 5  # sub-environment i stops after i % 5 focus steps (4: never stops)
    stop = evaluate_anytime(StopAt(k), ENV, max_images=40, num_envs=16, seed=2, **FAKE)
    full = evaluate_anytime(
        make_baseline("center", 4), ENV, max_images=40, num_envs=16, seed=2, **FAKE
    )
    expected_exit = np.minimum(np.arange(40) % 16 % 5, 4)
    np.testing.assert_array_equal(stop.stop_step, expected_exit)
    rows = np.arange(40)
    # the same canvases and patches up to the stop; after it the answer is held
    for t in range(5):
        held = np.minimum(t, expected_exit)
        np.testing.assert_array_equal(stop.correct[:, t], full.correct[rows, held])
        np.testing.assert_array_equal(stop.prediction[:, t], full.prediction[rows, held])
    summary = stop.stop_summary()
    assert summary["accuracy"] == pytest.approx(full.correct[rows, expected_exit].mean())
    assert summary["mflops"] == pytest.approx(np.asarray(full.mflops)[expected_exit].mean())
    assert summary["exit_fractions"] == pytest.approx(np.bincount(expected_exit) / 40)
    assert stop.anytime_accuracy[-1] == summary["accuracy"]


def test_everyone_stopping_at_the_glance_ends_the_batch_early():
    stop = evaluate_anytime(StopAt(np.zeros(8)), ENV, max_images=8, num_envs=8, **FAKE)
    assert stop.stop_step.tolist() == [0] * 8
    assert stop.stop_summary()["mflops"] == pytest.approx(stop.mflops[0])
    assert (stop.correct == stop.correct[:, :1]).all()


def test_policy_without_stop_exits_at_the_last_step():
    result = evaluate_anytime(make_baseline("center", 4), ENV, max_images=10, num_envs=10, **FAKE)
    assert result.stop_step is None and result.exit_steps.tolist() == [4] * 10
    assert result.stop_summary()["accuracy"] == result.anytime_accuracy[-1]
    assert result.stop_summary()["exit_fractions"] == [0, 0, 0, 0, 1]


def test_the_old_name_warns_and_gives_the_same_result():
    """``evaluate_policy`` (Stable-Baselines3's name for a mean reward) is a deprecated alias."""
    assert agents.evaluate_policy is evaluation.evaluate_policy
    policy = make_baseline("center", 4)
    new = evaluate_anytime(policy, ENV, max_images=6, num_envs=6, **FAKE)
    with pytest.warns(DeprecationWarning, match=r"renamed agents\.evaluate_anytime") as caught:
        old = agents.evaluate_policy(policy, ENV, max_images=6, num_envs=6, **FAKE)
    renamed = [w.filename for w in caught if "evaluate_anytime" in str(w.message)]
    assert renamed == [__file__]  # one warning, pointing at the caller
    for name in (f.name for f in dataclasses.fields(EvalResult)):
        a, b = getattr(old, name), getattr(new, name)
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, name
