"""Sharding the inits axis of a batched trainer across local devices (``jax.sharding``).

Networks are independent, so the batch is split into equal contiguous slices, one per device,
with :func:`jax.shard_map`; the dataset is replicated. Each device runs the same per-network
program as a single device would, so a study on k devices gives the same per-network results
as on one (tested with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``).

Across hosts, JAX's distributed runtime (``jax.distributed.initialize``) starts the processes;
each process then trains its own share of chunks (:func:`process_chunks`) on its local devices.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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


def run_process_share(
    study: Any, out: str | Path, process_index: int | None = None, process_count: int | None = None
) -> Path:
    """Train this process's share of a study's chunks into its own (partial) run file ``out``.

    Every process of a multi-host run (started with ``jax.distributed.initialize()``) calls
    this with its own ``out``; the file has every chunk slot, this process's chunks filled in
    and the others left "not run", so it is a valid resumable run file on its own. Combine the
    parts with :func:`merge_run_files`. Results do not depend on the split: network ``i``
    depends on the study seed and ``i`` alone.
    """
    from .runner import StudyError, _create, auto_chunk_size, prepare, train_chunk

    out = Path(out)
    if out.exists():
        raise StudyError(f"{out}: already exists; remove it or choose another path for this process's part")
    prepared = prepare(study)
    chunk_size = auto_chunk_size(study, prepared.dataset.out_dim, prepared.n_devices, prepared.trainer_kind)
    _create(out, prepared, chunk_size)
    n = study.n_inits
    for chunk in process_chunks(math.ceil(n / chunk_size), process_index, process_count):
        train_chunk(out, prepared, chunk_size, chunk)
    return out


def merge_run_files(parts: Sequence[str | Path], out: str | Path) -> Path:
    """One run file from the parts of a multi-host run (same study, same chunk size).

    Chunks done in any part are copied; the result is marked complete when every chunk is
    done, otherwise it stays resumable (``landscape run --resume --out OUT``).
    """
    from .runner import StudyError, chunk_bounds
    from .storage import Run, flatten_params, mark_complete, write_chunk

    parts = [Path(p) for p in parts]
    if not parts:
        raise StudyError("merge: no part files given")
    out = Path(out)
    if out.exists():
        raise StudyError(f"{out}: already exists")
    with Run(parts[0]) as first:
        study_json, chunk_size = first.study.to_json(), int(first.attrs["chunk_size"])
    shutil.copy(parts[0], out)
    for part in parts[1:]:
        with Run(part) as run:
            if run.study.to_json() != study_json or int(run.attrs["chunk_size"]) != chunk_size:
                out.unlink()
                raise StudyError(f"{part}: a different study or chunk size than {parts[0]}; cannot merge")
            seconds = run._train("chunk_seconds")
            for chunk in np.flatnonzero(run.chunk_done):
                start, stop = chunk_bounds(run.n_inits, chunk_size, int(chunk))
                index = slice(start, stop)
                results = {
                    name: run._train(name)[index]
                    for name in ("final_loss", "grad_norm", "status", "steps", "trajectory")
                }
                write_chunk(
                    out,
                    int(chunk),
                    start,
                    flatten_params(run.params("init", index)),
                    flatten_params(run.params("final", index)),
                    results,
                    float(seconds[chunk]),
                )
    with Run(out) as merged:
        all_done = bool(np.all(merged.chunk_done))
        total = float(np.nansum(merged._train("chunk_seconds")))
        n, steps = merged.n_inits, merged.study.train.steps
    if all_done:
        mark_complete(
            out,
            {
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "wall_seconds": total,
                "net_steps_per_second": n * steps / total if total > 0 else 0.0,
                "merged_from": len(parts),
            },
        )
    return out


__all__ = ["INITS_AXIS", "inits_mesh", "shard_over_inits", "process_chunks", "run_process_share", "merge_run_files"]
