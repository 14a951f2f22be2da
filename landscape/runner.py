"""Running a study: data, inits, the batched trainer over chunks, and the run file.

The only place that ties computation (:mod:`landscape.training`) to storage
(:mod:`landscape.storage`). Chunks are independent: network ``i`` depends only on the study
seed and ``i``, so a resumed or re-chunked study gives the same per-network results.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .config import ConfigError, Study
from .models import Model
from .optimizers import make_optimizer
from .storage import Run, RunFileError, create_run_file, flatten_params, mark_complete, write_chunk
from .tasks import Dataset, Target
from .training import Status, TrainSpec, UserLoss, make_batch_init, make_batch_trainer, network_keys, record_schedule

CHUNK_MEMORY_BYTES = 256 * 2**20  # working-set budget for one chunk when the device reports no memory (CPU)
MAX_AUTO_CHUNK = 4096  # and the most networks per chunk then
DEVICE_MEMORY_FRACTION = 0.5  # share of a device's free memory (as it reports it) one chunk may use


class StudyError(Exception):
    """A study cannot start or continue (output exists, file mismatch, unwritable folder)."""


@dataclass(frozen=True)
class Prepared:
    """What every chunk of a study shares: the data, the model, and the training spec."""

    study: Study
    dataset: Dataset
    model: Model
    spec: TrainSpec
    loss_fn: UserLoss | None
    dtype: Any
    batch_init: Callable[[jax.Array], Any]  # jit(vmap(init)): keys (n, 2) -> params (n, ...)
    batch_trainer: Callable[..., Any]  # jit(vmap(train_one)), see make_batch_trainer, or the fast path
    trainer_kind: str = "general"  # "general" (autodiff), "fast_mlp" (CPU kernel) or "gpu_pallas" (landscape.gpu_mlp)
    n_devices: int = 1  # local devices the inits axis is sharded over (landscape.sharding)
    problem: Any = None  # the landscape.problem.Problem trained (model, loss, data, sources; success threshold)


def default_out_path(study: Study) -> Path:
    return Path("runs") / f"{study.name}.h5"


def study_dtype(study: Study) -> Any:
    """The JAX float dtype of a study's training (``jnp.float64`` only means something inside :func:`x64_scope`)."""
    return jnp.float64 if study.train.dtype == "float64" else jnp.float32


@contextlib.contextmanager
def x64_scope(study: Study) -> Iterator[None]:
    """``jax.enable_x64(True)`` for the duration of the block when the study trains in float64, else nothing."""
    if study.train.dtype == "float64":
        with jax.enable_x64(True):
            yield
    else:
        yield


def _scoped(function: Callable[..., Any], study: Study) -> Callable[..., Any]:
    """``function`` run inside :func:`x64_scope` (NumPy inputs then keep float64)."""
    if study.train.dtype != "float64":
        return function

    def scoped(*args: Any, **kwargs: Any) -> Any:
        with x64_scope(study):
            return function(*args, **kwargs)

    return scoped


