"""Training and fine-tuning on several processes: PyTorch DistributedDataParallel under
torchrun.

    torchrun --nproc-per-node 2 -m edgeprune train --data d.yaml --batch 32 ...
    torchrun --nproc-per-node 8 -m edgeprune finetune --weights best.pt --batch 64 ...

Every process trains the same model on its share of each epoch (DistributedSampler, reseeded
per epoch) and DDP averages the gradients; gloo on CPU, nccl on CUDA, one GPU per process
(cuda:LOCAL_RANK). `--batch` stays the batch of one optimizer step over all processes, split
evenly between them, so a run on N processes follows the same schedule and learning rate as
one process at the same batch. Rank 0 alone validates, prints and writes (the run folder, its
checkpoints, results.csv): the folder looks the same as a one-process run's and resumes the
same way, with any number of processes. Batch norm is per process (as ultralytics' default:
SyncBatchNorm works on GPUs only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from edgeprune.errors import EdgepruneError


@dataclass(frozen=True)
class Processes:
    """This process's place among the training processes (one, unless under torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched() -> bool:
    """True when torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def join(device_request: str | None) -> Processes:
    """Join the torchrun group (once per process; every rank must call it); a process that
    torchrun did not start gets Processes(). `device_request` (cpu, cuda, None) picks the
    backend: nccl when the processes train on CUDA, else gloo."""
    if not launched():
        return Processes()
    processes = Processes(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                          int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        cuda = uses_cuda(device_request)
        if cuda:
            if processes.local_rank >= torch.cuda.device_count():
                raise EdgepruneError(f"process {processes.rank} needs GPU "
                                     f"{processes.local_rank}, this machine has "
                                     f"{torch.cuda.device_count()}: one process per GPU")
            torch.cuda.set_device(processes.local_rank)
        dist.init_process_group("nccl" if cuda else "gloo")
    return processes


def current() -> Processes:
    """The group this process joined (Processes() when it joined none)."""
    if not dist.is_initialized():
        return Processes()
    return Processes(dist.get_rank(), dist.get_world_size(),
                     int(os.environ.get("LOCAL_RANK", "0")))


def uses_cuda(device_request: str | None) -> bool:
    if device_request in (None, "", "auto"):
        return torch.cuda.is_available()
    return torch.device(device_request).type == "cuda"


def process_device(device: torch.device, processes: Processes) -> torch.device:
    """Each process on its own GPU (cuda:LOCAL_RANK) whatever index was asked for."""
    if processes.distributed and device.type == "cuda":
        return torch.device("cuda", processes.local_rank)
    return device


def batch_per_process(batch: int, processes: Processes) -> int:
    if batch % processes.world_size:
        raise EdgepruneError(f"--batch {batch} does not split evenly over "
                             f"{processes.world_size} processes (it is the batch of one step "
                             f"over all of them)")
    return batch // processes.world_size


def from_main(value):
    """Rank 0's `value` on every rank (e.g. the run folder rank 0 created)."""
    if not dist.is_initialized():
        return value
    shared = [value]
    dist.broadcast_object_list(shared, src=0)
    return shared[0]


def mean_over_processes(values: torch.Tensor) -> torch.Tensor:
    """The mean of `values` over every rank (what a one-process run would report)."""
    if not dist.is_initialized():
        return values
    total = values.clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
