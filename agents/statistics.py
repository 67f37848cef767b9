"""The statistics of the benchmark protocol, as pure functions of arrays.

- Per task and step: the mean over seeds of the accuracy, with an interval from a two-level
  (seeds, then images) bootstrap, so that seed-to-seed variance is in it
  (:func:`seed_image_intervals`).
- Across tasks: scores normalised between the random policy (0) and the oracle (1)
  (:func:`normalize`), aggregated with ``rliable`` (IQM, mean, optimality gap with stratified
  bootstrap intervals, :func:`aggregate`; probability of improvement over a reference algorithm,
  :func:`improvement_over`, or of one algorithm over every other, :func:`improvement_of`).
- Learning curves: test accuracy after the last step against timesteps, mean and interval over
  seeds (:func:`learning_curve`).

Every function takes a ``seed`` for its resampling, so a report is reproducible bit for bit.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

METRICS = ("IQM", "mean", "optimality gap")


def seed_image_intervals(
    correct: np.ndarray | Sequence[np.ndarray],
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Mean over seeds of the per-step accuracy, with a two-level percentile bootstrap interval.

    Each replicate draws the seeds with replacement and the test images with replacement (the
    same images for every drawn seed: all seeds are evaluated on the same test canvases, so seeds
    and images are crossed), so the interval holds both the variation between training seeds and
    that of the finite test set. With one seed it reduces to the image bootstrap.

    Args:
        correct: ``(seeds, images, steps)`` booleans (or a list of ``(images, steps)`` arrays of
            equal shape, one per seed): whether the prediction after each step was right.
        level: coverage of the interval, in (0, 1).
        resamples: bootstrap replicates.
        seed: seed of the resampling.

    Returns:
        ``{"mean": [...], "low": [...], "high": [...]}``, one value per step.
    """
    data = _as_runs(correct, "correct")
    if data.ndim != 3:
        raise ValueError(f"correct must be (seeds, images, steps), got shape {data.shape}")
    _check_level(level, resamples)
    n_seeds, n_images, _ = data.shape
    rng = np.random.default_rng(seed)
    replicates = np.stack(
        [
            data[rng.integers(0, n_seeds, n_seeds)][:, rng.integers(0, n_images, n_images)].mean(
                axis=(0, 1)
            )
            for _ in range(resamples)
        ]
    )  # (resamples, steps)
    low, high = _percentiles(replicates, level)
    return {"mean": data.mean(axis=(0, 1)).tolist(), "low": low, "high": high}


def normalize(
    scores: np.ndarray | float,
    random_score: float,
    oracle_score: float,
    anchors: tuple[str, str] = ("random", "oracle"),
) -> np.ndarray:
    """``(scores - random) / (oracle - random)``: 0 is the random policy, 1 the oracle (or the
    reference named second in ``anchors``, e.g. the locator).

    Raises:
        ValueError: the reference does not score above the random policy (nothing to normalise
            by).
    """
    if not oracle_score > random_score:
        raise ValueError(
            f"cannot normalise: the {anchors[1]}'s score {oracle_score} is not above the "
            f"{anchors[0]} policy's {random_score}; evaluate both on more test images"
        )
    return (np.asarray(scores, dtype=np.float64) - random_score) / (oracle_score - random_score)


def aggregate(
    scores: Mapping[str, np.ndarray],
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, dict[str, float]]]:
    """IQM, mean and optimality gap of normalised scores, with stratified bootstrap intervals.

    Args:
        scores: per algorithm, a ``(runs, tasks)`` array of normalised scores (rliable's layout).
        level: coverage of the intervals.
        resamples: bootstrap replicates (rliable resamples runs within each task).
        seed: seed of the resampling.

    Returns:
        ``{algorithm: {metric: {"value", "low", "high"}}}`` for the metrics in :data:`METRICS`.
    """
    from rliable import metrics

    _check_level(level, resamples)
    data = {name: _as_runs(s, f"scores[{name!r}]") for name, s in scores.items()}
    for name, array in data.items():
        if array.ndim != 2:
            raise ValueError(f"scores[{name!r}] must be (runs, tasks), got shape {array.shape}")

    def summary(x: np.ndarray) -> np.ndarray:
        return np.array(
            [
                metrics.aggregate_iqm(x),
                metrics.aggregate_mean(x),
                metrics.aggregate_optimality_gap(x),
            ]
        )

    points, intervals = _interval_estimates(data, summary, level, resamples, seed)
    return {
        name: {
            metric: {
                "value": float(points[name][i]),
                "low": float(intervals[name][0, i]),
                "high": float(intervals[name][1, i]),
            }
            for i, metric in enumerate(METRICS)
        }
        for name in data
    }


