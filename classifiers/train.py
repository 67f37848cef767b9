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

Image folders (ImageNet): ``--image-root`` points at a folder with ``train/`` and ``val/`` class
sub-folders; batches come from a ``torch.utils.data.DataLoader`` with ``--workers`` decoding
processes (random crop + flip for training, the centre crop for evaluation, at the model's image
size), focus locations are uniform (GFNet's stage 1). Started by ``torchrun``, training runs on
every process with PyTorch's ``DistributedDataParallel`` (NCCL on GPUs, one GPU per process; gloo
on CPU): each rank reads its shard of every epoch (``DistributedSampler``), gradients are averaged,
rank 0 writes the checkpoints and logs, evaluation is sharded and summed. On CUDA the forward pass
runs under float16 autocast with gradient scaling (``--no-amp`` to switch off); the scaler is part
of the resumable checkpoint. ``--batch-size`` is per process.

Usage::

    python -m classifiers.train --classifier gf-mnist-cluttered100 \\
        --export classifiers/weights/gf-mnist-cluttered100.pt
    torchrun --nproc_per_node 8 -m classifiers.train --classifier gf-resnet50-p96 \\
        --image-root /data/imagenet --batch-size 32 --optimizer sgd --lr 0.1 --dsn-ratio 1 \\
        --init-backbone --epochs 30
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

from classifiers.checkpoint import classifier_checkpoint, load_file, load_into, save_atomic
from classifiers.data import CanvasDataset, DigitAugment, mnist_canvases
from classifiers.data.folder import FolderDataset
from classifiers.flags import add_dataclass_arguments
from classifiers.gf_model import GFModel
from classifiers.registry import create_classifier, get_entry, resolve_device
from classifiers.torchvision_models import MODEL_SPECS

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
    """use a fixed subset of N digits (or images) of each split (quick runs and tests)"""
    image_root: str | None = None
    """train on an image folder with train/ and val/ class sub-folders (e.g. ImageNet) instead of canvases"""
    workers: int = 4
    """DataLoader worker processes decoding images (--image-root); 0 decodes in the main process"""
    optimizer: str = "adamw"
    """adamw, or sgd (GFNet's: Nesterov momentum 0.9)"""
    init_backbone: bool = False
    """start both encoders from torchvision's ImageNet weights (torchvision registry entries)"""
    amp: bool = True
    """float16 autocast and gradient scaling on CUDA"""

    def __post_init__(self) -> None:
        checks = {
            "epochs": (self.epochs >= 1, ">= 1"),
            "batch_size": (self.batch_size >= 1, ">= 1"),
            "lr": (self.lr > 0, "> 0"),
            "focus_steps": (self.focus_steps >= 0, ">= 0"),
            "target_patch_prob": (0.0 <= self.target_patch_prob <= 1.0, "in [0, 1]"),
            "dsn_ratio": (self.dsn_ratio >= 0, ">= 0"),
            "workers": (self.workers >= 0, ">= 0"),
            "optimizer": (self.optimizer in ("adamw", "sgd"), "'adamw' or 'sgd'"),
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

    ``boxes`` is ``(N, 4)`` (top, left, height, width) of the target objects, or ``(N, K, 4)`` for
    K objects per image (several digits): then step t is around object ``(s + t) mod K`` from a
    random start s, so the steps of one image visit every object.
    """
    n = len(boxes)
    uniform = rng.random((n, steps, 2))
    span = np.array(image_size, dtype=np.float64) - patch_size
    if boxes.ndim == 3:
        k = boxes.shape[1]
        visit = (rng.integers(0, k, size=(n, 1)) + np.arange(steps)) % k
        boxes = boxes[np.arange(n)[:, None], visit]  # (N, steps, 4)
    else:
        boxes = boxes[:, None, :]
    centre = boxes[..., :2] + boxes[..., 2:] / 2.0
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
        correct += step_correct(model, images, labels, torch.from_numpy(locations).to(device))
    model.train(was_training)
    return (correct / len(data)).tolist()


def step_correct(
    model: GFModel, images: torch.Tensor, labels: torch.Tensor, locations: torch.Tensor
) -> np.ndarray:
    """How many of a batch the model gets right after each step (glance first) when it focuses at
    ``locations``."""
    steps = model.unroll(images, locations)
    return np.array([(logits.argmax(1).cpu() == labels).sum().item() for logits, _ in steps])


def init_distributed(device: str) -> tuple[int, int, torch.device]:
    """``(rank, world_size, device)``; under ``torchrun`` (``WORLD_SIZE`` > 1) this joins the
    process group: NCCL with one GPU per process (``LOCAL_RANK``) when CUDA is used, else gloo."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1, resolve_device(device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    target = resolve_device(device)
    if target.type == "cuda":
        target = torch.device("cuda", local_rank)
        torch.cuda.set_device(target)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if target.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), target


