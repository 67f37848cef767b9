import numpy as np
import pytest

from agents.statistics import (
    METRICS,
    aggregate,
    improvement_of,
    improvement_over,
    learning_curve,
    normalize,
    seed_image_intervals,
)


def test_seed_image_intervals_hold_the_variance_between_seeds():
    # seed 0 gets every image right, seed 1 none: the mean is 0.5 whatever the images, so an
    # image-only bootstrap of the pooled seeds would give a zero-width interval around 0.5
    correct = np.stack([np.ones((50, 2)), np.zeros((50, 2))])
    stats = seed_image_intervals(correct, resamples=400, seed=0)
    assert stats["mean"] == [0.5, 0.5]
    assert stats["low"] == [0.0, 0.0] and stats["high"] == [1.0, 1.0]  # both seeds drawn twice


def test_seed_image_intervals_reduce_to_the_image_bootstrap_and_are_reproducible():
    rng = np.random.default_rng(1)
    one = rng.random((400, 3)) < [0.2, 0.5, 0.9]
    stats = seed_image_intervals(one[None], resamples=1000, seed=3)
    np.testing.assert_allclose(stats["mean"], one.mean(axis=0))
    width = np.subtract(stats["high"], stats["low"])
    expected = 2 * 1.96 * np.sqrt(one.mean(axis=0) * (1 - one.mean(axis=0)) / 400)
    np.testing.assert_allclose(width, expected, rtol=0.2)  # the binomial interval's width
    assert seed_image_intervals(one[None], resamples=1000, seed=3) == stats
    same = seed_image_intervals([one, one, one], resamples=1000, seed=3)  # identical seeds
    np.testing.assert_allclose(np.subtract(same["high"], same["low"]), width, atol=0.02)
    constant = seed_image_intervals(np.ones((3, 10, 2)), resamples=50)
    assert constant == {"mean": [1.0, 1.0], "low": [1.0, 1.0], "high": [1.0, 1.0]}


def test_seed_image_intervals_reject_bad_input():
    with pytest.raises(ValueError, match=r"\(seeds, images, steps\)"):
        seed_image_intervals(np.ones((10, 2)))
    with pytest.raises(ValueError, match="level must be in"):
        seed_image_intervals(np.ones((1, 10, 2)), level=95)
    with pytest.raises(ValueError, match="empty"):
        seed_image_intervals(np.ones((0, 10, 2)))


def test_normalize_maps_random_to_zero_and_oracle_to_one():
    np.testing.assert_allclose(normalize([0.2, 0.6, 1.0], 0.2, 1.0), [0.0, 0.5, 1.0])
    assert normalize(0.1, 0.2, 0.6) == pytest.approx(-0.25)  # worse than random: negative
    with pytest.raises(ValueError, match=r"oracle's score 0\.5 is not above"):
        normalize(0.3, 0.5, 0.5)


def test_aggregate_gives_rliable_metrics_with_intervals():
    scores = {
        "flat": np.full((5, 3), 0.5),
        "spread": np.array([[0.0, 0.2, 0.4], [0.6, 0.8, 1.0]] * 2 + [[0.1, 0.5, 0.9]]),
    }
    result = aggregate(scores, resamples=300, seed=0)
    flat = result["flat"]
    assert set(flat) == set(METRICS)
    for metric, value in (("IQM", 0.5), ("mean", 0.5), ("optimality gap", 0.5)):
        assert flat[metric] == {"value": value, "low": value, "high": value}
    spread = result["spread"]
    assert spread["mean"]["value"] == pytest.approx(scores["spread"].mean())
    iqm = np.sort(scores["spread"].ravel())[4:11].mean()  # the middle half of 15 scores
    assert spread["IQM"]["value"] == pytest.approx(iqm, abs=0.03)
    # optimality gap: mean shortfall from 1 (scores above 1 count as 1)
    gap = (1 - np.minimum(scores["spread"], 1)).mean()
    assert spread["optimality gap"]["value"] == pytest.approx(gap)
    for metric in METRICS:
        assert spread[metric]["low"] < spread[metric]["value"] < spread[metric]["high"]
    assert aggregate(scores, resamples=300, seed=0) == result
    with pytest.raises(ValueError, match="must be \\(runs, tasks\\)"):
        aggregate({"x": np.ones(3)})


def test_improvement_over_reference():
    low, high = np.zeros((4, 2)), np.ones((4, 2))
    result = improvement_over({"ppo": low, "better": high, "same": low}, "ppo", resamples=200)
    assert set(result) == {"better", "same"}
    assert result["better"] == {"value": 1.0, "low": 1.0, "high": 1.0}
    assert result["same"]["value"] == 0.5
    with pytest.raises(ValueError, match="reference 'ppo' has no scores"):
        improvement_over({"a2c": low}, "ppo")


def test_improvement_of_one_algorithm_over_every_other():
    rng = np.random.default_rng(0)
    scores = {"gfnet": rng.random((5, 3)) + 0.5, "ppo": rng.random((5, 3)), "tie": None}
    scores["tie"] = scores["gfnet"].copy()
    of = improvement_of(scores, "gfnet", resamples=200)
    assert set(of) == {"ppo", "tie"} and of["tie"]["value"] == 0.5
    over = improvement_over(scores, "ppo", resamples=200)  # the same pair seen from the other side
    assert of["ppo"]["value"] == pytest.approx(over["gfnet"]["value"])
    assert of["ppo"]["low"] <= of["ppo"]["value"] <= of["ppo"]["high"]
    with pytest.raises(ValueError, match="algorithm 'sac' has no scores"):
        improvement_of(scores, "sac")


def test_learning_curve_over_seeds():
    def history(finals):
        return [
            {"timesteps": 100 * (i + 1), "anytime_accuracy": [0.0, a]} for i, a in enumerate(finals)
        ]

    curve = learning_curve([history([0.2, 0.4, 0.9]), history([0.4, 0.6])], resamples=200)
    assert curve["timesteps"] == [100.0, 200.0]  # as long as the shortest history
    np.testing.assert_allclose(curve["mean"], [0.3, 0.5])
    np.testing.assert_allclose(curve["low"], [0.2, 0.4])
    np.testing.assert_allclose(curve["high"], [0.4, 0.6])
    with pytest.raises(ValueError, match="non-empty history"):
        learning_curve([[]])
