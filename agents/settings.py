"""The settings every command that runs agents shares, each declared once.

A learned run's settings flow from the command line to the agent without being copied field by
field: ``glance-focus train`` (:class:`agents.train.AgentConfig`), ``glance-focus benchmark``
(:class:`agents.benchmark.BenchmarkConfig`), ``glance-focus leaderboard``
(:class:`agents.leaderboard.LeaderboardConfig`) and the agent protocol's
:class:`agents.protocol.Run` all extend :class:`Training`; the benchmark and the leaderboard
extend :class:`Reuse`, which a leaderboard :class:`~agents.leaderboard.Job` carries to its
worker. The records are keyword-only mix-ins, so ``tyro`` reads their fields as the flags they
always were (``--num-envs``, ``--eval-freq``, ``--eval-images``, ``--device``, ``--reuse``,
``--on-mismatch``) and code reads them as plain attributes (``run.num_envs``). :func:`pick`
carries one record from an object into the next::

    Run(env_id, seed=seed, timesteps=budget, **pick(Training, config))
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from agents.plugins import check_choice

OnMismatch = Literal["redo", "refuse"]
"""What to do with a finished run made with other settings: redo it, or refuse (stop and name
the difference)."""


@dataclass(kw_only=True)
class Training:
    """How a learned run trains and records its learning curve."""

    num_envs: int = 64
    """envs side by side in training"""
    eval_freq: int = 0
    """learning curve: test accuracy every N timesteps (0: only at the end)"""
    eval_images: int = 500
    """test images per learning-curve point"""
    device: str = "auto"
    """where the agent and the env's classifier run (auto: CUDA when present)"""

    def __post_init__(self) -> None:
        if self.num_envs < 1 or self.eval_freq < 0 or self.eval_images < 1:
            raise ValueError(
                "num_envs and eval_images must be >= 1 and eval_freq >= 0, got "
                f"num_envs={self.num_envs}, eval_images={self.eval_images} and "
                f"eval_freq={self.eval_freq}"
            )
        _next_post_init(self, Training)


@dataclass(kw_only=True)
class Reuse:
    """What a command does with a run already finished in its output folder."""

    reuse: bool = True
    """keep finished runs under --out whose settings match (a stopped command resumes)"""
    on_mismatch: OnMismatch = "redo"
    """a finished run made with other settings: redo it, or refuse (stop and name the difference)"""

    def __post_init__(self) -> None:
        check_choice("on_mismatch", self.on_mismatch, OnMismatch)
        _next_post_init(self, Reuse)


def check_image_counts(**counts: int | None) -> None:
    """Refuse a number of images below 1 (``None`` means all of them).

    Raises:
        ValueError: naming the setting and the value.
    """
    for name, value in counts.items():
        if value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            raise ValueError(
                f"{name} ({flag}) must be at least 1 (or left out for all), got {value}"
            )


def pick(record: type, source: Any) -> dict[str, Any]:
    """The fields of the settings class ``record`` read off ``source`` (an object that extends it,
    or has the same attributes), as keyword arguments for the next object."""
    return {f.name: getattr(source, f.name) for f in fields(record)}


def _next_post_init(obj: Any, after: type) -> None:
    """Run the ``__post_init__`` of the class after ``after`` in ``obj``'s MRO, if any (the
    records are mix-ins: every base of a settings class gets its check)."""
    following = getattr(super(after, obj), "__post_init__", None)
    if following is not None:
        following()
