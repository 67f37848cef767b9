"""Pictures of a policy: a grid of test episodes and a heat map of where it looks.

``glance-focus visualize --env ID --agent saliency --n 16 --out DIR`` writes ``DIR/examples.png``
(the first ``n`` test images with the patch of every focus step drawn as a numbered box in the
step's colour, and the prediction after each step) and ``DIR/heatmap.png`` (for each focus step,
the share of test images whose patch covers each pixel). The policy runs through the evaluation
harness (:func:`~agents.evaluation.evaluate_policy`: the same canvases as the benchmark); a thin
wrapper around it keeps the patches it chose.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.baselines import BASELINES, make_baseline
from agents.evaluation import EvalResult, Policy, evaluate_policy
from agents.train import ALGORITHMS, load_agent
from classifiers.ops import patch_corners
from gf_env.config import to_locations
from gf_env.rendering import patch_tags, step_colors


@dataclass
class VisualizeConfig:
    """What to draw; every field is a flag of ``glance-focus visualize``."""

    env: str = "GlanceFocus-ClutteredMNIST100-v0"
    agent: str = "saliency"
    """a heuristic baseline, or a learned algorithm (then --model names its saved zip)"""
    model: str | None = None
    """saved model.zip of a learned agent"""
    n: int = 16
    """episodes in the grid, spread evenly over the evaluated test images (ordered by class)"""
    test_images: int | None = None
    """heat map over the first N test images (default: all)"""
    out: str = "results/visualize"
    """folder for examples.png and heatmap.png"""
    seed: int = 0
    """canvas seed (the benchmark's is 0)"""
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.agent not in ALGORITHMS and self.agent not in BASELINES:
            raise ValueError(
                f"unknown agent {self.agent!r}; choose a baseline {sorted(BASELINES)} or an "
                f"algorithm {sorted(ALGORITHMS)} (with --model PATH)"
            )
        if self.agent in ALGORITHMS and not self.model:
            raise ValueError(
                f"--model PATH is needed to visualize a learned {self.agent!r} agent (the "
                "model.zip that glance-focus train saved)"
            )
        if self.n < 1:
            raise ValueError(f"--n must be at least 1 (episodes in the grid), got {self.n}")
        if self.test_images is not None and self.test_images < 1:
            raise ValueError(
                f"--test-images must be at least 1 (or left out for all), got {self.test_images}"
            )


@dataclass
class Recording:
    """What a policy did on the test images.

    Args:
        result: the evaluation (predictions and correctness after every step).
        corners: ``(n_images, max_focus_steps, 2)`` top-left (row, column) of every focus patch.
        kept: ``(k,)`` which evaluated images (rows of ``result``) ``images`` shows.
        images: ``(k, C, H, W)`` those canvases, as the policy saw them.
        patch_size: side of the focus patches.
    """

    result: EvalResult
    corners: np.ndarray
    kept: np.ndarray
    images: np.ndarray
    patch_size: int


class _Recorder:
    """Passes ``predict`` on to a policy and keeps the patch corners its actions give, and
    ``keep`` canvases spread evenly over the ``images`` evaluated; the harness sees the policy's
    own ``env_kwargs`` and ``bind``."""

    def __init__(self, policy: Policy, images: int | None, keep: int):
        self.policy = policy
        self.env_kwargs = getattr(policy, "env_kwargs", {})
        self.limit, self.count = images, keep
        self.corners: list[np.ndarray] = []
        self.images: list[np.ndarray] = []
        self.episodes = 0

    def bind(self, env) -> None:
        self.env = env
        total = len(env.engine.source)
        total = total if self.limit is None else min(self.limit, total)
        spread = np.linspace(0, total - 1, min(self.count, total)).round()
        self.keep = np.unique(spread.astype(np.int64))
        if hasattr(self.policy, "bind"):
            self.policy.bind(env)

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        engine = self.env.engine
        if np.all(episode_start):  # the harness started a batch: images episodes, episodes + 1, ...
            rows = self.keep[
                (self.keep >= self.episodes) & (self.keep < self.episodes + self.env.num_envs)
            ]
            with torch.inference_mode():
                picked = engine.images[torch.as_tensor(rows - self.episodes, device=engine.device)]
                self.images.append(picked.float().cpu().numpy())
            self.episodes += self.env.num_envs
        actions, state = self.policy.predict(
            observation, state=state, episode_start=episode_start, deterministic=deterministic
        )
        config = self.env.config
        locations = to_locations(actions, config, config.grid(engine), self.env.num_envs)
        size = (engine.height, engine.width)
        self.corners.append(patch_corners(torch.from_numpy(locations), size, engine.patch_size))
        return actions, state


def record(
    policy: Policy,
    env_id: str,
    *,
    images: int | None = None,
    keep: int = 16,
    seed: int = 0,
    **kwargs: Any,
) -> Recording:
    """Run ``policy`` on the first ``images`` test images (default all) with
    :func:`~agents.evaluation.evaluate_policy`; keep its patches and ``keep`` canvases spread
    evenly over the evaluated images (the test split is ordered by class). ``kwargs`` go to the
    harness (``device``, ``num_envs``, env arguments)."""
    recorder = _Recorder(policy, images, keep)
    result = evaluate_policy(recorder, env_id, max_images=images, seed=seed, **kwargs)
    steps = result.correct.shape[1] - 1
    corners = np.stack(recorder.corners).reshape(-1, steps, *recorder.corners[0].shape)
    corners = corners.transpose(0, 2, 1, 3).reshape(-1, steps, 2)[: len(result.labels)]
    images_kept = np.concatenate(recorder.images)
    return Recording(result, corners, recorder.keep, images_kept, recorder.env.engine.patch_size)


def load_policy(
    agent: str, model: str | os.PathLike | None, env_id: str, seed: int | None = None
) -> tuple[Policy, dict[str, Any]]:
    """A heuristic by name, or a saved learned agent; returns it and the env arguments it needs."""
    if agent in BASELINES:
        max_steps = gym.spec(env_id).kwargs.get("max_focus_steps", 4)
        return make_baseline(agent, max_steps, seed=seed), {}
    if agent in ALGORITHMS and model:
        return load_agent(agent, model)
    raise ValueError(
        f"agent {agent!r} with model {model!r}: pass a baseline {sorted(BASELINES)}, or an "
        f"algorithm {sorted(ALGORITHMS)} with the path of its saved model"
    )


def visualize(config: VisualizeConfig) -> dict[str, Path]:
    """Draw ``examples.png`` and ``heatmap.png`` into ``config.out``; returns their paths."""
    device = None if config.device == "auto" else config.device
    policy, env_kwargs = load_policy(config.agent, config.model, config.env, config.seed)
    images = None if config.test_images is None else max(config.test_images, config.n)
    recording = record(
        policy,
        config.env,
        images=images,
        keep=config.n,
        seed=config.seed,
        device=device,
        **env_kwargs,
    )
    out = Path(config.out)
    title = f"{config.agent} on {config.env}"
    paths = {
        "examples": plot_examples(recording, out / "examples.png", title),
        "heatmap": plot_heatmap(recording, out / "heatmap.png", title),
    }
    for path in paths.values():
        print(f"wrote {path}")
    return paths


def write_examples(
    policy: Policy,
    env_id: str,
    path: str | os.PathLike,
    n: int = 16,
    images: int | None = None,
    **kwargs: Any,
) -> Path:
    """``examples.png`` of ``policy``: ``n`` episodes spread over the first ``images`` test images
    (default all); the benchmark's per-agent picture. ``kwargs`` go to :func:`record`."""
    recording = record(policy, env_id, images=images, keep=n, **kwargs)
    name = getattr(policy, "name", type(policy).__name__)
    return plot_examples(recording, path, f"{name} on {env_id}")


def plot_examples(recording: Recording, path: str | os.PathLike, title: str) -> Path:
    """A grid of the kept episodes: the canvas, every focus patch as a numbered box in its step's
    colour, and the prediction after the glance and each focus step (green: right at the end)."""
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    result, images = recording.result, recording.images
    count = len(images)
    columns = min(count, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.1 * columns, 2.4 * rows), squeeze=False)
    colors = step_colors(recording.corners.shape[1] + 1) / 255
    side = recording.patch_size
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= count:
            continue
        ax.imshow(_as_picture(images[k]), cmap="gray", vmin=0, vmax=1)
        row = recording.kept[k]
        corners = recording.corners[row]
        for step, ((top, left), tag) in enumerate(
            zip(corners, patch_tags(corners), strict=True), start=1
        ):
            ax.add_patch(
                Rectangle((left - 0.5, top - 0.5), side, side, fill=False, lw=1.5, ec=colors[step])
            )
            if tag is not None:
                box = {"boxstyle": "square,pad=0.1", "fc": colors[step], "ec": "none"}
                ax.text(left + 0.5, top + 0.5, tag, fontsize=7, va="top", ha="left", bbox=box)
        predictions = " → ".join(str(p) for p in result.prediction[row])
        right = result.correct[row, -1]
        ax.set_title(
            f"label {result.labels[row]}\n{predictions}",
            fontsize=8,
            color="darkgreen" if right else "firebrick",
        )
    fig.suptitle(
        f"{title}\nboxes: focus patches by step; under the label: prediction after the glance "
        "and each focus step (green: right at the end)",
        fontsize=8,
    )
    fig.tight_layout()
    return _save(fig, path)