def prepare(
    study: Study,
    model: Model | None = None,
    target: Target | None = None,
    loss_fn: UserLoss | None = None,
    *,
    fast: bool = True,
    shard: bool = True,
) -> Prepared:
    """Dataset, model (the configured MLP unless given) and training spec of a study.

    The trainer is the backend's compiled trainer when the study is in its family and ``fast``
    is on (:mod:`landscape.fast_mlp`'s C++ kernel on a CPU, :mod:`landscape.gpu_mlp`'s Pallas
    kernel on a GPU; see :func:`landscape.fast_mlp.unsupported_reason`), else the general
    ``jit(vmap(train_one))``; with several local devices and ``shard`` on, it is sharded over
    the inits axis (:mod:`landscape.sharding`). A float64 study's data, init and trainer run
    inside :func:`x64_scope` (the process's x64 setting is left alone), so pass them NumPy
    float64 arrays, or build JAX arrays inside ``x64_scope(study)``.
    """
    from .fast_mlp import fast_batch_trainer_for
    from .gpu_mlp import gpu_batch_trainer_for
    from .problem import problem_of_study
    from .sharding import shard_over_inits

    dtype = study_dtype(study)
    problem = problem_of_study(study, model, target, loss_fn)
    dataset = Dataset(problem.x, problem.y)
    model, loss_fn = problem.model, problem.loss_fn
    custom_model = problem.mlp is None or problem.sources["model"] != "mlp"
    steps = study.train.steps
    spec = TrainSpec(
        optimizer=make_optimizer(study.optimizer, steps),
        steps=steps,
        grad_tol=study.train.grad_tol,
        batch_size=study.train.batch_size,
        dropout=study.train.dropout,
        record_steps=tuple(
            int(s) for s in record_schedule(steps, study.train.trajectory_points, study.train.trajectory_spacing)
        ),
    )
    trainer, kind = None, "general"
    if fast:
        compiled_for = gpu_batch_trainer_for if jax.default_backend() == "gpu" else fast_batch_trainer_for
        trainer = compiled_for(
            study, dataset.x.shape[1], dataset.out_dim, spec.record_steps, custom_model, loss_fn is not None
        )
        kind = "general" if trainer is None else ("gpu_pallas" if compiled_for is gpu_batch_trainer_for else "fast_mlp")
    trainer = trainer or make_batch_trainer(model, spec, loss_fn)
    n_devices = len(jax.local_devices()) if shard else 1
    if n_devices > 1:
        trainer = shard_over_inits(trainer)
    batch_init = _scoped(make_batch_init(model), study)
    return Prepared(
        study,
        dataset,
        model,
        spec,
        loss_fn,
        dtype,
        batch_init,
        _scoped(trainer, study),
        kind,
        n_devices,
        problem,
    )


def device_memory_bytes() -> int | None:
    """Free memory of the first local device as it reports it (``bytes_limit - bytes_in_use``), or None.

    GPUs (and TPUs) report ``memory_stats()``; the CPU backend reports nothing.
    """
    try:
        stats = jax.local_devices()[0].memory_stats()
    except (AttributeError, NotImplementedError, RuntimeError):
        return None
    if not stats or "bytes_limit" not in stats:
        return None
    return max(0, int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))


def chunk_bytes_per_network(study: Study, out_dim: int, trainer_kind: str = "general") -> int:
    """Estimated device working set of one network while its chunk trains (bytes).

    General trainer: activations and their gradients for every point (a few copies per
    layer), plus the per-step loss record. Compiled trainers (``"fast_mlp"``,
    ``"gpu_pallas"``) keep only parameters in and out, optimiser state and the recorded losses.
    """
    itemsize = 8 if study.train.dtype == "float64" else 4
    points = study.train.batch_size or study.task.n_points
    width = study.task.dim + sum(study.model.hidden) + out_dim
    if trainer_kind in ("fast_mlp", "gpu_pallas"):
        record = 1 << max(0, study.train.trajectory_points + 1).bit_length()  # the GPU kernel pads it to a power of two
        return itemsize * (8 * (study.task.dim + 2) * sum(study.model.hidden) + record + 64)
    return itemsize * (6 * points * width + study.train.steps + 64)


