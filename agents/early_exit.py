"""Budgeted early exit: per-step confidence thresholds, calibrated as in MSDNet.

An image exits at the first step ``k`` whose max softmax probability reaches ``eta_k``; the last step
takes every image left. For a budget knob ``p``, the share of images meant to exit at step ``k``
is proportional to ``p**(k+1)`` (small ``p``: most exit early). The thresholds are set on a
calibration set (train-split canvases, never the test set): walking the steps in order, ``eta_k``
is the confidence of the ``floor(n * share_k)``-th most confident image among those still left.
Sweeping ``p`` over ``q / 20`` for ``q = 1..39`` traces accuracy against expected MFLOPs.

A learned stopping policy (``stop_action=True``, :mod:`agents.evaluation`) is one point of that
plane, :meth:`EvalResult.stop_summary`: the accuracy at its stops and the mean MFLOPs it spent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from agents.evaluation import EvalResult

DEFAULT_PS = tuple(q / 20 for q in range(1, 40))


def exit_shares(p: float, num_steps: int) -> np.ndarray:
    """Target share of images exiting at each step: ``p**(k+1)``, normalised."""
    if p <= 0:
        raise ValueError(f"p must be > 0, got {p}")
    shares = p ** np.arange(1, num_steps + 1, dtype=np.float64)
    return shares / shares.sum()


def calibrate_thresholds(confidence: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Thresholds ``(T,)`` so that ``floor(n * shares[k])`` calibration images exit at step ``k``.

    Args:
        confidence: ``(n, T)`` max softmax probability of each calibration image after each step.
        shares: ``(T,)`` target exit shares (see :func:`exit_shares`).

    Returns:
        ``eta`` with ``eta[-1] = -inf`` (the last step takes everyone left).
    """
    n, steps = confidence.shape
    if shares.shape != (steps,):
        raise ValueError(f"shares must have shape ({steps},), got {shares.shape}")
    thresholds = np.full(steps, np.inf)
    thresholds[-1] = -np.inf
    remaining = np.ones(n, dtype=bool)
    for k in range(steps - 1):
        count = int(np.floor(n * shares[k]))
        left = np.flatnonzero(remaining)
        if count >= 1 and len(left):
            ranked = np.sort(confidence[left, k])[::-1]
            thresholds[k] = ranked[min(count, len(ranked)) - 1]
        remaining &= confidence[:, k] < thresholds[k]
    return thresholds


def exit_steps(confidence: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The step ``(n,)`` at which each image exits: first ``k`` with ``confidence >= eta_k``."""
    reached = confidence >= thresholds[None, :]
    reached[:, -1] = True
    return reached.argmax(axis=1)


@dataclass(frozen=True)
class BudgetPoint:
    """One point of the budget curve."""

    p: float
    mflops: float
    accuracy: float
    exit_fractions: list[float]
    thresholds: list[float]


def budget_curve(
    calibration: EvalResult, test: EvalResult, ps: tuple[float, ...] = DEFAULT_PS
) -> list[BudgetPoint]:
    """Accuracy vs expected MFLOPs on ``test`` with thresholds calibrated on ``calibration``.

    Both results must come from the same policy and environment (same number of steps). For a
    policy that stops itself (``stop_action=True``) an image exits at the earlier of its
    threshold exit and its own stop (:attr:`EvalResult.exit_steps`), and costs what it spent
    up to there; without thresholds (every ``eta_k`` infinite) that is
    :meth:`EvalResult.stop_summary`.
    """
    steps = test.correct.shape[1]
    if calibration.confidence.shape[1] != steps:
        raise ValueError(
            f"calibration has {calibration.confidence.shape[1]} steps, test has {steps}; "
            "evaluate both with the same environment"
        )
    mflops = np.asarray(test.mflops)
    rows = np.arange(len(test.correct))
    points = []
    for p in ps:
        thresholds = calibrate_thresholds(calibration.confidence, exit_shares(p, steps))
        exits = np.minimum(exit_steps(test.confidence, thresholds), test.exit_steps)
        points.append(
            BudgetPoint(
                p=float(p),
                mflops=float(mflops[exits].mean()),
                accuracy=float(test.correct[rows, exits].mean()),
                exit_fractions=(np.bincount(exits, minlength=steps) / len(exits)).tolist(),
                thresholds=thresholds.tolist(),
            )
        )
    return points


def as_records(points: list[BudgetPoint]) -> list[dict]:
    """The curve as JSON-ready dicts (``{"mflops", "accuracy", ...}``)."""
    return [asdict(point) for point in points]
