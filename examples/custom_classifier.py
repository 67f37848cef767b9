"""Plug in your own classifier: a small glance/focus model of your own (not in the registry) drives
the environment, and PPO learns where it should look.

    python examples/custom_classifier.py --classifier-steps 400 --timesteps 4096

A single readable script: arguments, seeding, the classifier (it only has to implement
``classifiers.GlanceFocusClassifier``), a short supervised training of it on canvases, the
environment built around it with ``gym.make(..., classifier=model)``, PPO, evaluation.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3 import PPO
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import gf_env
from classifiers import StepFlops, StepOutput
from classifiers.data import mnist_canvases
from classifiers.flags import add_dataclass_arguments
from classifiers.ops import crop_patches, patch_corners

gym.register_envs(gf_env)


@dataclass
class Args:
    env: str = "GlanceFocus-ClutteredMNIST-v0"
    """60x60 canvases with 4 distractors"""
    data: str = "cluttered60"
    """the same canvases, for training the classifier"""
    classifier_steps: int = 400
    """supervised training batches of the classifier"""
    batch_size: int = 32
    timesteps: int = 4096
    eval_episodes: int = 100
    seed: int = 0


class TinyGlanceFocus(nn.Module):
    """A GlanceFocusClassifier in a few lines: two small CNN encoders and a GRU cell."""

    num_classes, in_chans, state_dim = 10, 1, 64
    state_range = (-1.0, 1.0)  # optional: GRU states are in [-1, 1], so observations are bounded
    feature_shape = (16, 4, 4)

    def __init__(self, image_size: int = 60, patch_size: int = 28, glance_size: int = 16):
        super().__init__()
        self.image_size, self.patch_size, self.glance_size = image_size, patch_size, glance_size
        self.global_encoder, self.local_encoder = self._encoder(), self._encoder()
        self.rnn = nn.GRUCell(16 * 4 * 4, self.state_dim)
        self.head = nn.Linear(self.state_dim, self.num_classes)
        self.calls = Counter()  # only to show (and test) that the environment calls us

    @staticmethod
    def _encoder() -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(), nn.AdaptiveMaxPool2d(4),
        )  # fmt: skip

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _step(self, encoder: nn.Module, x: torch.Tensor, state: torch.Tensor | None) -> StepOutput:
        features = encoder(x)
        state = self.rnn(features.flatten(1), state)
        return StepOutput(logits=self.head(state), state=state, features=features)

    def glance(self, images: torch.Tensor) -> StepOutput:
        self.calls["glance"] += 1
        small = F.interpolate(images, size=self.glance_size, mode="bilinear", antialias=True)
        return self._step(self.global_encoder, small, None)

    def focus(self, patches: torch.Tensor, state: torch.Tensor) -> StepOutput:
        self.calls["focus"] += 1
        return self._step(self.local_encoder, patches, state)

    def step_flops(self) -> StepFlops:
        self.calls["step_flops"] += 1
        image = torch.zeros(1, self.in_chans, self.image_size, self.image_size, device=self.device)
        with torch.no_grad(), FlopCounterMode(display=False) as glance:
            state = self.glance(image).state
        with torch.no_grad(), FlopCounterMode(display=False) as focus:
            self.focus(image[..., : self.patch_size, : self.patch_size], state)
        return StepFlops(glance=glance.get_total_flops(), focus=focus.get_total_flops())


def train_classifier(model: TinyGlanceFocus, args: Args, rng: np.random.Generator) -> float:
    """Glance, then focus once on the digit and once at random; cross-entropy after every step.
    Returns the last batch's loss."""
    canvases = mnist_canvases(args.data, "train")
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    size, side = (model.image_size, model.image_size), model.patch_size
    for _ in range(args.classifier_steps):
        indices = rng.integers(len(canvases), size=args.batch_size)
        batch = canvases.sample_batch(indices, [rng] * args.batch_size)
        images, labels = torch.from_numpy(batch.images), torch.from_numpy(batch.labels)
        centres = batch.boxes[:, :2] + batch.boxes[:, 2:] / 2  # where the digit is
        on_digit = np.clip((centres - side / 2) / (model.image_size - side), 0, 1)
        out = model.glance(images)
        losses = [F.cross_entropy(out.logits, labels)]
        for locations in (on_digit, rng.random((len(labels), 2))):
            corners = patch_corners(torch.from_numpy(locations), size, side)
            out = model.focus(crop_patches(images, corners, side), out.state)
            losses.append(F.cross_entropy(out.logits, labels))
        loss = torch.stack(losses).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def evaluate(policy: PPO | None, env: gym.Env, episodes: int, seed: int) -> tuple[float, float]:
    """Accuracy after the glance and after the last focus step (``policy=None``: random)."""
    glance, final = [], []
    env.action_space.seed(seed)
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        glance.append(info["prediction"] == info["label"])
        terminated = False
        while not terminated:
            if policy is None:
                action = env.action_space.sample()
            else:
                action = policy.predict(obs, deterministic=True)[0]
            obs, _, terminated, _, info = env.step(action)
        final.append(info["prediction"] == info["label"])
    return float(np.mean(glance)), float(np.mean(final))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_dataclass_arguments(parser, Args)
    args = Args(**vars(parser.parse_args(argv)))

    # seeding: torch draws the classifier's weights, rng its training canvases and patches,
    # PPO seeds itself and the env from seed=, evaluation canvases have seeds of their own
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    model = TinyGlanceFocus()
    loss = train_classifier(model, args, rng)
    print(f"classifier: last training loss {loss:.3f}")

    env = gym.make(args.env, classifier=model)  # frozen (eval mode, no gradients) by the env
    n_steps = min(256, args.timesteps)
    agent = PPO(
        "MlpPolicy", env, n_steps=n_steps, batch_size=min(64, n_steps), gamma=0.7, seed=args.seed
    )
    agent.learn(args.timesteps)

    test_env = gym.make(args.env, split="test", classifier=model)
    glance, ppo = evaluate(agent, test_env, args.eval_episodes, seed=10_000)
    _, random_patches = evaluate(None, test_env, args.eval_episodes, seed=10_000)
    print(
        f"test accuracy: glance {glance:.3f}; after the last focus step: PPO {ppo:.3f}, "
        f"random patches {random_patches:.3f}"
    )
    return {"loss": loss, "glance": glance, "ppo": ppo, "random": random_patches, "model": model}


if __name__ == "__main__":
    main()
