"""Tasks: a target function and an input distribution, turned into one shared dataset.

Every target maps inputs ``x: (n_points, dim)`` to outputs ``y: (n_points,)`` (scalar
targets) or ``(n_points, out_dim)``. Datasets are drawn with NumPy from ``task.data_seed``
so they do not depend on the JAX backend, and are stored with the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .config import ConfigError, TaskConfig, import_callable

Target = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Dataset:
    """Inputs ``x: (n_points, dim)`` and targets ``y: (n_points,)`` or ``(n_points, out_dim)``."""

    x: np.ndarray
    y: np.ndarray

    @property
    def out_dim(self) -> int:
        return 1 if self.y.ndim == 1 else self.y.shape[1]


def sample_inputs(config: TaskConfig, rng: np.random.Generator) -> np.ndarray:
    """``(n_points, dim)`` float64 inputs from the task's distribution."""
    shape = (config.n_points, config.dim)
    if config.distribution == "uniform":
        return rng.uniform(config.low, config.high, size=shape)
    if config.distribution == "gaussian":
        return rng.normal(0.0, config.std, size=shape)
    if config.distribution == "corners":  # vertices of the box, e.g. the four XOR inputs
        return np.where(rng.integers(0, 2, size=shape) == 1, config.high, config.low).astype(float)
    raise ConfigError(f"task.distribution: unknown value {config.distribution!r}")


def euclidean_norm(x: np.ndarray) -> np.ndarray:
    """sqrt(sum_i x_i^2): the seed's target."""
    return np.sqrt(np.sum(x**2, axis=1))


def absolute_value(x: np.ndarray) -> np.ndarray:
    return np.abs(x[:, 0])


def xor(x: np.ndarray) -> np.ndarray:
    """1 where the first two inputs have opposite signs, else 0 (XOR of the sign bits)."""
    return (np.sign(x[:, 0]) * np.sign(x[:, 1]) < 0).astype(float)


def teacher_weights(config: TaskConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The teacher network's ``(w (dim, width), b (width,), a (width,))``, drawn from ``data_seed``.

    ``teacher_orthonormal``: orthonormal input weight vectors (needs width <= dim) with unit output
    weights and no biases, the classic teacher-student setting (Safran & Shamir 2018).
    """
    rng = np.random.default_rng([config.data_seed, 7])
    k, d = config.teacher_width, config.dim
    if config.teacher_orthonormal:
        if k > d:
            raise ConfigError(f"task.teacher_width: an orthonormal teacher needs width <= dim ({d}), got {k}")
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        return q[:, :k], np.zeros(k), np.ones(k)
    w = rng.normal(size=(d, k)) / np.sqrt(d)
    b = rng.normal(size=k) * 0.1
    a = rng.normal(size=k) / np.sqrt(k)
    return w, b, a


def teacher_network(config: TaskConfig) -> Target:
    """A random one-hidden-layer ReLU teacher of width ``teacher_width``: x -> relu(x w + b) a (see :func:`teacher_weights`)."""
    w, b, a = teacher_weights(config)

    def target(x: np.ndarray) -> np.ndarray:
        return np.maximum(x @ w + b, 0.0) @ a

    return target


def fir_filter(taps: list[float]) -> Target:
    """Causal FIR filter: y[t] = sum_k taps[k] x[t-k] (zero before the start), per signal."""
    taps_array = np.asarray(taps, dtype=float)

    def target(x: np.ndarray) -> np.ndarray:
        n = x.shape[1]
        return np.stack([np.convolve(row, taps_array)[:n] for row in x])

    return target


def dft(x: np.ndarray) -> np.ndarray:
    """Real and imaginary parts of the DFT of each signal: ``(n, dim)`` -> ``(n, 2 dim)``."""
    spectrum = np.fft.fft(x, axis=1)
    return np.concatenate([spectrum.real, spectrum.imag], axis=1)


def amplitude_spectrum(x: np.ndarray) -> np.ndarray:
    """|DFT| of each signal, the seed author's goal: ``(n, dim)`` -> ``(n, dim)``."""
    return np.abs(np.fft.fft(x, axis=1))


def import_target(spec: str) -> Target:
    """Resolve ``"package.module:function"`` to a callable (the custom task's ``task.target``)."""
    if not spec:
        raise ConfigError(
            "task.target: the custom task needs 'module:function' in the study, or target= passed to run_study"
        )
    return import_callable(spec, "task.target")


def target_function(config: TaskConfig) -> Target:
    """The task's target as a NumPy function of ``(n_points, dim)`` inputs."""
    fixed: dict[str, Target] = {
        "euclidean_norm": euclidean_norm,
        "abs": absolute_value,
        "xor": xor,
        "dft": dft,
        "amplitude_spectrum": amplitude_spectrum,
    }
    if config.name in fixed:
        return fixed[config.name]
    if config.name == "teacher":
        return teacher_network(config)
    if config.name == "fir":
        return fir_filter(config.fir_taps)
    if config.name == "custom":
        return import_target(config.target)
    raise ConfigError(f"task.name: unknown task {config.name!r}")


def make_dataset(config: TaskConfig, target: Target | None = None) -> Dataset:
    """Draw the inputs and evaluate the target (``target`` overrides the configured one).

    Raises :class:`ConfigError` naming the task when the target returns a wrong shape or
    non-finite values, before any training starts.
    """
    rng = np.random.default_rng(config.data_seed)
    x = sample_inputs(config, rng)
    fn = target if target is not None else target_function(config)
    label = config.target if config.name == "custom" else config.name
    try:
        y = np.asarray(fn(x), dtype=float)
    except Exception as err:  # a user's target may raise anything; report it as theirs
        raise ConfigError(f"task {label!r}: the target raised {type(err).__name__}: {err}") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise ConfigError(
            f"task {label!r}: expected targets of shape ({x.shape[0]},) or ({x.shape[0]}, k), got {y.shape}"
        )
    bad = ~np.isfinite(y)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ConfigError(
            f"task {label!r}: the target is NaN or infinite at {rows.size} of {x.shape[0]} inputs "
            f"(first at x = {x[rows[0]].tolist()})"
        )
    return Dataset(x=x, y=y)