def folder_splits(config: TrainConfig, model: GFModel) -> tuple[FolderDataset, FolderDataset]:
    """The train (augmented) and val folders under ``config.image_root`` at the model's image
    size, cut to a seeded subset of ``max_images`` each when given."""
    root = Path(config.image_root)
    missing = [split for split in ("train", "val") if not (root / split).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"--image-root {str(root)!r} has no {'/ and '.join(missing)}/ folder; expected "
            "train/<class>/*.jpg and val/<class>/*.jpg"
        )
    size = int(model.config.image_size[0])
    spec = MODEL_SPECS.get(config.classifier)
    resize = spec[0].resize_size if spec else None
    interpolation = "bicubic" if spec and spec[0].family == "efficientnet" else "bilinear"
    splits = []
    for split in ("train", "val"):
        data = FolderDataset(root / split, size, resize, interpolation)
        if config.max_images is not None and config.max_images < len(data):
            keep = np.sort(
                np.random.default_rng(config.seed).permutation(len(data))[: config.max_images]
            )
            data.items = [data.items[i] for i in keep]
            data.labels = data.labels[keep]
        splits.append(data)
    splits[0].augment(config.seed)
    return splits[0], splits[1]


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
        if config.image_root is not None:
            self.data_name = f"folder:{config.image_root}"
        if self.data_name is None:
            raise ValueError(
                f"classifier {config.classifier!r} names no training data; pass --data "
                "(a canvas preset) or --image-root (an image folder)"
            )
        self.out = Path(config.out or Path("runs") / config.classifier)
        self.rank, self.world_size, self.device = init_distributed(config.device)
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        overrides = {"pretrained_backbone": True} if config.init_backbone else {}
        model = create_classifier(
            config.classifier,
            pretrained=config.init == "pretrained",
            checkpoint=None if config.init in (None, "pretrained") else config.init,
            device=self.device,
            **overrides,
        )
        if not isinstance(model, GFModel):
            raise TypeError(
                f"classifiers.train trains GFModel classifiers, got {type(model).__name__}"
            )
        self.model = model.train()
        if config.image_root is not None:
            self.train_data, self.test_data = folder_splits(config, model)
        else:
            augment = DigitAugment() if config.augment else None
            self.train_data = mnist_canvases(
                self.data_name, "train", config.mnist_root, augment, limit=config.max_images
            )
            self.test_data = mnist_canvases(
                self.data_name, "test", config.mnist_root, limit=config.max_images
            )
            image_size = self.train_data.image_shape[1:]
            if tuple(model.config.image_size) != image_size:
                raise ValueError(
                    f"classifier {config.classifier!r} expects {model.config.image_size} images "
                    f"but data {self.data_name!r} has {image_size}; pick matching --data"
                )
        self.network: torch.nn.Module = model  # what the training step calls
        if self.world_size > 1:
            self.network = DistributedDataParallel(
                model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True,  # e.g. cascaded classifiers of steps never taken
            )
        if config.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(
                model.parameters(),
                lr=config.lr,
                momentum=0.9,
                nesterov=True,
                weight_decay=config.weight_decay,
            )
        else:
            self.optimizer = torch.optim.AdamW(
                model.parameters(), lr=config.lr, weight_decay=config.weight_decay
            )
        self.amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        shard = len(self.train_data) // self.world_size
        self.batches_per_epoch = (
            shard // config.batch_size
            if config.image_root is not None
            else math.ceil(len(self.train_data) / (config.batch_size * self.world_size))
        )
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"{len(self.train_data)} training images over {self.world_size} process(es) give "
                f"less than one batch of {config.batch_size}; lower --batch-size"
            )
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
            "scaler": self.scaler.state_dict(),
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
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["meta"]["epochs_done"])
        self.history = list(state["meta"]["history"])

    def train_epoch(self) -> float:
        """One pass over the training digits with fresh canvases; returns the mean loss."""
        cfg = self.config
        # one process: the seed of the shipped weights' runs; several: each rank its own draws
        key = [cfg.seed, self.epoch] + ([self.rank] if self.world_size > 1 else [])
        rng = np.random.default_rng(key)
        torch.manual_seed(
            cfg.seed * 1_000_003 + self.epoch
        )  # torch draws (e.g. a policy's samples)
        total, seen = 0.0, 0
        bar = tqdm(
            self.train_batches(rng),
            total=self.batches_per_epoch,
            desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
            disable=not cfg.progress or self.rank != 0,
            leave=False,
        )
        for images, labels, boxes in bar:
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            locations = self.locations(images, labels.cpu(), boxes, rng)
            autocast = (
                torch.autocast("cuda", dtype=torch.float16)
                if self.amp
                else contextlib.nullcontext()
            )
            with autocast:
                steps = self.network(images, torch.from_numpy(locations).to(self.device))
                loss = step_losses(steps, labels, cfg.dsn_ratio)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            total += loss.item() * len(labels)
            seen += len(labels)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        return self.all_mean(total, seen)

    def train_batches(self, rng: np.random.Generator):
        """``(images, labels, boxes)`` of this epoch: fresh canvases drawn from ``rng`` (under
        DDP each rank draws its own ``1 / world_size`` of an epoch's canvases), or this rank's
        shard of the image folder through a DataLoader (seeded shuffle per epoch)."""
        cfg = self.config
        if not isinstance(self.train_data, FolderDataset):
            order = rng.permutation(len(self.train_data))
            for b in range(self.batches_per_epoch):
                indices = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                yield draw_batch(self.train_data, indices, rng)
            return
        self.train_data.set_epoch(self.epoch)
        sampler = DistributedSampler(
            self.train_data, self.world_size, self.rank, shuffle=True, seed=cfg.seed, drop_last=True
        )
        sampler.set_epoch(self.epoch)
        loader = DataLoader(
            self.train_data,
            batch_size=cfg.batch_size,
            sampler=sampler,
            num_workers=cfg.workers,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
        )
        _, height, width = self.train_data.image_shape
        for images, labels in loader:
            boxes = np.tile([0, 0, height, width], (len(labels), 1))
            yield images, labels, boxes

    def all_mean(self, total: float, count: int) -> float:
        """``total / count`` summed over all processes."""
        if self.world_size == 1:
            return total / count
        sums = torch.tensor([total, float(count)], dtype=torch.float64, device=self.device)
        dist.all_reduce(sums)
        return (sums[0] / sums[1]).item()

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
        known = not isinstance(self.train_data, FolderDataset)  # photos: no object boxes
        return sample_locations(
            boxes,
            size,
            self.model.patch_size,
            cfg.focus_steps,
            cfg.target_patch_prob if known else 0.0,
            cfg.target_jitter,
            rng,
        )

    def evaluations(self) -> dict[str, list[float]]:
        """Test accuracy after each step, per kind of focus location (logged after each epoch)."""
        steps = self.config.focus_steps
        if isinstance(self.test_data, FolderDataset):
            return {"random": self.evaluate_folder(steps)}
        return {
            "random": evaluate(self.model, self.test_data, steps),
            "target": evaluate(self.model, self.test_data, steps, target_prob=1.0),
        }

    @torch.inference_mode()
    def evaluate_folder(self, focus_steps: int, seed: int = EVAL_SEED) -> list[float]:
        """Accuracy after each step on the test folder with uniform random locations; each rank
        takes every ``world_size``-th image and the counts are summed."""
        model, cfg = self.model, self.config
        was_training = model.training
        model.eval()
        shard = Subset(self.test_data, range(self.rank, len(self.test_data), self.world_size))
        loader = DataLoader(shard, batch_size=cfg.batch_size, num_workers=cfg.workers)
        counts = torch.zeros(focus_steps + 2, dtype=torch.float64, device=self.device)
        for b, (images, labels) in enumerate(loader):
            rng = np.random.default_rng([seed, self.rank, b])
            locations = torch.from_numpy(rng.random((len(labels), focus_steps, 2)))
            correct = step_correct(model, images.to(self.device), labels, locations.to(self.device))
            counts[:-1] += torch.from_numpy(correct).to(counts)
            counts[-1] += len(labels)
        if self.world_size > 1:
            dist.all_reduce(counts)
        model.train(was_training)
        return (counts[:-1] / counts[-1]).tolist()

    def fit(self, stop_after: int | None = None) -> list[dict[str, Any]]:
        """Train until ``config.epochs`` (or, to simulate an interruption, ``stop_after``) epochs."""
        cfg = self.config
        if cfg.resume:
            self.resume()
        from torch.utils.tensorboard import SummaryWriter

        lead = self.rank == 0  # one process writes logs and checkpoints
        writer = SummaryWriter(str(self.out / "tb")) if lead else None
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
            if not lead:
                continue
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
        if writer is not None:
            writer.close()
        if self.world_size > 1:
            dist.barrier()  # the others wait until rank 0 has written the checkpoint
        if lead and cfg.export and self.epoch == cfg.epochs:
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
    trainer = Trainer(config)
    history = trainer.fit()
    if trainer.rank == 0:
        print(json.dumps(history[-1], indent=None))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
