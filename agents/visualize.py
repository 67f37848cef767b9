"""Pictures of a policy: a grid of test episodes and a heat map of where it looks.

``glance-focus visualize --env ID --agent saliency --n 16 --out DIR`` writes ``DIR/examples.png``
(``n`` test images, spread over the split, with the patch of every focus step drawn as a numbered box in the
step's colour, and the prediction after each step) and ``DIR/heatmap.png`` (for each focus step,
the share of test images whose patch covers each pixel). The policy runs through the evaluation
harness (:func:`~agents.evaluation.evaluate_anytime`: the same canvases as the benchmark); the
pictures come from what the env reports: ``info["patch_box"]`` of every step and ``render()`` of
the kept episodes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.env_api import env_attr
from agents.evaluation import EvalResult, Policy, evaluate_anytime
from agents.policies import PolicyOptions, load_policy
from agents.settings import check_image_counts


@dataclass
class VisualizeConfig(PolicyOptions):
    """Draw examples.png (episodes, patches, predictions) and heatmap.png (where a policy looks);
    every field is a flag of ``glance-focus visualize``."""

    n: int = 16
    """episodes in the grid, spread evenly over the evaluated test images (ordered by class)"""
    test_images: int | None = None
    """heat map over N test images spread over the split (default: all)"""
    out: str = "results/visualize"
    """folder for examples.png and heatmap.png"""
    seed: int = 0
    """canvas seed (the benchmark's is 0)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n < 1:
            raise ValueError(f"--n must be at least 1 (episodes in the grid), got {self.n}")
        check_image_counts(test_images=self.test_images)


@dataclass
class Recording:
    """What a policy did on the test images.

    Args:
        result: the evaluation (predictions, correctness and ``patch_box`` after every step).
        kept: ``(k,)`` which evaluated images (rows of ``result``) ``frames`` shows.
        frames: ``k`` frames ``(height, width, 3)`` ``uint8``: the env's ``render()`` of those
            episodes after their last step (image, numbered patches, prediction, top classes).
    """

    result: EvalResult
    kept: np.ndarray
    frames: list[np.ndarray]

    @property
    def corners(self) -> np.ndarray:
        """``(n_images, max_focus_steps, 2)`` top-left (row, column) of every focus patch."""
        return self.result.patch_box[:, 1:, :2]

    @property
    def patch_size(self) -> int:
        """Side of the focus patches (from the first focus step's ``patch_box``)."""
        return int(self.result.patch_box[0, 1, 2])

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of the images (the glance's ``patch_box`` is the whole image)."""
        return tuple(int(v) for v in self.result.patch_box[0, 0, 2:])


class _FrameKeeper:
    """An ``on_step`` hook of the harness: after the last step of a batch, renders the episodes
    of ``count`` rows spread evenly over the ``images`` evaluated test images (the env is made with
    ``render_mode="rgb_array"``)."""

    def __init__(self, images: int | None, count: int):
        self.images, self.count = images, count
        self.keep = np.zeros(0, dtype=np.int64)
        self.frames: list[np.ndarray] = []

    def __call__(self, env, rows: slice, t: int, info) -> None:
        if rows.start == 0 and t == 0:  # the first batch: the env says how many images there are
            available = env_attr(env, "num_images")
            total = available if self.images is None else min(self.images, available)
            spread = np.linspace(0, total - 1, min(self.count, total)).round()
            self.keep = np.unique(spread.astype(np.int64))
            self.last_step = env_attr(env, "max_focus_steps")
        if t != self.last_step:
            return
        wanted = self.keep[(self.keep >= rows.start) & (self.keep < rows.stop)]
        if len(wanted):
            frames = env.render()
            self.frames.extend(frames[row - rows.start] for row in wanted)


def record(
    policy: Policy,
    env_id: str,
    *,
    images: int | None = None,
    keep: int = 16,
    seed: int = 0,
    **kwargs: Any,
) -> Recording:
    """Run ``policy`` on ``images`` test images spread over the split (default all) with
    :func:`~agents.evaluation.evaluate_anytime`; keep the rendered last frames of ``keep``
    episodes spread evenly over the evaluated images (the embedded test split is ordered by
    class, so every class shows).
    ``kwargs`` go to the harness (``device``, ``num_envs``, env arguments)."""
    keeper = _FrameKeeper(images, keep)
    result = evaluate_anytime(
        policy,
        env_id,
        max_images=images,
        seed=seed,
        on_step=keeper,
        render_mode="rgb_array",
        **kwargs,
    )
    return Recording(result, keeper.keep, keeper.frames)


def visualize(config: VisualizeConfig) -> dict[str, Path]:
    """Draw ``examples.png`` and ``heatmap.png`` into ``config.out``; returns their paths."""
    policy, env_kwargs = load_policy(
        config.agent,
        config.model,
        config.env,
        config.seed,
        device=config.device,
        env_kwargs=config.env_kwargs,
    )
    images = None if config.test_images is None else max(config.test_images, config.n)
    recording = record(
        policy,
        config.env,
        images=images,
        keep=config.n,
        seed=config.seed,
        device=config.device,
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
    """``examples.png`` of ``policy``: ``n`` episodes spread over ``images`` test images
    (default all); the benchmark's per-agent picture. ``kwargs`` go to :func:`record`."""
    recording = record(policy, env_id, images=images, keep=n, **kwargs)
    name = getattr(policy, "name", type(policy).__name__)
    return plot_examples(recording, path, f"{name} on {env_id}")


def plot_examples(recording: Recording, path: str | os.PathLike, title: str) -> Path:
    """A grid of the kept episodes as the env renders them (the image, every focus patch as a
    numbered box in its step's colour, the final prediction and top classes), titled with the
    label and the prediction after the glance and each focus step (green: right at the end)."""
    plt = _pyplot()
    result, frames = recording.result, recording.frames
    count = len(frames)
    columns = min(count, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.0 * columns, 2.3 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= count:
            continue
        ax.imshow(frames[k])
        row = recording.kept[k]
        predictions = " → ".join(str(p) for p in result.prediction[row])
        ax.set_title(
            f"label {result.labels[row]}: {predictions}",
            fontsize=8,
            color="darkgreen" if result.correct[row, -1] else "firebrick",
        )
    fig.suptitle(
        f"{title}\nboxes: focus patches by step; in the titles: prediction after the glance "
        "and each focus step (green: right at the end)",
        fontsize=8,
    )
    fig.tight_layout()
    return _save(fig, path)


def coverage(recording: Recording) -> np.ndarray:
    """``(max_focus_steps, H, W)``: for each focus step, the share of the evaluated images whose
    patch covers each pixel."""
    corners, side = recording.corners, recording.patch_size
    cover = np.zeros((corners.shape[1], *recording.image_size))
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
