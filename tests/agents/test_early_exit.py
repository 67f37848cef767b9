import numpy as np
import pytest

from agents import evaluate_anytime, make_baseline
from agents.early_exit import budget_curve, calibrate_thresholds, exit_shares, exit_steps


def test_shares_follow_p_to_the_k():
    shares = exit_shares(0.5, 3)
    np.testing.assert_allclose(shares, np.array([0.5, 0.25, 0.125]) / 0.875)
    assert exit_shares(1.5, 4)[-1] > exit_shares(1.5, 4)[0]  # p > 1 pushes exits late
    with pytest.raises(ValueError, match="p must be > 0"):
        exit_shares(0, 3)


@pytest.mark.parametrize("p", [0.3, 1.0, 1.7])
def test_calibration_hits_the_requested_exit_fractions(p):
    rng = np.random.default_rng(0)
    confidence = rng.random((10_000, 5))  # continuous: no ties
    shares = exit_shares(p, 5)
    thresholds = calibrate_thresholds(confidence, shares)
    assert thresholds[-1] == -np.inf
    counts = np.bincount(exit_steps(confidence, thresholds), minlength=5)
    expected = np.floor(10_000 * shares[:-1])
    np.testing.assert_array_equal(counts[:-1], expected)
    assert counts.sum() == 10_000


def test_everyone_exits_somewhere_and_confident_images_exit_first():
    confidence = np.array([[0.99, 0.2, 0.1], [0.1, 0.98, 0.1], [0.1, 0.1, 0.1]])
    exits = exit_steps(confidence, np.array([0.9, 0.9, -np.inf]))
    assert exits.tolist() == [0, 1, 2]


def test_budget_curve_on_a_policy():
    env = "GlanceFocus-ClutteredMNIST-v0"
    policy = make_baseline("raster", 4)
    calibration = evaluate_anytime(policy, env, split="train", max_images=200, num_envs=100)
    test = evaluate_anytime(policy, env, max_images=200, num_envs=100)
    curve = budget_curve(calibration, test, ps=(0.05, 1.0, 1.95))
    assert [pt.p for pt in curve] == [0.05, 1.0, 1.95]
    assert curve[0].mflops < curve[1].mflops < curve[2].mflops
    assert test.mflops[0] <= curve[0].mflops and curve[2].mflops <= test.mflops[-1]
    for point in curve:
        assert sum(point.exit_fractions) == pytest.approx(1.0)
        assert 0 <= point.accuracy <= 1


def test_a_stopping_policy_exits_no_later_than_its_stop():
    from agents.evaluation import EvalResult

    steps = 3
    correct = np.array([[True, True, True], [False, False, False], [False, False, True]])
    confidence = np.array([[0.9, 0.9, 0.9], [0.2, 0.3, 0.3], [0.1, 0.2, 0.99]])
    result = EvalResult(
        correct=correct,
        confidence=confidence,
        prediction=np.zeros((3, steps), dtype=np.int64),
        labels=np.zeros(3, dtype=np.int64),
        image_index=np.arange(3),
        mflops=[1.0, 3.0, 5.0],
        patch_box=np.zeros((3, steps, 4), dtype=np.int64),
        stop_step=np.array([0, 1, 2]),
    )
    # p huge: thresholds so high that nobody exits before the last step, so each image exits
    # at its own stop, which is the stop summary
    point = budget_curve(result, result, ps=(1e6,))[0]
    summary = result.stop_summary()
    assert point.mflops == pytest.approx(summary["mflops"]) == pytest.approx(3.0)
    assert point.accuracy == pytest.approx(summary["accuracy"]) == pytest.approx(2 / 3)
    assert point.exit_fractions == summary["exit_fractions"] == pytest.approx([1 / 3] * 3)
