"""Stage-1 training of a GF classifier on MNIST canvases (and the engine that stage 3 reuses).

Each batch draws fresh canvases, glances, then focuses ``focus_steps`` times at random locations;
the loss is the mean over steps of the head's cross-entropy plus ``dsn_ratio`` times the encoder's
own cross-entropy (deep supervision), as in GFNet's stage 1.

Departure from GFNet, on purpose: a uniformly random 28-32 pixel patch rarely covers a 28 pixel digit
on a 60-100 pixel canvas, so the local encoder would barely learn digits. With probability
``target_patch_prob`` a focus location is instead drawn around the target digit (the canvas knows
where it put it); ``--target-patch-prob 0`` gives GFNet's uniform stage 1.

Where the focus patches go is one overridable method, :meth:`Trainer.locations`: stage 3
(``agents.finetune``) subclasses the trainer and lets a learned policy choose them.

Reproducible: all randomness of epoch ``e`` comes from generators seeded with ``(seed, e)``, so an
interrupted run resumed with ``--resume`` ends in the same state as an uninterrupted one.

Usage::

    python -m classifiers.train --classifier gf-mnist-cluttered100 \\
        --export classifiers/weights/gf-mnist-cluttered100.pt
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from classifiers.checkpoint import classifier_checkpoint, load_file, load_into, save_atomic
from classifiers.data import CanvasDataset, DigitAugment, mnist_canvases
from classifiers.flags import add_dataclass_arguments
from classifiers.gf_model import GFModel
from classifiers.registry import create_classifier, get_entry, resolve_device

EVAL_SEED = 12345

Locate = Callable[[torch.Tensor, torch.Tensor, np.ndarray, np.random.Generator], np.ndarray]
"""``(images, labels, boxes, rng) -> locations (N, steps, 2)``: where a batch's focus patches go."""


@dataclass
class TrainConfig:
    """Stage-1 settings; every field is a command-line flag (``--field-name``)."""

    classifier: str = "gf-mnist-cluttered100"
    """registry name of the model to train"""
    data: str | None = None
    """canvas preset; default: the one the registry entry names"""
    mnist_root: str | None = None
    """torchvision MNIST folder for the full set; default: the embedded 5,000 digits"""
    out: str | None = None
    """run folder (checkpoints, TensorBoard logs); default runs/<classifier>"""
    init: str | None = None
    """start from these weights: 'pretrained' (the shipped ones) or a checkpoint path; default random"""
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    focus_steps: int = 4
    """focus steps per image after the glance (T - 1)"""
    dsn_ratio: float = 1.0
    """weight of the encoders' own cross-entropy (deep supervision)"""
    target_patch_prob: float = 0.5
    """probability that a focus location is drawn around the target digit instead of uniformly"""
    target_jitter: float = 0.25
    """max offset of a target-centred patch from the digit centre, as a fraction of the patch"""
    augment: bool = True
    """random affine distortion of training digits"""
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    """torch CPU threads; 0 keeps torch's default"""
    resume: bool = False
    """continue from <out>/last.pt"""
    export: str | None = None
    """write the final weights (slim checkpoint) here, e.g. classifiers/weights/<name>.pt"""
    progress: bool = True
    max_images: int | None = None
    """use a fixed subset of N digits of each split (quick runs and tests)"""

    def __post_init__(self) -> None:
        checks = {
            "epochs": (self.epochs >= 1, ">= 1"),
            "batch_size": (self.batch_size >= 1, ">= 1"),
            "lr": (self.lr > 0, "> 0"),
            "focus_steps": (self.focus_steps >= 0, ">= 0"),
            "target_patch_prob": (0.0 <= self.target_patch_prob <= 1.0, "in [0, 1]"),
            "dsn_ratio": (self.dsn_ratio >= 0, ">= 0"),
        }
        bad = [
            f"{name}={getattr(self, name)!r} (must be {rule})"
            for name, (ok, rule) in checks.items()
            if not ok
        ]
        if bad:
            raise ValueError(f"invalid training settings: {', '.join(bad)}")


