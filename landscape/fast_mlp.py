"""A compiled fast path for the batched trainer on CPU, for one-hidden-layer MLPs.

The general trainer (:func:`landscape.training.make_batch_trainer`, ``jit(vmap(scan))``
with autodiff) handles every model the tool supports, but XLA's CPU code for tiny networks
runs at about 1/10 of what the hardware can do. For the model family the studies mostly
use -- ``in_dim -> H -> 1`` MLPs, any of the built-in activations, mean squared error, full
batch, Adam or SGD (plain, momentum, Nesterov) with a constant learning rate, float32 --
this module trains the whole batch in a C++ kernel (``_kernels/mlp_train.cc``) called as an
XLA FFI custom call (``jax.ffi.ffi_call``), with networks laid out in SIMD lanes.

It computes the same thing as :func:`landscape.training.train_one` (statuses with
freeze-on-convergence, ``grad_tol``, update counts, the recorded trajectory, final loss and
gradient norm); only the order of float additions differs (sequential sums over points here,
XLA's reductions there), see ``tests/test_fast_path.py``.

The kernel is compiled on first use with the system C++ compiler (``g++ -O3 -march=native
-fopenmp``) and cached under ``$LANDSCAPE_CACHE_DIR`` (default ``~/.cache/landscape``) by a
hash of the source, flags, compiler, JAX version and CPU. If it cannot be built, one warning
is issued and the general trainer is used. ``LANDSCAPE_FAST_PATH=0`` turns the fast path off.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .config import Study
from .training import TrainResult

KERNEL_SOURCE = Path(__file__).parent / "_kernels" / "mlp_train.cc"
TARGET_NAME = "landscape_mlp_train_f32"
SYMBOL = "LandscapeMlpTrainF32"
COMPILE_FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fopenmp", "-std=c++17", "-shared", "-fPIC", "-w")

ACTIVATION_CODES = {
    "relu": 0,
    "leaky_relu": 1,
    "linear": 2,
    "tanh": 3,
    "sigmoid": 4,
    "softplus": 5,
    "elu": 6,
    "exp": 7,
    "gelu": 8,
}
OPTIMIZER_CODES = {"adam": 0, "sgd": 1, "momentum": 2}
_ADAM_DEFAULTS = {"b1": 0.9, "b2": 0.999, "eps": 1e-8, "eps_root": 0.0, "nesterov": False}


class KernelBuildError(RuntimeError):
    """The fast-path kernel could not be compiled or loaded."""


class FastPathUnavailableWarning(RuntimeWarning):
    """Issued once per process when the kernel cannot be built; the general trainer is used."""


@dataclass(frozen=True)
class FastPlan:
    """Static settings of one fast-path trainer (everything the kernel needs but the data)."""

    in_dim: int
    hidden: int
    activation: int
    slope: float
    hidden_bias: bool
    out_bias: bool
    optimizer: int
    lr: float
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    eps_root: float = 0.0
    momentum: float = 0.0
    nesterov: bool = False
    grad_tol: float = 1e-5
    steps: int = 1
    record_steps: tuple[int, ...] = ()

    @property
    def n_params(self) -> int:
        return self.in_dim * self.hidden + 2 * self.hidden + 1


# ---------------------------------------------------------------------------------------------
# When the fast path applies.


#: The compiled trainer of each backend (the run file's ``trainer`` attribute when it runs).
COMPILED_TRAINERS = {"cpu": "fast_mlp", "gpu": "gpu_pallas"}


def fast_path_disabled() -> bool:
    """True when ``LANDSCAPE_FAST_PATH`` turns the compiled trainers off (0, false, no, off)."""
    return os.environ.get("LANDSCAPE_FAST_PATH", "1").lower() in ("0", "false", "no", "off")


def unsupported_reason(
    study: Study,
    out_dim: int,
    custom_model: bool = False,
    custom_loss: bool = False,
    backend: str | None = None,
    in_dim: int | None = None,
) -> str | None:
    """Why ``study`` cannot use the compiled trainer of ``backend`` (a short phrase), or None when it can.

    One set of checks for both compiled trainers: the model family they share (one hidden
    layer, scalar output, MSE, full batch, float32, a constant-rate Adam or SGD family
    optimiser, a built-in activation), then the backend's own limits: the C++ kernel
    (:mod:`landscape.fast_mlp`) on ``"cpu"``, the Pallas kernel (:mod:`landscape.gpu_mlp`,
    hidden width and parameter count) on ``"gpu"``; no compiled trainer elsewhere.

    Args:
      study: the study.
      out_dim: output width of its task.
      custom_model, custom_loss: a user model or loss was given (never compiled).
      backend: ``"cpu"``, ``"gpu"``, ... (default: ``jax.default_backend()``).
      in_dim: input width (default: ``study.task.dim``), for the GPU kernel's parameter limit.
    """
    m, tr, opt = study.model, study.train, study.optimizer
    backend = backend or jax.default_backend()
    checks = [
        (fast_path_disabled(), "LANDSCAPE_FAST_PATH is off"),
        (custom_model, "a user model"),
        (custom_loss, "a user loss"),
        (backend not in COMPILED_TRAINERS, f"backend {backend} (compiled trainers exist for cpu and gpu)"),
        (len(m.hidden) != 1, "not one hidden layer"),
        (out_dim != 1, "vector output"),
        (m.activation not in ACTIVATION_CODES, f"activation {m.activation}"),
        (tr.dtype != "float32", "float64"),
        (tr.batch_size != 0, "minibatches"),
        (tr.dropout != 0.0, "dropout"),
        (tr.loss != "mse", f"loss {tr.loss}"),
        (opt.schedule.name != "constant" or bool(opt.schedule.options), "a learning-rate schedule"),
        (_optimizer_settings(study) is None, f"optimizer {opt.name} with options {sorted(opt.options)}"),
    ]
    if backend == "gpu" and len(m.hidden) == 1:
        from .gpu_mlp import MAX_HIDDEN, MAX_PARAMS

        width, dim = m.hidden[0], in_dim if in_dim is not None else study.task.dim
        n_params = dim * width + 2 * width + 1
        checks += [
            (width > MAX_HIDDEN, f"hidden width {width} > {MAX_HIDDEN} (GPU kernel)"),
            (n_params > MAX_PARAMS, f"{n_params} parameters per network > {MAX_PARAMS} (GPU kernel)"),
        ]
    for failed, reason in checks:
        if failed:
            return reason
    return None


def _optimizer_settings(study: Study) -> dict[str, Any] | None:
    """Kernel optimiser settings for the study's optimiser, or None if not supported."""
    opt = study.optimizer
    options = dict(opt.options)
    if opt.name == "adam":
        if set(options) - set(_ADAM_DEFAULTS) or options.get("nesterov", False):
            return None
        merged = {**_ADAM_DEFAULTS, **options}
        return {
            "optimizer": OPTIMIZER_CODES["adam"],
            "b1": float(merged["b1"]),
            "b2": float(merged["b2"]),
            "eps": float(merged["eps"]),
            "eps_root": float(merged["eps_root"]),
        }
    if opt.name in ("sgd", "momentum", "nesterov"):
        if set(options) - {"momentum", "nesterov"}:
            return None
        defaults = {"sgd": (None, False), "momentum": (0.9, False), "nesterov": (0.9, True)}[opt.name]
        momentum = options.get("momentum", defaults[0])
        nesterov = bool(options.get("nesterov", defaults[1]))
        if momentum is None:
            return {"optimizer": OPTIMIZER_CODES["sgd"]}
        return {"optimizer": OPTIMIZER_CODES["momentum"], "momentum": float(momentum), "nesterov": nesterov}
    return None


