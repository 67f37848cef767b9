"""Evaluation harness: every test image once, deterministic policies, accuracy after each step.

:func:`evaluate_anytime` is the harness. It was called ``evaluate_policy`` until that name, which
Stable-Baselines3 gives to a function of the model's mean reward
(``stable_baselines3.common.evaluation.evaluate_policy``), was retired; the old name still works
and warns.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

import gf_env
from agents.env_api import env_attr
from classifiers.data.base import spread_indices

gym.register_envs(gf_env)


class Policy(Protocol):
    """Anything with SB3's ``predict`` signature: trained SB3 models and the heuristics."""

    def predict(self, observation, state=None, episode_start=None, deterministic=True): ...


@dataclass
class EvalResult:
    """Per-image, per-step outcomes of one evaluation.

    Args:
        correct: ``(n_images, T)`` whether the prediction after step ``t`` (0 = glance) is right.
        confidence: ``(n_images, T)`` max softmax probability after each step (for early exit).
        prediction: ``(n_images, T)`` predicted class after each step.
        labels: ``(n_images,)`` true classes.
        image_index: ``(n_images,)`` which image of the split each row is.
        mflops: cumulative classifier MFLOPs per image after each step.
        patch_box: ``(n_images, T, 4)`` the env's ``info["patch_box"]`` after each step (top,
            left, height, width; step 0, the glance, is the whole image).
        meta: what was evaluated (env id, split, seed, number of images).
        stop_step: ``(n_images,)`` focus steps taken when each episode ended, for envs with
            ``stop_action=True`` (``None`` otherwise: every episode takes every step). After its
            stop an episode keeps its answer: the columns ``t > stop_step`` of ``correct``,
            ``confidence``, ``prediction`` and ``patch_box`` repeat the stop's values.
    """

    correct: np.ndarray
    confidence: np.ndarray
    prediction: np.ndarray
    labels: np.ndarray
    image_index: np.ndarray
    mflops: list[float]
    patch_box: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    stop_step: np.ndarray | None = None

    @property
    def anytime_accuracy(self) -> list[float]:
        """Accuracy after the glance and after each focus step."""
        return self.correct.mean(axis=0).tolist()

    @property
    def exit_steps(self) -> np.ndarray:
        """``(n_images,)`` the step whose answer counts: the stop, else the last step."""
        if self.stop_step is not None:
            return self.stop_step
        return np.full(len(self.correct), self.correct.shape[1] - 1, dtype=np.int64)

    def stop_summary(self) -> dict[str, Any]:
        """Accuracy at the stop, mean MFLOPs spent per image and the share of images that
        stopped after each number of focus steps (without a stop action: the last step's
        accuracy and cost)."""
        exits = self.exit_steps
        steps = self.correct.shape[1]
        return {
            "accuracy": float(self.correct[np.arange(len(exits)), exits].mean()),
            "mflops": float(np.asarray(self.mflops)[exits].mean()),
            "exit_fractions": (np.bincount(exits, minlength=steps) / len(exits)).tolist(),
        }

    def confidence_intervals(
        self, level: float = 0.95, resamples: int = 2000, seed: int = 0
    ) -> list[tuple[float, float]]:
        """Bootstrap intervals of the per-step accuracy, resampling test images."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        return bootstrap_intervals(self.correct, level, resamples, seed)


def bootstrap_intervals(
    correct: np.ndarray, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> list[tuple[float, float]]:
    """Percentile bootstrap intervals of column means of ``correct`` ``(n, T)``."""
    rng = np.random.default_rng(seed)
    n = len(correct)
    means = np.stack([correct[rng.integers(0, n, n)].mean(axis=0) for _ in range(resamples)])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    return list(zip(low.tolist(), high.tolist(), strict=True))


SUBSET_RULE = "spread"
"""How :func:`evaluate_anytime` picks ``max_images`` of a split
(:func:`classifiers.data.base.spread_indices`), as
recorded with every evaluation made of a subset (learning-curve points, ``meta["subset"]``).
Records without it were made by the first releases, which took the first images."""


def curve_point(result: EvalResult, timesteps: int, seconds: float) -> dict[str, Any]:
    """A learning-curve point of ``result``: ``{"timesteps", "anytime_accuracy", "seconds",
    "subset"}`` (``subset``: :data:`SUBSET_RULE` or ``"all"``, see ``EvalResult.meta``)."""
    return {
        "timesteps": int(timesteps),
        "anytime_accuracy": result.anytime_accuracy,
        "seconds": seconds,
        "subset": result.meta["subset"],
    }


def evaluate_anytime(
    policy: Policy,
    env_id: str,
    *,
    split: str = "test",
    max_images: int | None = None,
    num_envs: int = 100,
    seed: int = 0,
    deterministic: bool = True,
    on_step: Callable[[Any, slice, int, dict[str, np.ndarray]], None] | None = None,
    **env_kwargs: Any,
) -> EvalResult:
    """Run ``policy`` on every image of ``split`` once (or on ``max_images`` of them).

    A subset is spread evenly over the split (:func:`spread_indices`: every ``n / max_images``-th
    image), never its first images: a split stored in class order, like the embedded MNIST
    digits, would give a first half of digits 0-4 only. Images are taken in that order,
    ``num_envs`` at a time, each batch reset with ``seed + start`` so
    the canvases depend only on ``seed``: every policy evaluated with the same seed sees the same
    canvases. With a stop action (``stop_action=True``) an episode that stops keeps its answer
    (:attr:`EvalResult.stop_step`); its sub-environment is restarted on the same image so that
    the batch can step on, and what it does then is dropped.

    Args:
        policy: an SB3 model or a heuristic (``predict`` with SB3's signature); its
            ``env_kwargs`` (if any) are added to the env's arguments and its ``bind(env)`` hook (if
            any) is called with the vector env first.
        env_id: a registered glance-focus id.
        split: ``"test"`` (default) or ``"train"``.
        max_images: evaluate N images spread evenly over the split (default: all).
        num_envs: episodes run side by side.
        seed: canvas seed.
        deterministic: passed to ``predict`` (the mean action for SB3 policies).
        on_step: called as ``on_step(env, rows, t, info)`` after the glance (``t = 0``) and
            after each focus step of every batch; ``rows`` are the batch's rows of the result
            (its first ``rows.stop - rows.start`` sub-environments). The visualiser uses it to
            ``render()`` episodes.
        **env_kwargs: further environment arguments (``device``, ``observation``, ...).
    """
    env_kwargs = {**getattr(policy, "env_kwargs", {}), **env_kwargs}
    env = gym.make_vec(
        env_id, num_envs=num_envs, split=split, autoreset_mode=AutoresetMode.DISABLED, **env_kwargs
    )
    if hasattr(policy, "bind"):
        policy.bind(env)
    available = env_attr(env, "num_images")
    total = available if max_images is None else min(max_images, available)
    chosen = spread_indices(available, total)
    steps = env_attr(env, "max_focus_steps") + 1
    shape = (total, steps)
    correct, confidence = np.zeros(shape, dtype=bool), np.zeros(shape)
    prediction = np.zeros(shape, dtype=np.int64)
    patch_box = np.zeros((*shape, 4), dtype=np.int64)
    labels, image_index = np.zeros(total, dtype=np.int64), np.zeros(total, dtype=np.int64)
    stops = env_attr(env, "stop_action")
    stop_step = np.full(total, steps - 1, dtype=np.int64) if stops else None
    for start in range(0, total, num_envs):
        count = min(num_envs, total - start)
        batch = chosen[start : start + count].tolist()
        indices = batch + [0] * (num_envs - count)  # pad with image 0
        obs, info = env.reset(seed=seed + start, options={"index": indices})
        episode_start, state = np.ones(num_envs, dtype=bool), None
        rows = slice(start, start + count)
        labels[rows], image_index[rows] = info["label"][:count], info["image_index"][:count]
        ended = np.zeros(num_envs, dtype=bool)  # stopped at an earlier step
        for t in range(steps):
            if t > 0:
                if ended.any():  # restart them on their image: the batch steps on, they are dropped
                    obs, _ = env.reset(options={"reset_mask": ended, "index": indices})
                    episode_start = ended.copy()
                actions, state = policy.predict(
                    obs, state=state, episode_start=episode_start, deterministic=deterministic
                )
                obs, _, _, _, info = env.step(actions)
                episode_start[:] = False
            tables = {"prediction": prediction, "confidence": confidence, "patch_box": patch_box}
            held = ended[:count]  # these keep the answer they stopped with
            for key, table in tables.items():
                table[rows, t] = info[key][:count]
                table[rows, t][held] = table[rows, t - 1][held]
            correct[rows, t] = prediction[rows, t] == labels[rows]
            if on_step is not None:
                on_step(env, rows, t, info)
            if stops:
                now = info["stopped"] & ~ended
                stop_step[start + np.flatnonzero(now[:count])] = info["step"][:count][now[:count]]
                ended |= now
                if ended[:count].all() and t < steps - 1:  # the rest keep their answers
                    for table in (*tables.values(), correct):
                        table[rows, t + 1 :] = table[rows, t : t + 1]
                    break
    flops = env_attr(env, "step_flops")
    env.close()
    return EvalResult(
        correct=correct,
        confidence=confidence,
        prediction=prediction,
        labels=labels,
        image_index=image_index,
        mflops=[flops.cumulative(t) / 1e6 for t in range(steps)],
        patch_box=patch_box,
        meta={
            "env_id": env_id,
            "split": split,
            "seed": seed,
            "images": total,
            "subset": SUBSET_RULE if total < available else "all",
        },
        stop_step=stop_step,
    )


def evaluate_policy(*args: Any, **kwargs: Any) -> EvalResult:
    """Deprecated name of :func:`evaluate_anytime` (same arguments, same result), retired because
    Stable-Baselines3's ``evaluate_policy`` is another function (the mean reward of a model)."""
    warnings.warn(
        "agents.evaluate_policy is renamed agents.evaluate_anytime (same arguments); "
        "Stable-Baselines3's evaluate_policy is another function",
        DeprecationWarning,
        stacklevel=2,
    )
    return evaluate_anytime(*args, **kwargs)
