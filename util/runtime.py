"""Runtime of a process: the torch device to run on and the distributed process group (torchrun / DDP)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from util.errors import InputError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> the local CUDA device when available, else the CPU."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(None, f"device {name!r} requested but CUDA is not available")
    return device


@dataclass(frozen=True)
class DistInfo:
    """Process-group facts (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_name: str) -> DistInfo:
    """Join the process group described by torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); NCCL on CUDA,
    gloo on CPU. Without those variables: a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and device_name != "cpu"
        if use_cuda:
            visible = torch.cuda.device_count()
            if local >= visible:  # NCCL needs one GPU per process
                raise InputError(None, f"torchrun started process {local} on this node but only {visible} GPU(s) "
                                       f"are visible: use --nproc_per_node (TORCHRUN_NPROC) <= {visible}, or "
                                       f"DEVICE=cpu for gloo")
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if use_cuda else "gloo", rank=rank, world_size=world)
    return DistInfo(rank, world, local)


def barrier(info: DistInfo) -> None:
    """Wait for every rank (a no-op in a single process)."""
    if info.enabled:
        dist.barrier()
