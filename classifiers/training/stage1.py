"""Stage 1: train a glance/focus classifier on MNIST canvases or an image folder.

Each batch draws fresh canvases, glances, then focuses ``focus_steps`` times at random locations;
the loss is the mean over steps of the head's cross-entropy plus ``dsn_ratio`` times the encoders'
own cross-entropy (deep supervision, for models that offer it), as in GFNet's stage 1. The loop
itself is :class:`classifiers.training.Trainer`; this module composes it from settings
(:func:`build_trainer`); ``python -m classifiers.train`` (:mod:`classifiers.train`) is its command
line.

Departure from GFNet, on purpose: a uniformly random 28-32 pixel patch rarely covers a 28 pixel digit
on a 60-100 pixel canvas, so the local encoder would barely learn digits. With probability
``target_patch_prob`` a focus location is instead drawn around the target digit (the canvas knows
where it put it); ``--target-patch-prob 0`` gives GFNet's uniform stage 1.

Reproducible: all randomness of epoch ``e`` comes from generators seeded with ``(seed, e)``, so an
interrupted run resumed with ``--resume`` ends in the same state as an uninterrupted one; a resume
with other settings or data than the checkpoint's is refused, naming the differences.

Image folders (ImageNet): ``--image-root`` points at a folder with ``train/`` and ``val/`` class
sub-folders; batches come from a ``torch.utils.data.DataLoader`` with ``--workers`` decoding
processes (random crop + flip for training, the centre crop for evaluation, at the model's image
size), focus locations are uniform (GFNet's stage 1). Started by ``torchrun``, training runs on
every process with PyTorch's ``DistributedDataParallel`` (NCCL on GPUs, one GPU per process; gloo
on CPU): each rank reads its shard of every epoch (``DistributedSampler``), gradients are averaged,
rank 0 writes the checkpoints and logs, evaluation is sharded and summed. On CUDA the forward pass
runs under float16 autocast with gradient scaling (``--no-amp`` to switch off); the scaler is part
of the resumable checkpoint. ``--batch-size`` is per process (usage: :mod:`classifiers.train`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.distributed as dist
import tyro
from torch import nn

from classifiers.data import DigitAugment, mnist_canvases
from classifiers.registry import create_classifier, get_entry, preprocessing_of
from classifiers.training import (
    EVAL_SEED,
    BatchSource,
    Distributed,
    Locate,
    RunSettings,
    SourceBatches,
    Trainer,
    eval_batches,
    evaluate_steps,
    random_locate,
    settings_fingerprint,
)
from classifiers.training.distributed import start_run
from classifiers.training.fingerprint import file_sha256, source_fingerprint
from classifiers.training.folder import (
    FolderBatches,
    folder_eval_batches,
    folder_splits,
)
from classifiers.training.trainer import Evaluate, check_settings

__all__ = ["TrainConfig", "build_trainer", "main", "run_training"]


@dataclass
class TrainConfig(RunSettings):
    """Stage-1 training of a glance/focus classifier on MNIST canvases or an image folder; every
    field is a command-line flag (``--field-name``)."""

    classifier: str = "gf-mnist-cluttered100"
    """registry name of the model to train"""
    data: str | None = None
    """canvas preset; default: the one the registry entry names"""
    mnist_root: str | None = None
    """torchvision MNIST folder for the full set; default: the embedded 5,000 digits"""
    init: str | None = None
    """start from these weights: 'pretrained' (the shipped ones) or a checkpoint path; default random"""
    focus_steps: int = 4
    """focus steps per image after the glance (T - 1)"""
    target_patch_prob: float = 0.5
    """probability that a focus location is drawn around the target digit instead of uniformly"""
    target_jitter: float = 0.25
    """max offset of a target-centred patch from the digit centre, as a fraction of the patch"""
    augment: bool = True
    """random affine distortion of training digits"""
    image_root: str | None = None
    """train on an image folder with train/ and val/ class sub-folders (e.g. ImageNet) instead of canvases"""
    workers: int = 4
    """DataLoader worker processes decoding images (--image-root); 0 decodes in the main process"""
    init_backbone: bool = False
    """start both encoders from torchvision's ImageNet weights (torchvision registry entries)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_settings(
            self,
            {
                "focus_steps": (self.focus_steps >= 0, ">= 0"),
                "target_patch_prob": (0.0 <= self.target_patch_prob <= 1.0, "in [0, 1]"),
                "workers": (self.workers >= 0, ">= 0"),
            },
        )
        if self.out is None:
            self.out = str(Path("runs") / self.classifier)


def _init_weights(config: TrainConfig) -> dict[str, Any]:
    """What the run starts from, for its fingerprint: a weights file's hash, or nothing."""
    if config.init == "pretrained":
        path = get_entry(config.classifier).weights_path
        return {"init_sha256": file_sha256(path) if path is not None else None}
    if config.init is not None and Path(config.init).is_file():
        return {"init_sha256": file_sha256(config.init)}
    return {}


