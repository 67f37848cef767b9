"""Stage 3: fine-tune the classifier on the locations a learned policy picks.

GFNet's third stage: the policy is fixed and samples its actions; the encoders and the head are
trained on the patches it chooses, from the stage-1 weights. The locations come from
:func:`gf_env.rollout.rollout_locations`, i.e. from the environment's own observations of the
classifier being trained, so the policy sees what it saw during its training. Everything else
(optimiser, schedule, resumable checkpoints, TensorBoard, export) is the stage-1
:class:`~classifiers.train.Trainer`.

The exported weights plug into the environments with ``checkpoint=``::

    glance-focus finetune --env GlanceFocus-ClutteredMNIST100-v0 --agent ppo \\
        --model runs/agents/GlanceFocus-ClutteredMNIST100-v0/ppo-seed0/model.zip \\
        --export runs/stage3/classifier.pt
    gym.make("GlanceFocus-ClutteredMNIST100-v0", checkpoint="runs/stage3/classifier.pt")
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.train import ALGORITHMS, load_model, policy_env_kwargs
from classifiers.flags import add_dataclass_arguments
from classifiers.train import TrainConfig, Trainer, evaluate
from gf_env.rollout import rollout_locations


@dataclass
class FinetuneConfig(TrainConfig):
    """Stage-3 settings: those of stage 1 plus the policy; every field is a command-line flag.

    ``classifier``, ``data`` and ``focus_steps`` default to those of ``env``; the weights are
    exported to ``<out>/classifier.pt`` unless ``export`` says otherwise. ``target_patch_prob``
    and ``target_jitter`` (stage 1's location sampling) play no part.
    """

    env: str = "GlanceFocus-ClutteredMNIST100-v0"
    """the registered id the policy was trained on"""
    agent: str = "ppo"
    """algorithm of the policy: one of ppo, a2c, sac, td3, recurrent_ppo, dqn"""
    model: str = ""
    """the policy's saved model.zip"""
    deterministic: bool = False
    """use the policy's mean location; GFNet samples (the default)"""
    classifier: str | None = None  # type: ignore[assignment]
    focus_steps: int | None = None  # type: ignore[assignment]
    init: str | None = "pretrained"
    epochs: int = 5
    lr: float = 1e-4

    def __post_init__(self) -> None:
        if self.agent not in ALGORITHMS:
            raise ValueError(f"agent must be one of {sorted(ALGORITHMS)}, got {self.agent!r}")
        if not self.model or not Path(self.model).is_file():
            raise FileNotFoundError(
                f"model {self.model!r} is not a file: pass --model with the policy's model.zip "
                "(written by glance-focus train)"
            )
        kwargs = gym.spec(self.env).kwargs
        if self.classifier is None:
            self.classifier = kwargs["classifier"]
        if self.data is None and isinstance(kwargs.get("data"), str):
            self.data = kwargs["data"]
        if self.focus_steps is None:
            self.focus_steps = int(kwargs.get("max_focus_steps", 4))
        if self.out is None:
            self.out = str(Path("runs") / "stage3" / self.env / Path(self.model).parent.name)
        if self.export is None:
            self.export = str(Path(self.out) / "classifier.pt")
        super().__post_init__()


class FinetuneTrainer(Trainer):
    """The stage-1 trainer with the policy choosing every focus location."""

    stage = 3

    def __init__(self, config: FinetuneConfig):
        super().__init__(config)
        self.policy = load_model(config.agent, config.model, device="cpu")
        self.env_kwargs = policy_env_kwargs(self.policy)

    def _policy_locations(
        self, images: torch.Tensor, labels: torch.Tensor, deterministic: bool
    ) -> np.ndarray:
        return rollout_locations(
            self.model,
            images,
            labels,
            lambda obs: self.policy.predict(obs, deterministic=deterministic)[0],
            max_focus_steps=self.config.focus_steps,
            **self.env_kwargs,
        )

    def locations(self, images, labels, boxes, rng) -> np.ndarray:
        return self._policy_locations(images, labels, self.config.deterministic)

    def evaluations(self) -> dict[str, list[float]]:
        """Test accuracy with the policy's mean locations, and with random ones for reference."""
        return {
            "policy": evaluate(
                self.model,
                self.test_data,
                self.config.focus_steps,
                locate=lambda images, labels, boxes, rng: self._policy_locations(
                    images, labels, deterministic=True
                ),
            ),
            "random": evaluate(self.model, self.test_data, self.config.focus_steps),
        }

    def fit(self, stop_after: int | None = None) -> list[dict[str, Any]]:
        """Record the stage-1 weights' accuracy as epoch 0 (so before/after sit in one history),
        then train as stage 1 does."""
        if not self.config.resume and not self.history:
            self.history.append(
                {"epoch": 0, **{f"test_acc_{k}": v for k, v in self.evaluations().items()}}
            )
        return super().fit(stop_after)


def finetune(config: FinetuneConfig) -> list[dict[str, Any]]:
    """Run stage 3; returns the per-epoch history (epoch 0: the stage-1 weights)."""
    return FinetuneTrainer(config).fit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="glance-focus finetune", description=__doc__.split("\n\n")[0]
    )
    add_dataclass_arguments(parser, FinetuneConfig, skip=("target_patch_prob", "target_jitter"))
    history = finetune(FinetuneConfig(**vars(parser.parse_args(argv))))
    before, after = history[0]["test_acc_policy"], history[-1]["test_acc_policy"]
    print(
        "test accuracy per step with the policy's locations: stage 1 "
        f"{' '.join(f'{a:.3f}' for a in before)} -> stage 3 {' '.join(f'{a:.3f}' for a in after)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
