"""The training loop as a library: a model, a batch source and a ``locate`` callable, composed.

:class:`Trainer` trains any ``nn.Module`` implementing :class:`~classifiers.GlanceFocusClassifier`:
each step draws a batch, asks ``locate`` where its focus patches go, unrolls the model there
(:func:`~classifiers.training.steps.unroll`) and minimises the mean over steps of the
cross-entropy of each step's logits (plus deep supervision where the model offers it). Stage 1
(``classifiers.train``) passes random or digit-centred locations; stage 3 (``agents.finetune``)
passes a policy's.

It owns the optimiser (AdamW, or SGD with Nesterov momentum), a cosine schedule over all steps,
float16 autocast with gradient scaling on CUDA, DistributedDataParallel under ``torchrun``, an
evaluation every ``eval_every`` epochs, TensorBoard scalars and a resumable ``<out>/last.pt``
written atomically after every epoch.

Reproducible: all randomness of epoch ``e`` comes from generators seeded with ``(seed, e)``, so an
interrupted run resumed with ``resume=True`` ends in the same state, tensor for tensor, as an
uninterrupted one. ``last.pt`` records a *fingerprint* of the settings and data that made it; a
resume with a different fingerprint is refused with the differences named (:class:`StaleRunError`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from classifiers.checkpoint import classifier_checkpoint, load_file, load_into, save_atomic
from classifiers.training.batches import BatchSource, Locate
from classifiers.training.distributed import Distributed
from classifiers.training.fingerprint import fingerprint_differences
from classifiers.training.steps import Unrolled, step_loss

Evaluate = Callable[[], dict[str, list[float]]]
"""Returns test accuracies after each step per kind of location, e.g. ``{"random": [...]}``."""


@dataclass
class RunSettings:
    """What every training run is set up with (stage 1 and stage 3 extend it).

    The :class:`Trainer` reads the optimisation, seed, AMP, run-folder and evaluation-frequency
    fields; ``device``, ``threads``, ``max_images`` and ``eval_images`` are for whoever builds the
    model and the data (``classifiers.train.build_trainer``, ``agents.finetune.build_finetune``).
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    """adamw, or sgd (GFNet's: Nesterov momentum 0.9)"""
    dsn_ratio: float = 1.0
    """weight of the auxiliary cross-entropy (deep supervision) of models that offer it"""
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    """torch CPU threads; 0 keeps torch's default"""
    amp: bool = True
    """float16 autocast and gradient scaling on CUDA"""
    out: str | None = None
    """run folder (last.pt, TensorBoard logs)"""
    resume: bool = False
    """continue from <out>/last.pt (refused if it was made with other settings or data)"""
    export: str | None = None
    """write the final weights (slim checkpoint) here"""
    progress: bool = True
    max_images: int | None = None
    """train on a fixed subset of N digits (or images); default all"""
    eval_images: int | None = None
    """evaluate on a fixed subset of N test digits (or images); default all"""
    eval_every: int = 1
    """evaluate the test split every N epochs (and after the last)"""

    def __post_init__(self) -> None:
        check_settings(
            self,
            {
                "epochs": (self.epochs >= 1, ">= 1"),
                "batch_size": (self.batch_size >= 1, ">= 1"),
                "lr": (self.lr > 0, "> 0"),
                "dsn_ratio": (self.dsn_ratio >= 0, ">= 0"),
                "optimizer": (self.optimizer in ("adamw", "sgd"), "'adamw' or 'sgd'"),
                "eval_every": (self.eval_every >= 1, ">= 1"),
                "max_images": (self.max_images is None or self.max_images >= 1, ">= 1"),
                "eval_images": (self.eval_images is None or self.eval_images >= 1, ">= 1"),
            },
        )


def check_settings(settings: Any, checks: dict[str, tuple[bool, str]]) -> None:
    """Raise one ``ValueError`` naming every field of ``settings`` whose check failed.

    Args:
        settings: the settings object (for the values in the message).
        checks: field name -> (passed, the rule it must follow).
    """
    bad = [
        f"{name}={getattr(settings, name)!r} (must be {rule})"
        for name, (ok, rule) in checks.items()
        if not ok
    ]
    if bad:
        raise ValueError(f"invalid training settings: {', '.join(bad)}")


