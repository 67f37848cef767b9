"""Plug in your own classifier: a small glance/focus model of your own (not in the registry) drives
the environment, and PPO learns where it should look.

    python examples/custom_classifier.py              # about 2 CPU-minutes the first time
    python examples/custom_classifier.py --no-cache   # retrain the classifier

A single readable script: arguments, seeding, the classifier (it only has to implement
``classifiers.GlanceFocusClassifier``), its supervised training on canvases (episodes as the env
runs them: a glance, then patches on the digit or anywhere), the environment built around it with
``gym.make(..., classifier=model)``, PPO, evaluation. The trained classifier is kept in a user
cache folder (``--cache-dir``, default ``$XDG_CACHE_HOME/glance-focus/examples`` or
``~/.cache/glance-focus/examples``), one file per set of training arguments, so later runs go
straight to PPO.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
import tyro
from stable_baselines3 import PPO
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import gf_env
from classifiers import StepFlops, StepOutput, load_file, save_atomic
from classifiers.data import mnist_canvases
from classifiers.patches import crop_patches, patch_corners

gym.register_envs(gf_env)


@dataclass
class Args:
    env: str = "GlanceFocus-ClutteredMNIST-v0"
    """60x60 canvases with 4 distractors"""
    data: str = "cluttered60"
    """the same canvases, for training the classifier"""
    classifier_steps: int = 3000
    """supervised training batches of the classifier"""
    batch_size: int = 32
    lr: float = 3e-3
    """peak learning rate (one-cycle schedule)"""
    focus_steps: int = 4
    """focus steps per training episode (the env's max_focus_steps)"""
    target_patch_prob: float = 0.5
    """chance that a training patch is put on the digit rather than anywhere"""
    timesteps: int = 8192
    """PPO environment steps"""
    eval_episodes: int = 300
    seed: int = 0
    cache: bool = True
    """reuse the classifier trained once with the same arguments (a file in cache_dir)"""
    cache_dir: str | None = None
    """where trained classifiers are kept; default $XDG_CACHE_HOME/glance-focus/examples"""


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
    """Episodes as the env runs them: a glance, then ``focus_steps`` patches, each on the digit with
    probability ``target_patch_prob`` (else anywhere, as a policy may look); cross-entropy after
    every step. Returns the mean loss of the last 50 batches."""
    canvases = mnist_canvases(args.data, "train")
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, args.classifier_steps)
    size, side = (model.image_size, model.image_size), model.patch_size
    model.train().requires_grad_(True)
    recent: list[float] = []
    for _ in range(args.classifier_steps):
        indices = rng.integers(len(canvases), size=args.batch_size)
        batch = canvases.sample_batch(indices, [rng] * args.batch_size)
        images, labels = torch.from_numpy(batch.images), torch.from_numpy(batch.labels)
        centres = batch.boxes[:, :2] + batch.boxes[:, 2:] / 2  # where the digit is
        on_digit = (centres - side / 2) / (model.image_size - side)
        out = model.glance(images)
        losses = [F.cross_entropy(out.logits, labels)]
        for _ in range(args.focus_steps):
            near = rng.random((len(labels), 1)) < args.target_patch_prob
            jitter = rng.normal(0.0, 0.1, on_digit.shape)
            locations = np.clip(np.where(near, on_digit + jitter, rng.random(on_digit.shape)), 0, 1)
            corners = patch_corners(torch.from_numpy(locations), size, side)
            out = model.focus(crop_patches(images, corners, side), out.state)
            losses.append(F.cross_entropy(out.logits, labels))
        loss = torch.stack(losses).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        recent = [*recent[-49:], loss.item()]
    return float(np.mean(recent))


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


def cached_classifier(args: Args, rng: np.random.Generator) -> tuple[TinyGlanceFocus, float]:
    """The classifier trained with ``args``: from the cache when it is there, else trained (and
    stored, with ``--cache``). Returns it and its last training loss (``nan`` when cached)."""
    model = TinyGlanceFocus()
    root = args.cache_dir or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
        "glance-focus",
        "examples",
    )
    name = (
        f"tiny-gf-{args.data}-steps{args.classifier_steps}-batch{args.batch_size}-lr{args.lr}-"
        f"focus{args.focus_steps}-p{args.target_patch_prob}-seed{args.seed}.pt"
    )
    path = os.path.join(root, name)
    if args.cache and os.path.isfile(path):
        model.load_state_dict(load_file(path))
        print(f"classifier: loaded {path} (--no-cache retrains)")
        return model, float("nan")
    loss = train_classifier(model, args, rng)
    print(f"classifier: mean loss of the last 50 batches {loss:.3f}")
    if args.cache:
        print(f"classifier: saved {save_atomic(model.state_dict(), path)}")
    return model, loss


def main(argv: list[str] | None = None) -> dict:
    args = tyro.cli(Args, description=__doc__.split("\n\n")[0], args=argv)

    # seeding: torch draws the classifier's weights, rng its training canvases and patches,
    # PPO seeds itself and the env from seed=, evaluation canvases have seeds of their own
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    model, loss = cached_classifier(args, rng)

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
        f"random patches {random_patches:.3f} (chance 0.1)"
    )
    return {"loss": loss, "glance": glance, "ppo": ppo, "random": random_patches, "model": model}


if __name__ == "__main__":
    main()