def make_plan(study: Study, in_dim: int, record_steps: tuple[int, ...]) -> FastPlan:
    """The kernel settings of a study that :func:`unsupported_reason` accepts."""
    m = study.model
    return FastPlan(
        in_dim=in_dim,
        hidden=m.hidden[0],
        activation=ACTIVATION_CODES[m.activation],
        slope=float(m.leaky_slope),
        hidden_bias=bool(m.bias),
        out_bias=bool(m.output_bias),
        lr=float(study.optimizer.learning_rate),
        grad_tol=float(study.train.grad_tol),
        steps=int(study.train.steps),
        record_steps=tuple(record_steps),
        **_optimizer_settings(study),
    )


# ---------------------------------------------------------------------------------------------
# Building and loading the kernel.


def cache_dir() -> Path:
    """Where compiled kernels live: ``$LANDSCAPE_CACHE_DIR`` or ``$XDG_CACHE_HOME/landscape``."""
    explicit = os.environ.get("LANDSCAPE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "landscape"


def _compiler() -> str:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or "g++"


def _cpu_signature() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = [line for line in text.splitlines() if line.startswith(("model name", "flags"))][:2]
        return "\n".join(lines)
    except OSError:
        return platform.processor() or platform.machine()


def kernel_path() -> Path:
    """Path of the compiled kernel for this source, compiler, JAX version and CPU."""
    compiler = _compiler()
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        version = "unknown"
    key = hashlib.sha256()
    for part in (
        KERNEL_SOURCE.read_bytes(),
        " ".join(COMPILE_FLAGS).encode(),
        version.encode(),
        jax.__version__.encode(),
        _cpu_signature().encode(),
    ):
        key.update(part)
        key.update(b"\0")
    return cache_dir() / f"mlp_train-{key.hexdigest()[:16]}.so"


def build_kernel(force: bool = False) -> Path:
    """Compile the kernel into the cache (if not already there); returns the shared library's path.

    Raises :class:`KernelBuildError` with the compiler's message on failure.
    """
    target = kernel_path()
    if target.exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staged = Path(tmp) / target.name
        command = [_compiler(), *COMPILE_FLAGS, f"-I{jax.ffi.include_dir()}", str(KERNEL_SOURCE), "-o", str(staged)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as err:
            raise KernelBuildError(f"cannot run the C++ compiler: {err}") from None
        if done.returncode != 0:
            raise KernelBuildError(f"compiling {KERNEL_SOURCE.name} failed: {done.stderr.strip()[-2000:]}")
        os.replace(staged, target)  # atomic: concurrent builders leave one complete file
    return target


@functools.cache
def load_kernel() -> bool:
    """Build (once per machine) and register the kernel; False, with one warning, if that fails."""
    try:
        library = ctypes.cdll.LoadLibrary(str(build_kernel()))
        jax.ffi.register_ffi_target(TARGET_NAME, jax.ffi.pycapsule(getattr(library, SYMBOL)), platform="cpu")
    except (KernelBuildError, OSError, AttributeError) as err:
        warnings.warn(
            f"landscape: fast MLP trainer unavailable, using the general trainer ({err})",
            FastPathUnavailableWarning,
            stacklevel=2,
        )
        return False
    return True


# ---------------------------------------------------------------------------------------------
# The trainer.


def pack_params(params: Any, plan: FastPlan) -> jax.Array:
    """Batched MLP params ``[{"w": (n, D, H), "b": (n, H)}, {"w": (n, H, 1), "b": (n, 1)}]`` -> ``(n, P)``.

    Column order: w1 (row-major D x H), b1 (H), w2 (H), b2 (1); absent biases are zeros.
    """
    hidden_layer, out_layer = params
    n = hidden_layer["w"].shape[0]
    zeros = lambda width: jnp.zeros((n, width), jnp.float32)  # noqa: E731
    parts = [
        hidden_layer["w"].reshape(n, plan.in_dim * plan.hidden),
        hidden_layer["b"] if "b" in hidden_layer else zeros(plan.hidden),
        out_layer["w"].reshape(n, plan.hidden),
        out_layer["b"].reshape(n, 1) if "b" in out_layer else zeros(1),
    ]
    return jnp.concatenate([part.astype(jnp.float32) for part in parts], axis=1)


def unpack_params(packed: jax.Array, plan: FastPlan) -> list[dict[str, jax.Array]]:
    """Inverse of :func:`pack_params` (biases left out when the model has none)."""
    n, d, h = packed.shape[0], plan.in_dim, plan.hidden
    w1 = packed[:, : d * h].reshape(n, d, h)
    b1 = packed[:, d * h : d * h + h]
    w2 = packed[:, d * h + h : d * h + 2 * h].reshape(n, h, 1)
    b2 = packed[:, d * h + 2 * h :]
    hidden_layer = {"w": w1, **({"b": b1} if plan.hidden_bias else {})}
    out_layer = {"w": w2, **({"b": b2} if plan.out_bias else {})}
    return [hidden_layer, out_layer]


def train_packed(packed: jax.Array, x: jax.Array, y: jax.Array, plan: FastPlan) -> tuple[jax.Array, ...]:
    """The kernel call: packed params ``(n, P)`` -> (params, final_loss, grad_norm, status, steps, trajectory)."""
    n = packed.shape[0]
    record = plan.record_steps or (plan.steps - 1,)
    f32 = jnp.float32
    out_types = (
        jax.ShapeDtypeStruct((n, plan.n_params), f32),
        jax.ShapeDtypeStruct((n,), f32),
        jax.ShapeDtypeStruct((n,), f32),
        jax.ShapeDtypeStruct((n,), jnp.int8),
        jax.ShapeDtypeStruct((n,), jnp.int32),
        jax.ShapeDtypeStruct((n, len(record)), f32),
    )
    call = jax.ffi.ffi_call(TARGET_NAME, out_types, vmap_method="broadcast_all")
    return call(
        packed,
        jnp.asarray(x, f32),
        jnp.asarray(y, f32).reshape(-1),
        jnp.asarray(record, jnp.int32),
        hidden=np.int64(plan.hidden),
        steps=np.int64(plan.steps),
        activation=np.int64(plan.activation),
        slope=np.float32(plan.slope),
        hidden_bias=np.bool_(plan.hidden_bias),
        out_bias=np.bool_(plan.out_bias),
        optimizer=np.int64(plan.optimizer),
        lr=np.float32(plan.lr),
        b1=np.float32(plan.b1),
        b2=np.float32(plan.b2),
        eps=np.float32(plan.eps),
        eps_root=np.float32(plan.eps_root),
        momentum=np.float32(plan.momentum),
        nesterov=np.bool_(plan.nesterov),
        grad_tol=np.float32(plan.grad_tol),
    )


def make_fast_batch_trainer(plan: FastPlan) -> Callable[[Any, jax.Array, jax.Array, jax.Array], TrainResult]:
    """Drop-in for :func:`landscape.training.make_batch_trainer`: ``(params, keys, x, y) -> TrainResult``.

    ``keys`` are accepted for the same signature and unused (full batch, no dropout: training
    is deterministic given the initial parameters).
    """

    @jax.jit
    def trainer(params: Any, keys: jax.Array, x: jax.Array, y: jax.Array) -> TrainResult:
        del keys
        packed, loss, grad_norm, status, steps, trajectory = train_packed(pack_params(params, plan), x, y, plan)
        return TrainResult(unpack_params(packed, plan), loss, grad_norm, status, steps, trajectory)

    return trainer


def fast_batch_trainer_for(
    study: Study,
    in_dim: int,
    out_dim: int,
    record_steps: tuple[int, ...],
    custom_model: bool = False,
    custom_loss: bool = False,
) -> Callable[..., TrainResult] | None:
    """The fast trainer for ``study`` when it applies and the kernel is available, else None."""
    if (
        jax.default_backend() != "cpu"
        or unsupported_reason(study, out_dim, custom_model, custom_loss, "cpu", in_dim) is not None
    ):
        return None
    if not load_kernel():
        return None
    return make_fast_batch_trainer(make_plan(study, in_dim, record_steps))


__all__ = [
    "COMPILED_TRAINERS",
    "FastPathUnavailableWarning",
    "FastPlan",
    "KernelBuildError",
    "build_kernel",
    "cache_dir",
    "fast_batch_trainer_for",
    "fast_path_disabled",
    "load_kernel",
    "make_fast_batch_trainer",
    "make_plan",
    "pack_params",
    "unpack_params",
    "unsupported_reason",
]