def improvement_over(
    scores: Mapping[str, np.ndarray],
    reference: str,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Probability of improvement of each algorithm over ``reference`` (rliable), with intervals.

    P(X > Y) is the chance that a run of X scores above a run of Y on a task drawn at random
    (Mann-Whitney U, averaged over tasks); 0.5 means no difference. An interval whose lower end is
    above 0.5 is a significant improvement.

    Args:
        scores: per algorithm, ``(runs, tasks)`` normalised scores; must contain ``reference``.
        reference: the algorithm compared against (the leaderboard uses ``ppo``).
        level: coverage of the intervals.
        resamples: bootstrap replicates.
        seed: seed of the resampling.

    Returns:
        ``{algorithm: {"value", "low", "high"}}`` for every algorithm but the reference.
    """
    if reference not in scores:
        raise ValueError(f"reference {reference!r} has no scores; algorithms: {sorted(scores)}")
    pairs = {name: (name, reference) for name in scores if name != reference}
    return _improvement(scores, pairs, level, resamples, seed)


def improvement_of(
    scores: Mapping[str, np.ndarray],
    algorithm: str,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Probability that ``algorithm`` improves on each other algorithm, P(``algorithm`` > X),
    with intervals (the other direction of :func:`improvement_over`; the same arguments).

    Returns:
        ``{X: {"value", "low", "high"}}`` for every algorithm X but ``algorithm``.
    """
    if algorithm not in scores:
        raise ValueError(f"algorithm {algorithm!r} has no scores; algorithms: {sorted(scores)}")
    pairs = {name: (algorithm, name) for name in scores if name != algorithm}
    return _improvement(scores, pairs, level, resamples, seed)


def _improvement(
    scores: Mapping[str, np.ndarray],
    pairs: Mapping[str, tuple[str, str]],
    level: float,
    resamples: int,
    seed: int,
) -> dict[str, dict[str, float]]:
    """rliable's P(X > Y) with its interval for every ``label: (X, Y)`` of ``pairs``."""
    from rliable import metrics

    _check_level(level, resamples)
    if not pairs:
        return {}
    runs = {
        label: [_as_runs(scores[x], f"scores[{x!r}]"), _as_runs(scores[y], f"scores[{y!r}]")]
        for label, (x, y) in pairs.items()
    }
    points, intervals = _interval_estimates(
        runs, metrics.probability_of_improvement, level, resamples, seed
    )
    return {
        label: {
            "value": float(points[label]),
            "low": float(np.ravel(intervals[label])[0]),
            "high": float(np.ravel(intervals[label])[1]),
        }
        for label in pairs
    }


def learning_curve(
    histories: Sequence[Sequence[Mapping[str, Any]]],
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Accuracy after the last step against timesteps: mean and bootstrap interval over seeds.

    Args:
        histories: one list per seed of evaluations ``{"timesteps", "anytime_accuracy"}`` (what
            ``run.json`` records), taken every ``eval_freq`` timesteps. Seeds are aligned by the
            order of their evaluations; the curve is as long as the shortest history.
        level: coverage of the intervals.
        resamples: bootstrap replicates over seeds.
        seed: seed of the resampling.

    Returns:
        ``{"timesteps", "mean", "low", "high"}`` (timesteps: the mean over seeds at each point).
    """
    if not histories or not all(histories):
        raise ValueError("learning_curve needs at least one non-empty history per seed")
    _check_level(level, resamples)
    length = min(len(h) for h in histories)
    final = np.array([[e["anytime_accuracy"][-1] for e in h[:length]] for h in histories])
    steps = np.array([[e["timesteps"] for e in h[:length]] for h in histories], dtype=np.float64)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(final), (resamples, len(final)))
    low, high = _percentiles(final[drawn].mean(axis=1), level)
    return {
        "timesteps": steps.mean(axis=0).tolist(),
        "mean": final.mean(axis=0).tolist(),
        "low": low,
        "high": high,
    }


def _interval_estimates(
    score_dict: Mapping[str, Any], func: Any, level: float, resamples: int, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """rliable's ``get_interval_estimates``, reproducible: its stratified bootstrap draws run
    indices from NumPy's global generator, so that is seeded here (and restored afterwards)."""
    from rliable import library

    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # arch's note on random_state
            return library.get_interval_estimates(
                score_dict,
                func,
                reps=resamples,
                confidence_interval_size=level,
                random_state=np.random.RandomState(seed),
            )
    finally:
        np.random.set_state(saved)


def _as_runs(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError(f"{name} is empty; every algorithm needs at least one finished run")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def _check_level(level: float, resamples: int) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")


def _percentiles(replicates: np.ndarray, level: float) -> tuple[list[float], list[float]]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail], axis=0)
    return low.tolist(), high.tolist()