class StaleRunError(ValueError):
    """A resume asked of a ``last.pt`` made with other settings or data."""


def make_optimizer(
    parameters: Iterable[nn.Parameter], name: str, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """AdamW, or SGD with Nesterov momentum 0.9 (GFNet's), over ``parameters``.

    Args:
        parameters: what to optimise.
        name: ``"adamw"`` or ``"sgd"``.
        lr: learning rate.
        weight_decay: decoupled (AdamW) or L2 (SGD) weight decay.
    """
    if name == "sgd":
        return torch.optim.SGD(
            parameters, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay
        )
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)


class Trainer:
    """Trains ``model`` on ``batches`` with its focus patches where ``locate`` puts them.

    Args:
        model: an ``nn.Module`` implementing :class:`~classifiers.GlanceFocusClassifier`, on
            ``distributed.device``; trained in place.
        batches: the training batches of each epoch (:class:`~classifiers.training.batches.BatchSource`).
        locate: where each training batch's focus patches go
            (:data:`~classifiers.training.batches.Locate`).
        settings: epochs, optimiser, seed, run folder, ... (:class:`RunSettings`).
        name: the registry name written into the checkpoints (what to load them as).
        evaluate: test accuracies per kind of location, called every ``settings.eval_every``
            epochs; ``None`` skips evaluation.
        distributed: this process's place in a multi-process run; default one process on the
            model's device.
        fingerprint: what must match for ``settings.resume`` to continue ``<out>/last.pt``
            (e.g. :func:`settings_fingerprint`); stored in it.
        meta: further metadata for the checkpoints (e.g. ``stage``, ``data``).
        evaluate_first: record the untrained model's evaluation as epoch 0 (stage 3's "before").
    """

    def __init__(
        self,
        model: nn.Module,
        batches: BatchSource,
        locate: Locate,
        settings: RunSettings,
        *,
        name: str,
        evaluate: Evaluate | None = None,
        distributed: Distributed | None = None,
        fingerprint: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        evaluate_first: bool = False,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"the trainer trains nn.Module classifiers, got a {type(model).__name__}; "
                "implement the GlanceFocusClassifier interface on an nn.Module"
            )
        self.model = model.train()
        self.batches, self.locate, self.settings, self.name = batches, locate, settings, name
        self.evaluate = evaluate
        self.distributed = distributed or Distributed(0, 1, model.device)
        self.fingerprint = fingerprint or {}
        self.static_meta = meta or {}
        self.evaluate_first = evaluate_first
        self.out = Path(settings.out or "runs/classifier")
        self.network = self.distributed.wrap(Unrolled(model))  # what the training step calls
        self.optimizer = make_optimizer(
            model.parameters(), settings.optimizer, settings.lr, settings.weight_decay
        )
        self.amp = settings.amp and self.distributed.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=settings.epochs * batches.batches_per_epoch
        )
        self.epoch = 0
        self.history: list[dict[str, Any]] = []

    @property
    def device(self) -> torch.device:
        return self.distributed.device

    @property
    def last_path(self) -> Path:
        return self.out / "last.pt"

    def meta(self) -> dict[str, Any]:
        """How the weights were made: the given metadata, epochs done, history, fingerprint."""
        return {
            **self.static_meta,
            "epochs_done": self.epoch,
            "history": self.history,
            "fingerprint": self.fingerprint,
        }

    def state(self) -> dict[str, Any]:
        """The resumable checkpoint: a classifier checkpoint plus optimiser, schedule and scaler."""
        return {
            **classifier_checkpoint(self.name, self.model, **self.meta()),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def resume(self) -> None:
        """Restore model, optimiser, schedule, epoch and history from ``<out>/last.pt``.

        Raises:
            FileNotFoundError: there is no ``last.pt``.
            StaleRunError: it was made with other settings or data (the message names them).
        """
        if not self.last_path.is_file():
            raise FileNotFoundError(
                f"--resume given but {str(self.last_path)!r} does not exist; drop --resume to start afresh"
            )
        state = load_file(self.last_path, map_location=self.device)
        differences = fingerprint_differences(state["meta"].get("fingerprint"), self.fingerprint)
        if differences:
            raise StaleRunError(
                f"cannot resume {str(self.last_path)!r}: it was made with other settings or data "
                f"({'; '.join(differences)}); rerun with the checkpoint's settings, or start "
                "afresh without --resume (or with another --out)"
            )
        load_into(self.model, state, source=str(self.last_path))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["meta"]["epochs_done"])
        self.history = list(state["meta"]["history"])

    def train_epoch(self) -> float:
        """One pass over the training batches; returns the mean loss."""
        settings, dist = self.settings, self.distributed
        # one process: the seed of the shipped weights' runs; several: each rank its own draws
        key = [settings.seed, self.epoch] + ([dist.rank] if dist.world_size > 1 else [])
        rng = np.random.default_rng(key)
        torch.manual_seed(settings.seed * 1_000_003 + self.epoch)  # torch draws (a policy's)
        total, seen = 0.0, 0
        bar = tqdm(
            self.batches.epoch(self.epoch, rng),
            total=self.batches.batches_per_epoch,
            desc=f"epoch {self.epoch + 1}/{settings.epochs}",
            disable=not settings.progress or not dist.lead,
            leave=False,
        )
        for images, labels, boxes in bar:
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            locations = self.locate(images, labels.cpu(), boxes, rng)
            autocast = (
                torch.autocast("cuda", dtype=torch.float16)
                if self.amp
                else contextlib.nullcontext()
            )
            with autocast:
                steps = self.network(images, torch.from_numpy(locations).to(self.device))
                loss = step_loss(steps, labels, settings.dsn_ratio)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            total += loss.item() * len(labels)
            seen += len(labels)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        return dist.all_mean(total, seen)

    def fit(self, stop_after: int | None = None) -> list[dict[str, Any]]:
        """Train until ``settings.epochs`` (or, to simulate an interruption, ``stop_after``) epochs;
        returns the history (one record per epoch)."""
        settings, lead = self.settings, self.distributed.lead
        if settings.resume:
            self.resume()
        elif self.evaluate_first and self.evaluate is not None:
            accuracies = self.evaluate()
            self.history.append({"epoch": 0, **{f"test_acc_{k}": v for k, v in accuracies.items()}})
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(self.out / "tb")) if lead else None
        last = settings.epochs if stop_after is None else min(stop_after, settings.epochs)
        while self.epoch < last:
            start = time.perf_counter()
            loss = self.train_epoch()
            self.epoch += 1
            due = self.epoch % settings.eval_every == 0 or self.epoch == settings.epochs
            accuracies = self.evaluate() if due and self.evaluate is not None else {}
            record = {
                "epoch": self.epoch,
                "train_loss": loss,
                **{f"test_acc_{kind}": acc for kind, acc in accuracies.items()},
                "seconds": time.perf_counter() - start,
            }
            self.history.append(record)
            if not lead:
                continue
            self._log(writer, loss, accuracies, record["seconds"])
        if writer is not None:
            writer.close()
        self.distributed.barrier()  # the others wait until rank 0 has written the checkpoint
        if lead and settings.export and self.epoch == settings.epochs:
            save_atomic(
                classifier_checkpoint(self.name, self.model, **self.meta()), settings.export
            )
            print(f"exported weights to {settings.export}")
        return self.history

    def _log(
        self, writer: Any, loss: float, accuracies: dict[str, list[float]], seconds: float
    ) -> None:
        """TensorBoard scalars, the checkpoint and a line on stdout after an epoch (rank 0)."""
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
            f"epoch {self.epoch}/{self.settings.epochs} loss {loss:.4f}"
            + (f" test acc {shown}" if shown else "")
            + f" [{seconds:.0f}s]",
            flush=True,
        )