Pieces = tuple[Any, BatchSource, Locate, Evaluate]
"""What a run trains on: training data, its batches, the focus locations, the evaluation."""


def _folder_run(
    config: TrainConfig, model: nn.Module, image_size: Any, distributed: Distributed
) -> Pieces:
    """An image folder's pieces: DataLoader batches, uniform locations (photos have no boxes),
    uniform-location evaluation sharded over the processes."""
    if image_size is None:
        raise TypeError(
            f"--image-root needs the model's input size at model.config.image_size; "
            f"{config.classifier!r} ({type(model).__name__}) has none"
        )
    steps, patch = config.focus_steps, model.patch_size
    record = preprocessing_of(model)  # the model's own resize/crop/filter, when it has one
    options = record.folder_options() if record else {"image_size": int(image_size[0])}
    train_data, test_data = folder_splits(
        config.image_root,
        options,
        config.seed,
        max_train=config.max_images,
        max_val=config.eval_images,
    )
    batches = FolderBatches(train_data, config.batch_size, distributed, config.seed, config.workers)

    def evaluate_model() -> dict[str, list[float]]:
        test = folder_eval_batches(test_data, config.batch_size, distributed, config.workers)
        return evaluate_steps(
            model, test, {"random": random_locate(patch, steps)}, distributed=distributed
        )

    return (
        train_data,
        batches,
        random_locate(patch, steps, 0.0, config.target_jitter),
        evaluate_model,
    )


def _canvas_run(
    config: TrainConfig,
    model: nn.Module,
    image_size: Any,
    data_name: str,
    distributed: Distributed,
) -> Pieces:
    """MNIST canvases' pieces: fresh canvases every epoch, uniform or digit-centred locations,
    an evaluation of both kinds on the same test canvases."""
    steps, patch = config.focus_steps, model.patch_size
    augment = DigitAugment() if config.augment else None
    train_data = mnist_canvases(
        data_name, "train", config.mnist_root, augment, limit=config.max_images
    )
    test_data = mnist_canvases(data_name, "test", config.mnist_root, limit=config.eval_images)
    if image_size is not None and tuple(image_size) != train_data.image_shape[1:]:
        raise ValueError(
            f"classifier {config.classifier!r} expects {image_size} images "
            f"but data {data_name!r} has {train_data.image_shape[1:]}; pick matching --data"
        )
    batches = SourceBatches(train_data, config.batch_size, distributed.world_size)
    locate = random_locate(patch, steps, config.target_patch_prob, config.target_jitter)

    def evaluate_model() -> dict[str, list[float]]:
        locates = {
            "random": random_locate(patch, steps, 0.0),
            "target": random_locate(patch, steps, 1.0),
        }
        return evaluate_steps(model, eval_batches(test_data, 256, EVAL_SEED), locates)

    return train_data, batches, locate, evaluate_model


def build_trainer(config: TrainConfig) -> Trainer:
    """The stage-1 :class:`~classifiers.training.Trainer` of ``config``: the registry model, its
    canvases (or image folder), random/digit-centred focus locations, and an evaluation with
    uniform (``random``) and digit-centred (``target``) locations on the same test canvases."""
    entry = get_entry(config.classifier)
    data_name = config.data or entry.data
    if config.image_root is not None:
        data_name = f"folder:{config.image_root}"
    if data_name is None:
        raise ValueError(
            f"classifier {config.classifier!r} names no training data; pass --data "
            "(a canvas preset) or --image-root (an image folder)"
        )
    distributed = start_run(config.device, config.threads, config.seed)
    overrides = {"pretrained_backbone": True} if config.init_backbone else {}
    model = create_classifier(
        config.classifier,
        pretrained=config.init == "pretrained",
        checkpoint=None if config.init in (None, "pretrained") else config.init,
        device=distributed.device,
        **overrides,
    )
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"classifiers.train trains nn.Module classifiers, got {type(model).__name__} "
            f"from {config.classifier!r}"
        )
    image_size = getattr(getattr(model, "config", None), "image_size", None)
    if config.image_root is not None:
        train_data, batches, locate, evaluate_model = _folder_run(
            config, model, image_size, distributed
        )
    else:
        train_data, batches, locate, evaluate_model = _canvas_run(
            config, model, image_size, data_name, distributed
        )
    return Trainer(
        model,
        batches,
        locate,
        config,
        name=config.classifier,
        evaluate=evaluate_model,
        distributed=distributed,
        fingerprint=settings_fingerprint(
            config, train_data=source_fingerprint(train_data), **_init_weights(config)
        ),
        meta={"stage": 1, "data": data_name, "train_config": dataclasses.asdict(config)},
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m classifiers.train``: parse flags, train, print the last epoch's record."""
    return run_training(tyro.cli(TrainConfig, prog="python -m classifiers.train", args=argv))


def run_training(config: TrainConfig) -> int:
    """Train ``config`` (stage 1) and print the last epoch's record (on the lead process)."""
    trainer = build_trainer(config)
    history = trainer.fit()
    if trainer.distributed.lead:
        print(json.dumps(history[-1], indent=None))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0
