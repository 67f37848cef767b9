"""``python -m classifiers.train``: stage 1, train a glance/focus classifier on MNIST canvases or an
image folder (``--help`` lists every flag).

The code is :mod:`classifiers.training.stage1` (settings, the trainer they build, the run); this
module is its documented command and keeps the names it has always offered, among them the
evaluation helpers of :mod:`classifiers.training`.

Usage::

    python -m classifiers.train --classifier gf-mnist-cluttered100 \\
        --export classifiers/weights/gf-mnist-cluttered100.pt
    torchrun --nproc_per_node 8 -m classifiers.train --classifier gf-resnet50-p96 \\
        --image-root /data/imagenet --batch-size 32 --optimizer sgd --lr 0.1 --dsn-ratio 1 \\
        --init-backbone --epochs 30
"""

import sys

from classifiers.training import EVAL_SEED, draw_batch, evaluate, sample_locations, step_correct
from classifiers.training.stage1 import TrainConfig, build_trainer, main, run_training

__all__ = [
    "EVAL_SEED",
    "TrainConfig",
    "build_trainer",
    "draw_batch",
    "evaluate",
    "main",
    "run_training",
    "sample_locations",
    "step_correct",
]

if __name__ == "__main__":
    sys.exit(main())
