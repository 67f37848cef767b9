import numpy as np
import pytest

from agents import bootstrap_intervals, evaluate_policy, make_baseline
from classifiers.testing import FakeClassifier

ENV = "GlanceFocus-ClutteredMNIST-v0"
FAKE = {"classifier": FakeClassifier(patch_size=28)}  # the harness, not the classifier, is tested


def test_every_image_once_and_per_step_outcomes():
    result = evaluate_policy(make_baseline("center", 4), ENV, max_images=45, num_envs=20, **FAKE)
    assert result.correct.shape == (45, 5) and result.confidence.shape == (45, 5)
    assert result.image_index.tolist() == list(range(45))
    assert np.array_equal(result.correct, result.prediction == result.labels[:, None])
    assert len(result.anytime_accuracy) == 5 and len(result.mflops) == 5
    assert result.mflops == sorted(result.mflops) and result.mflops[0] > 0
    assert np.all((result.confidence > 0) & (result.confidence <= 1))


def test_same_seed_same_canvases_for_every_policy():
    a = evaluate_policy(make_baseline("center", 4), ENV, max_images=30, num_envs=16, seed=3, **FAKE)
    b = evaluate_policy(make_baseline("raster", 4), ENV, max_images=30, num_envs=16, seed=3, **FAKE)
    again = evaluate_policy(
        make_baseline("center", 4), ENV, max_images=30, num_envs=16, seed=3, **FAKE
    )
    assert np.array_equal(a.correct[:, 0], b.correct[:, 0])  # the glance sees the same canvases
    assert np.array_equal(a.confidence, again.confidence)
    other = evaluate_policy(
        make_baseline("center", 4), ENV, max_images=30, num_envs=16, seed=4, **FAKE
    )
    assert not np.array_equal(a.confidence[:, 0], other.confidence[:, 0])


def test_batching_does_not_change_results():
    a = evaluate_policy(make_baseline("raster", 4), ENV, max_images=24, num_envs=24, **FAKE)
    b = evaluate_policy(make_baseline("raster", 4), ENV, max_images=24, num_envs=24, **FAKE)
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
    result = evaluate_policy(make_baseline("center", 4), ENV, max_images=10, num_envs=10, **FAKE)
    with pytest.raises(ValueError, match="level must be in"):
        result.confidence_intervals(level=95)
