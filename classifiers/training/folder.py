"""Training on an image folder (ImageNet layout): its splits, and batches through DataLoaders.

Each process reads its shard of every epoch (``DistributedSampler``, seeded shuffle per epoch),
with ``workers`` decoding processes; photos have no object boxes, so each box is the whole image.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset

from classifiers.data.folder import FolderDataset
from classifiers.training.batches import Batch
from classifiers.training.distributed import Distributed


def folder_splits(
    root: str | Path,
    options: dict[str, Any],
    seed: int,
    max_train: int | None = None,
    max_val: int | None = None,
) -> tuple[FolderDataset, FolderDataset]:
    """The ``train`` (augmented) and ``val`` folders under ``root``, each cut to a seeded subset.

    Args:
        root: a folder with ``train/`` and ``val/`` class sub-folders.
        options: the model's preprocessing, keyword arguments of
            :class:`~classifiers.data.folder.FolderDataset` (``Preprocessing.folder_options()``).
        seed: seeds the subsets and the augmentation.
        max_train, max_val: keep at most this many images of each split; ``None`` keeps all.
    """
    root = Path(root)
    missing = [split for split in ("train", "val") if not (root / split).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"--image-root {str(root)!r} has no {'/ and '.join(missing)}/ folder; expected "
            "train/<class>/*.jpg and val/<class>/*.jpg"
        )
    splits = []
    for split, limit in (("train", max_train), ("val", max_val)):
        data = FolderDataset(root / split, **options)
        if limit is not None and limit < len(data):
            keep = np.sort(np.random.default_rng(seed).permutation(len(data))[:limit])
            data.items = [data.items[i] for i in keep]
            data.labels = data.labels[keep]
        splits.append(data)
    splits[0].augment(seed)
    return splits[0], splits[1]


def _whole_image_boxes(data: FolderDataset, count: int) -> np.ndarray:
    _, height, width = data.image_shape
    return np.tile([0, 0, height, width], (count, 1))


class FolderBatches:
    """Training batches of this process's shard of an image folder (full batches only).

    Args:
        data: the (augmented) training split.
        batch_size: images per batch per process.
        distributed: which process this is.
        seed: seeds the shuffle of every epoch.
        workers: DataLoader decoding processes; 0 decodes in this process.
    """

    def __init__(
        self,
        data: FolderDataset,
        batch_size: int,
        distributed: Distributed,
        seed: int,
        workers: int,
    ):
        self.data, self.batch_size, self.distributed = data, batch_size, distributed
        self.seed, self.workers = seed, workers
        self.batches_per_epoch = len(data) // distributed.world_size // batch_size
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"{len(data)} training images over {distributed.world_size} process(es) give "
                f"less than one batch of {batch_size}; lower --batch-size"
            )

    def epoch(self, epoch: int, rng: np.random.Generator) -> Iterator[Batch]:
        dist = self.distributed
        self.data.set_epoch(epoch)
        sampler = DistributedSampler(
            self.data, dist.world_size, dist.rank, shuffle=True, seed=self.seed, drop_last=True
        )
        sampler.set_epoch(epoch)
        loader = DataLoader(
            self.data,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.workers,
            drop_last=True,
            pin_memory=dist.device.type == "cuda",
        )
        for images, labels in loader:
            yield images, labels, _whole_image_boxes(self.data, len(labels))


def folder_eval_batches(
    data: FolderDataset, batch_size: int, distributed: Distributed, workers: int
) -> Iterator[Batch]:
    """This process's share of ``data`` for evaluation: every ``world_size``-th image, in order."""
    shard = Subset(data, range(distributed.rank, len(data), distributed.world_size))
    for images, labels in DataLoader(shard, batch_size=batch_size, num_workers=workers):
        yield images, labels.to(torch.int64), _whole_image_boxes(data, len(labels))