def auto_chunk_size(
    study: Study, out_dim: int, n_devices: int = 1, trainer_kind: str = "general", memory_bytes: int | None = None
) -> int:
    """Networks per chunk, a multiple of the device count, sized by the memory the device reports.

    When the device reports its free memory (:func:`device_memory_bytes`, or ``memory_bytes``
    given per device), a chunk uses up to ``DEVICE_MEMORY_FRACTION`` of it on every device,
    at :func:`chunk_bytes_per_network` per network; otherwise (the CPU) it stays near
    ``CHUNK_MEMORY_BYTES`` and at most ``MAX_AUTO_CHUNK`` networks. Chunks are then evened out.
    """
    if study.train.chunk_size:
        return study.train.chunk_size
    per_net = chunk_bytes_per_network(study, out_dim, trainer_kind)
    free = memory_bytes if memory_bytes is not None else device_memory_bytes()
    if free is None:
        cap = max(n_devices, min(MAX_AUTO_CHUNK, CHUNK_MEMORY_BYTES // per_net, study.n_inits))
    else:
        cap = max(n_devices, min(n_devices * int(DEVICE_MEMORY_FRACTION * free) // per_net, study.n_inits))
    n_chunks = math.ceil(study.n_inits / cap)
    chunk = math.ceil(study.n_inits / n_chunks)  # even chunks: the padded last one wastes little
    return int(math.ceil(chunk / n_devices) * n_devices)


def _device_metadata() -> dict[str, Any]:
    devices = jax.devices()
    return {
        "backend": jax.default_backend(),
        "devices": ", ".join(str(d) for d in devices),
        "x64": bool(jax.config.jax_enable_x64),
    }


class _PlainProgress:
    """Progress as plain lines on stderr (a log file, a pipe): one per update, at most every 2 s."""

    def __init__(self, total: int, initial: int, desc: str, every: float = 2.0):
        self.total, self.done, self.desc, self.every = total, initial, desc, every
        self.started = time.perf_counter()
        self.last = -float("inf")

    def update(self, count: int) -> None:
        self.done += count
        now = time.perf_counter()
        if now - self.last >= self.every or self.done >= self.total:
            self.last = now
            print(
                f"{self.desc}: {self.done}/{self.total} networks trained ({100 * self.done / max(self.total, 1):.0f}%), {now - self.started:.1f} s",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        pass


def _progress(total: int, initial: int, quiet: bool, desc: str) -> Any:
    """A tqdm bar on a terminal, plain lines otherwise (nothing with ``quiet``)."""
    if not quiet and not sys.stderr.isatty():
        return _PlainProgress(total, initial, desc)
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="net", desc=desc, disable=quiet, dynamic_ncols=True)


def run_study(
    study: Study | None = None,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
    model: Model | None = None,
    target: Target | None = None,
    loss_fn: UserLoss | None = None,
    max_chunks: int | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Train every network of a study and write its run file; returns the file's path.

    Args:
      study: what to run (default: the seed's problem). With ``resume``, may be None and is
        then read from ``out``.
      out: run file path (default ``runs/<study.name>.h5``).
      resume: continue an interrupted run file, skipping its finished chunks.
      overwrite: replace an existing file (otherwise an existing file is an error).
      quiet: no progress bar.
      model, target, loss_fn: bring-your-own model (:class:`~landscape.models.Model`), target
        function and loss, in place of the configured ones.
      max_chunks: stop after this many chunks (leaves an incomplete, resumable file).
      log: where one-line messages go (default: nowhere).
    """
    say = log or (lambda message: None)
    if resume:
        if out is None:
            if study is None:
                raise StudyError("--resume needs the run file: give --out PATH (or the study it was made from)")
            out = default_out_path(study)
        out = Path(out)
        if not out.exists():
            raise StudyError(f"{out}: nothing to resume (no such file)")
        try:
            with Run(out) as run:
                stored = run.study
        except RunFileError as err:
            raise StudyError(str(err)) from None
        if study is not None and study.to_json() != stored.to_json():
            raise StudyError(
                f"{out}: holds a different study than the one given; resume without a study file, or choose another --out"
            )
        study = stored
    else:
        study = study or Study()
        out = Path(out) if out is not None else default_out_path(study)
        if out.exists() and not overwrite:
            raise StudyError(f"{out}: already exists; pass --overwrite to replace it or --resume to continue it")

    prepared = prepare(study, model, target, loss_fn)
    if not resume:
        chunk_size = auto_chunk_size(study, prepared.dataset.out_dim, prepared.n_devices, prepared.trainer_kind)
        _create(out, prepared, chunk_size)
    with Run(out) as run:
        chunk_size = int(run.attrs["chunk_size"])
        chunk_done = run.chunk_done
    return _train_chunks(out, prepared, chunk_size, chunk_done, quiet, max_chunks, say)


def _create(out: Path, prepared: Prepared, chunk_size: int) -> None:
    study = prepared.study
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StudyError(f"{out.parent}: cannot create the output folder ({err.strerror or err})") from None
    with x64_scope(study):
        shapes = jax.eval_shape(prepared.model.init, jax.random.PRNGKey(0))
    param_shapes = {name: (leaf.shape, np.dtype(leaf.dtype)) for name, leaf in _flat_shapes(shapes).items()}
    metadata = {
        **_device_metadata(),
        "model": prepared.model.name,
        "trainer": prepared.trainer_kind,
        "n_devices": prepared.n_devices,
        "sources": json.dumps(prepared.problem.sources),
    }
    metadata["x64"] = bool(metadata["x64"] or study.train.dtype == "float64")  # scoped x64 (x64_scope) counts
    try:
        create_run_file(
            out,
            study,
            prepared.dataset.x.astype(np.dtype(prepared.dtype)),
            prepared.dataset.y.astype(np.dtype(prepared.dtype)),
            param_shapes,
            np.asarray(prepared.spec.record_steps),
            chunk_size,
            metadata,
        )
    except OSError as err:
        raise StudyError(f"{out}: cannot write the run file ({getattr(err, 'strerror', None) or err})") from None


def _flat_shapes(tree: Any) -> dict[str, Any]:
    from .storage import _key_name

    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {"/".join(_key_name(k) for k in path): leaf for path, leaf in leaves}


def chunk_bounds(n_inits: int, chunk_size: int, chunk: int) -> tuple[int, int]:
    start = chunk * chunk_size
    return start, min(start + chunk_size, n_inits)


def train_networks(prepared: Prepared, indices: np.ndarray, pad_to: int | None = None) -> tuple[Any, Any]:
    """Initialise and train networks ``indices`` of a study; returns (init params, TrainResult).

    ``pad_to`` pads the batch (repeating the last index) so every chunk has one compiled
    shape; padded rows are cut from the results.
    """
    count = len(indices)
    target = max(pad_to or count, count)
    target = (
        -(-target // prepared.n_devices) * prepared.n_devices
    )  # the sharded trainer needs a multiple of the device count
    padded = indices if target <= count else np.concatenate([indices, np.full(target - count, indices[-1])])
    keys = network_keys(prepared.study.seed, padded)
    init = prepared.batch_init(keys)
    dtype = np.dtype(prepared.dtype)  # NumPy arrays: a float64 study's trainer converts them inside its x64 scope
    result = prepared.batch_trainer(
        init, keys, np.asarray(prepared.dataset.x, dtype), np.asarray(prepared.dataset.y, dtype)
    )
    cut = lambda tree: jax.tree.map(lambda leaf: np.asarray(leaf)[:count], tree)  # noqa: E731
    return cut(init), cut(result)


def train_chunk(out: Path, prepared: Prepared, chunk_size: int, chunk: int) -> tuple[int, int]:
    """Train chunk ``chunk`` of a study and write it into the run file ``out``; returns its network range."""
    start, stop = chunk_bounds(prepared.study.n_inits, chunk_size, chunk)
    t0 = time.perf_counter()
    init, result = train_networks(prepared, np.arange(start, stop), pad_to=chunk_size)
    seconds = time.perf_counter() - t0
    outcome = {
        name: np.asarray(getattr(result, name)) for name in ("final_loss", "grad_norm", "status", "steps", "trajectory")
    }
    write_chunk(out, chunk, start, flatten_params(init), flatten_params(result.final_params), outcome, seconds)
    return start, stop


def _train_chunks(
    out: Path,
    prepared: Prepared,
    chunk_size: int,
    chunk_done: np.ndarray,
    quiet: bool,
    max_chunks: int | None,
    say: Callable[[str], None],
) -> Path:
    study = prepared.study
    n = study.n_inits
    todo = [c for c in range(len(chunk_done)) if not chunk_done[c]]
    finished_before = sum(
        chunk_bounds(n, chunk_size, c)[1] - chunk_bounds(n, chunk_size, c)[0]
        for c in range(len(chunk_done))
        if chunk_done[c]
    )
    if finished_before:
        say(f"resuming {out}: {len(chunk_done) - len(todo)} of {len(chunk_done)} chunks already done")
    bar = _progress(n, finished_before, quiet, study.name)
    t_start = time.perf_counter()
    trained = 0
    try:
        for done_count, chunk in enumerate(todo):
            if max_chunks is not None and done_count >= max_chunks:
                say(f"stopped after {max_chunks} chunk(s) as asked; resume with: landscape run --resume --out {out}")
                return out
            start, stop = train_chunk(out, prepared, chunk_size, chunk)
            trained += stop - start
            bar.update(stop - start)
    except KeyboardInterrupt:
        bar.close()
        say(f"interrupted: finished chunks are saved in {out}; resume with: landscape run --resume --out {out}")
        raise
    bar.close()
    wall = time.perf_counter() - t_start
    with Run(out) as run:
        total_seconds = float(np.nansum(run._train("chunk_seconds")))
    mark_complete(
        out,
        {
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "wall_seconds": total_seconds,
            "net_steps_per_second": n * study.train.steps / total_seconds if total_seconds > 0 else 0.0,
            "last_session_seconds": wall,
        },
    )
    return out


def summarize(run: Run, problem: Any = None) -> dict[str, Any]:
    """Counts per status, loss quantiles and task-aware success of a run's trained networks.

    Args:
      run: an open run file (complete or not: networks not run yet are counted apart, never as diverged).
      problem: the run's :class:`~landscape.problem.Problem` (default: :func:`landscape.problem.success_problem_of`); its
        ``success_loss`` is the threshold (``task.success_loss``, else a tenth of the constant
        predictor's loss) and ``r_squared`` the scale-free fit.

    Returns:
      a JSON-able dict: ``n_inits``, ``n_trained``, ``n_not_run``, ``status_counts``,
      ``loss_quantiles`` (finite losses of trained networks), ``success_loss`` (None when success
      is undefined), ``success_rule`` (one line), ``fraction_succeeding`` (of trained networks;
      None when undefined or nothing trained), ``median_r_squared`` (None without a constant
      predictor), ``notes`` (one-line remarks: networks not run, all diverged, ...), timings.
    """
    if problem is None:
        from .problem import success_problem_of

        problem = success_problem_of(run)
    status = run.status
    loss = run.final_loss
    trained = status >= 0
    finite = np.isfinite(loss) & trained
    quantiles = (
        {f"q{int(q * 100):02d}": float(np.quantile(loss[finite], q)) for q in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)}
        if finite.any()
        else {}
    )
    threshold = problem.success_loss
    fraction = None
    if threshold is not None and trained.any():
        succeeded = finite & (loss < threshold) & (status != Status.DIVERGED)
        fraction = float(np.mean(succeeded[trained]))
    r_squared = problem.r_squared(loss[finite]) if finite.any() else None
    notes = []
    n_not_run = int(np.sum(~trained))
    if n_not_run:
        notes.append(
            f"{n_not_run} of {status.size} networks not run yet ({int(np.sum(~run.chunk_done))} of "
            f"{run.chunk_done.size} chunks); finish with: landscape run --resume --out {run.path}"
        )
    if trained.any() and not finite.any():
        notes.append("no trained network has a finite final loss (all diverged): no loss quantiles")
    elif trained.sum() == 1:
        notes.append("one network: fractions are 0 or 1")
    elif finite.sum() > 1 and np.ptp(loss[finite]) == 0:
        notes.append("every network ended at the same final loss")
    return {
        "n_inits": int(status.size),
        "n_trained": int(trained.sum()),
        "n_not_run": n_not_run,
        "status_counts": {s.name.lower(): int(np.sum(status == s)) for s in Status},
        "loss_quantiles": quantiles,
        "success_loss": threshold,
        "success_rule": problem.success_rule(),
        "fraction_succeeding": fraction,
        "median_r_squared": float(np.median(r_squared)) if r_squared is not None and r_squared.size else None,
        "notes": notes,
        "wall_seconds": float(run.attrs.get("wall_seconds", float("nan"))),
        "net_steps_per_second": float(run.attrs.get("net_steps_per_second", float("nan"))),
    }


def format_summary(summary: dict[str, Any], name: str) -> str:
    """The summary of :func:`summarize` as a few lines of text."""
    counts = summary["status_counts"]
    quantiles = summary["loss_quantiles"]
    lines = [
        f"study '{name}': {summary['n_inits']} networks",
        "  status: " + ", ".join(f"{k} {v}" for k, v in counts.items() if k != "not_run" or v),
        "  final loss quantiles: " + (", ".join(f"{k} {v:.3g}" for k, v in quantiles.items()) or "none finite"),
        f"  {summary['success_rule']}",
    ]
    if summary["fraction_succeeding"] is not None:
        r2 = summary["median_r_squared"]
        lines.append(
            f"  succeeding: {summary['fraction_succeeding']:.3f} of {summary['n_trained']} trained networks"
            + (f"; median R² {r2:.3f}" if r2 is not None else "")
        )
    lines += [f"  note: {note}" for note in summary.get("notes", [])]
    wall, rate = summary["wall_seconds"], summary["net_steps_per_second"]
    if np.isfinite(wall):
        lines.append(
            f"  wall time {wall:.1f} s (training)" + (f", throughput {rate:.3g} network-steps/s" if rate > 0 else "")
        )
    return "\n".join(lines)


__all__ = [
    "run_study",
    "prepare",
    "train_networks",
    "summarize",
    "format_summary",
    "StudyError",
    "ConfigError",
]
