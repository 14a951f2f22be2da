"""The trainer: written for one network, ``vmap``-ped over inits, ``lax.scan`` over steps.

Every network ends with a :class:`Status` stored as data; a diverging network never stops
the others. Network ``i``'s randomness comes from ``fold_in(PRNGKey(seed), i)`` alone
(:func:`network_keys`), so chunking, resuming and sharding never change a result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .models import Model
from .types import Loss, Objective, Params
from .vocabulary import Status

UserLoss = Loss  # a user's loss(params, x, y) -> scalar


class TrainResult(NamedTuple):
    """Per-network outcome; batched results carry a leading ``(n_nets,)`` axis on every leaf."""

    final_params: Params
    final_loss: jax.Array  # () loss on the full dataset, no dropout
    grad_norm: jax.Array  # () global gradient norm there
    status: jax.Array  # () int8, a Status code
    steps: jax.Array  # () int32, optimiser updates applied
    trajectory: jax.Array  # (n_record,) loss before the update at each recorded step


@dataclass(frozen=True)
class TrainSpec:
    """Everything about training that is the same for every network of a study."""

    optimizer: optax.GradientTransformation
    steps: int
    grad_tol: float = 1e-5
    batch_size: int = 0  # 0: full batch
    dropout: float = 0.0
    record_steps: tuple[int, ...] = ()

    def __hash__(self) -> int:  # used as a cache key for compiled trainers
        return id(self)


def record_schedule(steps: int, points: int, spacing: str = "log") -> np.ndarray:
    """Steps (0-based, unique, increasing, always including 0 and steps-1) at which losses are kept.

    ``log``: about ``points`` steps spaced evenly in log(step + 1); ``linear``: evenly spaced.
    """
    if spacing == "log":
        raw = np.geomspace(1, steps, num=points) - 1
    else:
        raw = np.linspace(0, steps - 1, num=points)
    return np.unique(np.concatenate([[0, steps - 1], np.round(raw).astype(np.int64)]))


def network_keys(seed: int, indices: np.ndarray | jax.Array) -> jax.Array:
    """``(n, 2)`` typed-free uint32 keys, key_i = fold_in(PRNGKey(seed), i) for each index."""
    base = jax.random.PRNGKey(seed)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.asarray(indices, dtype=jnp.uint32))


def init_and_train_keys(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Split one network's key into its init key and its training (dropout/minibatch) key."""
    return jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)


def make_objective(model: Model, loss_fn: UserLoss | None = None, dropout: float = 0.0) -> Objective:
    """``objective(params, x, y, dropout_key) -> scalar``.

    Default: mean squared error of ``model.apply`` (averaged over points and outputs), with
    dropout on hidden units when ``dropout_key`` is given. A user ``loss_fn(params, x, y)``
    replaces it (e.g. a closed-form population loss that ignores x and y).
    """
    if loss_fn is not None:
        return lambda params, x, y, dropout_key=None: loss_fn(params, x, y)

    def mse(params: Params, x: jax.Array, y: jax.Array, dropout_key: jax.Array | None = None) -> jax.Array:
        prediction = model.apply(params, x, dropout_key, dropout) if dropout_key is not None else model.apply(params, x)
        return jnp.mean((prediction - y) ** 2)

    return mse


def _mask(tree: Any, trainable: Any) -> Any:
    if trainable is None:
        return tree
    return jax.tree.map(lambda leaf, keep: leaf * keep, tree, trainable)


def global_norm(tree: Any) -> jax.Array:
    """sqrt of the sum of squares of every leaf (the L2 norm of the flattened pytree)."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(tree)))


def _all_finite(tree: Any) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _minibatch(
    x: jax.Array, y: jax.Array, key: jax.Array, step: jax.Array, batch_size: int
) -> tuple[jax.Array, jax.Array]:
    """The step's minibatch: a fresh permutation each epoch, remainder dropped."""
    n = x.shape[0]
    batches_per_epoch = n // batch_size
    epoch, position = step // batches_per_epoch, step % batches_per_epoch
    order = jax.random.permutation(jax.random.fold_in(key, epoch), n)
    index = jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)
    return x[index], y[index]


