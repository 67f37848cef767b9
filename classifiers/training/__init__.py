"""Training glance/focus classifiers as a library.

- :mod:`~classifiers.training.trainer`: :class:`Trainer` (model + batch source + ``locate``),
  :class:`RunSettings`.
- :mod:`~classifiers.training.fingerprint`: what a resume checks against the checkpoint.
- :mod:`~classifiers.training.batches`: batch sources and focus locations (``Locate``).
- :mod:`~classifiers.training.steps`: one differentiable episode and its loss, for any classifier.
- :mod:`~classifiers.training.evaluation`: the per-step evaluation loop.
- :mod:`~classifiers.training.distributed`, :mod:`~classifiers.training.folder`: ``torchrun``/DDP
  set-up and image-folder batches.
- :mod:`~classifiers.training.stage1`: stage 1 composed from these pieces (its settings, trainer
  and run); ``python -m classifiers.train`` is its command line.

``agents.finetune`` (stage 3) composes the same pieces.
"""

from classifiers.training.batches import (
    BatchSource,
    Locate,
    SourceBatches,
    draw_batch,
    eval_batches,
    random_locate,
    sample_locations,
)
from classifiers.training.distributed import Distributed, init_distributed
from classifiers.training.evaluation import EVAL_SEED, evaluate, evaluate_steps, step_correct
from classifiers.training.fingerprint import settings_fingerprint
from classifiers.training.steps import step_loss, unroll
from classifiers.training.trainer import RunSettings, StaleRunError, Trainer

__all__ = [
    "EVAL_SEED",
    "BatchSource",
    "Distributed",
    "Locate",
    "RunSettings",
    "SourceBatches",
    "StaleRunError",
    "Trainer",
    "draw_batch",
    "eval_batches",
    "evaluate",
    "evaluate_steps",
    "init_distributed",
    "random_locate",
    "sample_locations",
    "settings_fingerprint",
    "step_correct",
    "step_loss",
    "unroll",
]