def coverage(recording: Recording) -> np.ndarray:
    """``(max_focus_steps, H, W)``: for each focus step, the share of the evaluated images whose
    patch covers each pixel."""
    corners, side = recording.corners, recording.patch_size
    cover = np.zeros((corners.shape[1], *recording.images.shape[2:]))
    for step in range(corners.shape[1]):
        for top, left in corners[:, step]:
            cover[step, top : top + side, left : left + side] += 1
    return cover / len(corners)


def plot_heatmap(recording: Recording, path: str | os.PathLike, title: str) -> Path:
    """For each focus step and for all steps together, the share of test images whose patch
    covers each pixel."""
    plt = _pyplot()
    cover = coverage(recording)
    count, steps = recording.corners.shape[:2]
    panels = [*cover, cover.mean(axis=0)]
    names = [f"focus step {s + 1}" for s in range(steps)] + ["all focus steps (mean)"]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(2.2 * len(panels) + 1, 2.8), squeeze=False, layout="constrained"
    )
    top = max(float(cover.max()), 1e-9)
    for ax, panel, name in zip(axes[0], panels, names, strict=True):
        shown = ax.imshow(panel, cmap="magma", vmin=0, vmax=top)
        ax.set_title(name, fontsize=8)
        ax.set_axis_off()
    fig.colorbar(shown, ax=axes[0].tolist(), shrink=0.8, label="share of images")
    accuracy = recording.result.anytime_accuracy
    fig.suptitle(
        f"{title}: where the patches fall on {count} test images\n"
        f"(accuracy {accuracy[0]:.1%} after the glance, {accuracy[-1]:.1%} at the end)",
        fontsize=9,
    )
    return _save(fig, path)


def _as_picture(image: np.ndarray) -> np.ndarray:
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    _pyplot().close(fig)
    return path
