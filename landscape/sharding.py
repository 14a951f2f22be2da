"""Sharding the inits axis of a batched trainer across local devices (``jax.sharding``).

Networks are independent, so the batch is split into equal contiguous slices, one per device,
with :func:`jax.shard_map`; the dataset is replicated. Each device runs the same per-network
program as a single device would, so a study on k devices gives the same per-network results
as on one (tested with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``).

Across hosts, JAX's distributed runtime (``jax.distributed.initialize``) starts the processes;
each process then trains its own share of chunks (:func:`process_chunks`) on its local devices.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

INITS_AXIS = "inits"


def inits_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """A 1-D mesh named ``"inits"`` over ``devices`` (default: this process's local devices)."""
    return Mesh(np.asarray(list(devices) if devices is not None else jax.local_devices()), (INITS_AXIS,))


def shard_over_inits(trainer: Callable[..., Any], mesh: Mesh | None = None) -> Callable[..., Any]:
    """``trainer(params (n, ...), keys (n, 2), x, y)`` run with the ``n`` axis split across the mesh.

    ``n`` must be a multiple of the number of devices (the runner pads chunks to one).
    Works for the general and the fast (FFI) trainer alike: each device calls ``trainer`` on its
    own slice.
    """
    mesh = mesh or inits_mesh()
    batched, replicated = PartitionSpec(INITS_AXIS), PartitionSpec()
    sharded = jax.shard_map(
        trainer,
        mesh=mesh,
        in_specs=(batched, batched, replicated, replicated),
        out_specs=batched,
        check_vma=False,
    )
    return jax.jit(sharded)


def process_chunks(n_chunks: int, process_index: int | None = None, process_count: int | None = None) -> list[int]:
    """The chunks process ``process_index`` of ``process_count`` trains in a multi-host run (round robin)."""
    index = jax.process_index() if process_index is None else process_index
    count = jax.process_count() if process_count is None else process_count
    return [c for c in range(n_chunks) if c % count == index]


__all__ = ["INITS_AXIS", "inits_mesh", "shard_over_inits", "process_chunks"]