def train_one(
    params: Params,
    train_key: jax.Array,
    x: jax.Array,
    y: jax.Array,
    spec: TrainSpec,
    objective: Objective,
    trainable: Any = None,
) -> TrainResult:
    """Train one network from ``params`` for ``spec.steps`` optimiser steps.

    Args:
      params: initial parameters (any pytree).
      train_key: this network's key for dropout masks and minibatch order.
      x: ``(n_points, in_dim)`` inputs; y: ``(n_points,)`` or ``(n_points, out_dim)`` targets.
      spec: optimiser, budget and tolerances (static).
      objective: ``(params, x, y, dropout_key) -> scalar``, see :func:`make_objective`.
      trainable: optional pytree of bools/0-1 like params; frozen leaves never move.

    Returns:
      A :class:`TrainResult` for this network.
    """
    opt = spec.optimizer
    use_dropout = spec.dropout > 0.0
    dropout_key, batch_key = jax.random.split(train_key)
    value_and_grad = jax.value_and_grad(objective)

    def step(carry: tuple, t: jax.Array) -> tuple[tuple, jax.Array]:
        params, opt_state, status, n_updates = carry
        bx, by = (x, y) if spec.batch_size == 0 else _minibatch(x, y, batch_key, t, spec.batch_size)
        loss, grads = value_and_grad(params, bx, by, jax.random.fold_in(dropout_key, t) if use_dropout else None)
        grads = _mask(grads, trainable)
        grad_norm = global_norm(grads)
        running = status == Status.MAX_STEPS
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        converged = finite & (grad_norm < spec.grad_tol)
        updates, new_opt_state = opt.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, _mask(updates, trainable))
        diverged = ~finite | ~_all_finite(new_params)
        move = running & ~converged & ~diverged
        params = jax.tree.map(lambda new, old: jnp.where(move, new, old), new_params, params)
        opt_state = jax.tree.map(lambda new, old: jnp.where(move, new, old), new_opt_state, opt_state)
        status = jnp.where(running & diverged, jnp.int8(Status.DIVERGED), status)
        status = jnp.where(running & ~diverged & converged, jnp.int8(Status.CONVERGED), status)
        return (params, opt_state, status, n_updates + move.astype(jnp.int32)), loss

    carry = (params, opt.init(params), jnp.int8(Status.MAX_STEPS), jnp.int32(0))
    (params, _, status, n_updates), losses = jax.lax.scan(step, carry, jnp.arange(spec.steps))
    final_loss, final_grads = value_and_grad(params, x, y, None)
    grad_norm = global_norm(_mask(final_grads, trainable))
    status = jnp.where(jnp.isfinite(final_loss) | (status == Status.DIVERGED), status, jnp.int8(Status.DIVERGED))
    record = jnp.asarray(spec.record_steps if spec.record_steps else (spec.steps - 1,), dtype=jnp.int32)
    return TrainResult(params, final_loss, grad_norm, status, n_updates, losses[record])


def init_one(model: Model, key: jax.Array) -> Params:
    """Network ``i``'s initial parameters from its key (see :func:`network_keys`)."""
    init_key, _ = init_and_train_keys(key)
    return model.init(init_key)


def make_batch_trainer(
    model: Model, spec: TrainSpec, loss_fn: UserLoss | None = None
) -> Callable[[Params, jax.Array, jax.Array, jax.Array], TrainResult]:
    """``jit(vmap(train_one))``: ``(params (n, ...), keys (n, 2), x, y) -> TrainResult (n, ...)``.

    ``keys`` are network keys (:func:`network_keys`); the training key is derived from each.
    """
    objective = make_objective(model, loss_fn, spec.dropout)

    def one(params: Params, key: jax.Array, x: jax.Array, y: jax.Array) -> TrainResult:
        _, train_key = init_and_train_keys(key)
        return train_one(params, train_key, x, y, spec, objective, model.trainable)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None)))


def make_batch_init(model: Model) -> Callable[[jax.Array], Params]:
    """``jit(vmap(init_one))``: network keys ``(n, 2)`` -> initial params with leading ``n``."""
    return jax.jit(jax.vmap(lambda key: init_one(model, key)))