def sample_locations(
    boxes: np.ndarray,
    image_size: tuple[int, int],
    patch_size: int,
    steps: int,
    target_prob: float,
    jitter: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Focus locations ``(N, steps, 2)`` in [0, 1]: uniform, or around ``boxes`` with ``target_prob``.

    ``boxes`` is ``(N, 4)`` (top, left, height, width) of the target objects.
    """
    n = len(boxes)
    uniform = rng.random((n, steps, 2))
    span = np.array(image_size, dtype=np.float64) - patch_size
    centre = boxes[:, None, :2] + boxes[:, None, 2:] / 2.0
    offset = rng.uniform(-jitter, jitter, (n, steps, 2)) * patch_size
    targeted = (centre + offset - patch_size / 2.0) / np.maximum(span, 1.0)
    use_target = rng.random((n, steps, 1)) < target_prob
    return np.clip(np.where(use_target, targeted, uniform), 0.0, 1.0)


def draw_batch(
    data: CanvasDataset, indices: np.ndarray, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Canvases of ``indices`` drawn one after the other from one ``rng``."""
    samples = [data.sample(int(i), rng) for i in indices]
    images = torch.from_numpy(np.stack([s.image for s in samples]))
    labels = torch.tensor([s.label for s in samples], dtype=torch.long)
    shape = data.image_shape
    boxes = np.array([s.box if s.box is not None else (0, 0, shape[1], shape[2]) for s in samples])
    return images, labels, boxes


def step_losses(
    steps: list[tuple[torch.Tensor, torch.Tensor]], labels: torch.Tensor, dsn: float
) -> torch.Tensor:
    """Mean over steps of CE(head) + dsn * CE(encoder head)."""
    losses = [
        F.cross_entropy(logits, labels) + dsn * F.cross_entropy(aux, labels)
        for logits, aux in steps
    ]
    return torch.stack(losses).mean()


@torch.inference_mode()
def evaluate(
    model: GFModel,
    data: CanvasDataset,
    focus_steps: int,
    batch_size: int = 256,
    seed: int = EVAL_SEED,
    target_prob: float = 0.0,
    jitter: float = 0.25,
    locate: Locate | None = None,
) -> list[float]:
    """Accuracy after each step (glance first) on every image of ``data``, one canvas each.

    Locations are uniform (``target_prob=0``), all target-centred (``target_prob=1``) or chosen by
    ``locate`` (e.g. a policy); the canvases and locations depend only on ``seed``.
    """
    was_training = model.training
    model.eval()
    device = model.device
    rng = np.random.default_rng(seed)
    correct = np.zeros(focus_steps + 1)
    size = data.image_shape[1:]
    for start in range(0, len(data), batch_size):
        indices = np.arange(start, min(start + batch_size, len(data)))
        images, labels, boxes = draw_batch(data, indices, rng)
        images = images.to(device)
        if locate is None:
            locations = sample_locations(
                boxes, size, model.patch_size, focus_steps, target_prob, jitter, rng
            )
        else:
            locations = locate(images, labels, boxes, rng)
        steps = model.unroll(images, torch.from_numpy(locations).to(device))
        for t, (logits, _) in enumerate(steps):
            correct[t] += (logits.argmax(1).cpu() == labels).sum().item()
    model.train(was_training)
    return (correct / len(data)).tolist()


class Trainer:
    """Owns the model, optimiser, schedule and run folder of one stage-1 training.

    Subclasses change where the focus patches go (:meth:`locations`) and what is evaluated after
    each epoch (:meth:`evaluations`); ``stage`` is recorded in the checkpoint's metadata.
    """

    stage: ClassVar[int] = 1

    def __init__(self, config: TrainConfig):
        self.config = config
        entry = get_entry(config.classifier)
        self.data_name = config.data or entry.data
        if self.data_name is None:
            raise ValueError(
                f"classifier {config.classifier!r} names no training data; pass --data"
            )
        self.out = Path(config.out or Path("runs") / config.classifier)
        self.device = resolve_device(config.device)
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        model = create_classifier(
            config.classifier,
            pretrained=config.init == "pretrained",
            checkpoint=None if config.init in (None, "pretrained") else config.init,
            device=self.device,
        )
        if not isinstance(model, GFModel):
            raise TypeError(
                f"classifiers.train trains GFModel classifiers, got {type(model).__name__}"
            )
        self.model = model.train()
        augment = DigitAugment() if config.augment else None
        self.train_data: CanvasDataset = mnist_canvases(
            self.data_name, "train", config.mnist_root, augment, limit=config.max_images
        )
        self.test_data: CanvasDataset = mnist_canvases(
            self.data_name, "test", config.mnist_root, limit=config.max_images
        )
        image_size = self.train_data.image_shape[1:]
        if tuple(model.config.image_size) != image_size:
            raise ValueError(
                f"classifier {config.classifier!r} expects {model.config.image_size} images but data "
                f"{self.data_name!r} has {image_size}; pick matching --data"
            )
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.batches_per_epoch = math.ceil(len(self.train_data) / config.batch_size)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=config.epochs * self.batches_per_epoch
        )
        self.epoch = 0
        self.history: list[dict[str, Any]] = []

    @property
    def last_path(self) -> Path:
        return self.out / "last.pt"

    def state(self) -> dict[str, Any]:
        """The resumable checkpoint: a classifier checkpoint plus optimiser and schedule."""
        return {
            **classifier_checkpoint(self.config.classifier, self.model, **self.meta()),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def meta(self) -> dict[str, Any]:
        """How the weights were made: stage, data, epochs, settings and per-epoch metrics."""
        return {
            "stage": self.stage,
            "data": self.data_name,
            "epochs_done": self.epoch,
            "train_config": dataclasses.asdict(self.config),
            "history": self.history,
        }

    def resume(self) -> None:
        """Restore model, optimiser, schedule, epoch and history from ``<out>/last.pt``."""
        if not self.last_path.is_file():
            raise FileNotFoundError(
                f"--resume given but {str(self.last_path)!r} does not exist; drop --resume to start afresh"
            )
        state = load_file(self.last_path, map_location=self.device)
        load_into(self.model, state, source=str(self.last_path))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["meta"]["epochs_done"])
        self.history = list(state["meta"]["history"])

    def train_epoch(self) -> float:
        """One pass over the training digits with fresh canvases; returns the mean loss."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, self.epoch])
        torch.manual_seed(
            cfg.seed * 1_000_003 + self.epoch
        )  # torch draws (e.g. a policy's samples)
        order = rng.permutation(len(self.train_data))
        total, seen = 0.0, 0
        bar = tqdm(
            range(self.batches_per_epoch),
            desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
            disable=not cfg.progress,
            leave=False,
        )
        for b in bar:
            indices = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            images, labels, boxes = draw_batch(self.train_data, indices, rng)
            images = images.to(self.device)
            locations = self.locations(images, labels, boxes, rng)
            steps = self.model.unroll(images, torch.from_numpy(locations).to(self.device))
            loss = step_losses(steps, labels.to(self.device), cfg.dsn_ratio)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            total += loss.item() * len(indices)
            seen += len(indices)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        return total / seen

    def locations(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        boxes: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Focus locations ``(N, focus_steps, 2)`` of a training batch: uniform, or around the
        digit with probability ``target_patch_prob``."""
        cfg = self.config
        size = self.train_data.image_shape[1:]
        return sample_locations(
            boxes,
            size,
            self.model.patch_size,
            cfg.focus_steps,
            cfg.target_patch_prob,
            cfg.target_jitter,
            rng,
        )

    def evaluations(self) -> dict[str, list[float]]:
        """Test accuracy after each step, per kind of focus location (logged after each epoch)."""
        steps = self.config.focus_steps
        return {
            "random": evaluate(self.model, self.test_data, steps),
            "target": evaluate(self.model, self.test_data, steps, target_prob=1.0),
        }

    def fit(self, stop_after: int | None = None) -> list[dict[str, Any]]:
        """Train until ``config.epochs`` (or, to simulate an interruption, ``stop_after``) epochs."""
        cfg = self.config
        if cfg.resume:
            self.resume()
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(self.out / "tb"))
        last = cfg.epochs if stop_after is None else min(stop_after, cfg.epochs)
        while self.epoch < last:
            start = time.perf_counter()
            loss = self.train_epoch()
            accuracies = self.evaluations()
            self.epoch += 1
            record = {
                "epoch": self.epoch,
                "train_loss": loss,
                **{f"test_acc_{kind}": acc for kind, acc in accuracies.items()},
                "seconds": time.perf_counter() - start,
            }
            self.history.append(record)
            writer.add_scalar("train/loss", loss, self.epoch)
            writer.add_scalar("train/lr", self.scheduler.get_last_lr()[0], self.epoch)
            for kind, acc in accuracies.items():
                for t, a in enumerate(acc):
                    writer.add_scalar(f"test/acc_{kind}_step{t}", a, self.epoch)
            writer.flush()
            save_atomic(self.state(), self.last_path)
            shown = " ".join(
                f"({kind}) {' '.join(f'{a:.3f}' for a in acc)}" for kind, acc in accuracies.items()
            )
            print(
                f"epoch {self.epoch}/{cfg.epochs} loss {loss:.4f} test acc {shown} "
                f"[{record['seconds']:.0f}s]",
                flush=True,
            )
        writer.close()
        if cfg.export and self.epoch == cfg.epochs:
            save_atomic(
                classifier_checkpoint(cfg.classifier, self.model, **self.meta()), cfg.export
            )
            print(f"exported weights to {cfg.export}")
        return self.history


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m classifiers.train",
        description="Stage-1 training of a glance/focus classifier on MNIST canvases.",
    )
    add_dataclass_arguments(parser, TrainConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = TrainConfig(**vars(args))
    history = Trainer(config).fit()
    print(json.dumps(history[-1], indent=None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
