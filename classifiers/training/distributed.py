"""Process set-up of a training run: device, ``torchrun``/DistributedDataParallel, cross-process sums.

One :class:`Distributed` per run says which process this is and where it computes; a single process
(``WORLD_SIZE`` unset or 1) gets ``rank 0 of 1`` and every method is a no-op pass-through, so the
training loop is written once for both cases.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from classifiers.utils import resolve_device


@dataclass(frozen=True)
class Distributed:
    """Where this process computes and which share of the work it does.

    Args:
        rank: this process's index (0 writes checkpoints and logs).
        world_size: number of processes.
        device: this process's device.
    """

    rank: int
    world_size: int
    device: torch.device

    @property
    def lead(self) -> bool:
        """Whether this process writes logs, checkpoints and exports."""
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` itself, or wrapped in DistributedDataParallel when several processes train."""
        if self.world_size == 1:
            return module
        return DistributedDataParallel(
            module,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=True,  # e.g. cascaded classifiers of steps never taken
        )

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over all processes (in place under DDP)."""
        if self.world_size > 1:
            dist.all_reduce(values)
        return values

    def all_mean(self, total: float, count: int) -> float:
        """``total / count`` with both summed over all processes."""
        if self.world_size == 1:
            return total / count
        sums = torch.tensor([total, float(count)], dtype=torch.float64, device=self.device)
        sums = self.all_sum(sums)
        return (sums[0] / sums[1]).item()

    def barrier(self) -> None:
        """Wait until every process gets here (no-op for one process)."""
        if self.world_size > 1:
            dist.barrier()


def init_distributed(device: str | torch.device = "auto") -> Distributed:
    """This process's :class:`Distributed`; under ``torchrun`` (``WORLD_SIZE`` > 1) this joins the
    process group: NCCL with one GPU per process (``LOCAL_RANK``) when CUDA is used, else gloo.

    Args:
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed(0, 1, resolve_device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    target = resolve_device(device)
    if target.type == "cuda":
        target = torch.device("cuda", local_rank)
        torch.cuda.set_device(target)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if target.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), target)


def start_run(device: str | torch.device, threads: int, seed: int) -> Distributed:
    """What every training run does first: join the process group (:func:`init_distributed`), set
    torch's CPU threads (``threads`` > 0) and seed torch's generator (the model's initial weights).

    Args:
        device: as for :func:`init_distributed`.
        threads: torch CPU threads; 0 keeps torch's default.
        seed: the run's seed.
    """
    distributed = init_distributed(device)
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    return distributed
