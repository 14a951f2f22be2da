"""A fused GPU trainer in Pallas for one-hidden-layer MLPs (the GPU twin of :mod:`landscape.fast_mlp`).

On a GPU the general trainer (``jit(vmap(scan))``) writes every step's (networks x points x
units) activations to GPU memory and reads them back, and uses a few percent of the card. For
the family the C++ kernel covers -- ``in_dim -> H -> 1`` MLPs with ``H <= 64``, any built-in
activation, mean squared error, full batch, Adam or SGD (plain, momentum, Nesterov) at a
constant learning rate, float32 -- this module trains a whole batch in one kernel launch
written with :mod:`jax.experimental.pallas` and lowered through Triton:

- networks on the lane axis, ``LANES`` (128) networks per program; every parameter, its
  optimiser state and its gradient is a ``(LANES,)`` vector held in registers for the whole run;
- the data in tiles of ``POINT_TILE`` (32) points; each tile's activations are
  ``(POINT_TILE, LANES)`` arrays, and gradients are sums over the tile's point axis;
- the whole training inside the kernel: ``lax.fori_loop`` over steps, and over point tiles
  inside each step.

Triton wants every array a kernel loads, stores or computes to have a power-of-two size, so the
packed parameters ``(n, P)`` (layout of :func:`landscape.fast_mlp.pack_params`) go in and out as
``P`` separate ``(n_padded,)`` arrays in ``(LANES,)`` blocks; the inputs go in as ``in_dim``
arrays of ``(n_points_padded,)`` read ``POINT_TILE`` points at a time (ragged last tile masked);
each recorded loss is stored, as it happens, into its row of one ``(R_padded, n_padded)`` array
(a per-step table maps a step to its row), so the trajectory never sits in registers.

It computes what :func:`landscape.training.train_one` computes, with the C++ kernel's
semantics (``_kernels/mlp_train.cc``): the loss before each step at the recorded steps, the
global gradient norm, freeze on ``grad_tol`` (status converged), divergence (loss, gradient or
updated parameters not finite: last finite parameters kept, status diverged), optax-equivalent
updates, the count of updates applied, and the loss and gradient norm at the final parameters.
Only the order of float additions differs (per-tile sums here), see ``tests/test_gpu_mlp.py``.

Chosen automatically by :func:`landscape.runner.prepare` on a GPU backend when
:func:`landscape.fast_mlp.unsupported_reason` accepts the study for that backend; runs record
``trainer = "gpu_pallas"``; ``LANDSCAPE_FAST_PATH=0`` turns it off. Without a GPU the same
kernel runs in Pallas interpret mode (slowly), which is how the tests check its arithmetic:
pass ``interpret=True``, or set ``LANDSCAPE_PALLAS_INTERPRET=1``. Two hidden layers are not
covered (a second layer would need a per-lane ``(H1, H2)`` matrix product inside the tile).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl

from .fast_mlp import (
    ACTIVATION_CODES,
    OPTIMIZER_CODES,
    FastPlan,
    make_plan,
    pack_params,
    unpack_params,
    unsupported_reason,
)
from .training import Status, TrainResult

LANES = 128  # networks per program (the lane axis of every array in the kernel)
POINT_TILE = 32  # points per tile of the inner loop
MAX_HIDDEN = 64  # widest hidden layer the kernel takes (registers per network grow with H)
MAX_PARAMS = 320  # parameters per network (2-64-1 has 257): each is two kernel arguments, in and out
_FLOAT_MAX = float(np.finfo(np.float32).max)

#: Force Pallas interpret mode (the kernel evaluated by XLA on any backend), e.g. for tests on a CPU.
INTERPRET = os.environ.get("LANDSCAPE_PALLAS_INTERPRET", "0").lower() in ("1", "true", "yes", "on")


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def _activation(code: int, slope: float, z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Activation value and derivative (jax.nn's definitions and custom JVPs, as in mlp_train.cc)."""
    codes = ACTIVATION_CODES
    if code == codes["relu"]:
        positive = z > 0.0
        return jnp.where(positive, z, 0.0), positive.astype(jnp.float32)
    if code == codes["leaky_relu"]:
        positive = z > 0.0
        return jnp.where(positive, z, slope * z), jnp.where(positive, 1.0, slope)
    if code == codes["linear"]:
        return z, jnp.ones_like(z)
    if code == codes["tanh"]:
        a = jnp.tanh(z)
        return a, 1.0 - a * a
    if code == codes["sigmoid"]:
        a = 1.0 / (1.0 + jnp.exp(-z))
        return a, a * (1.0 - a)
    if code == codes["softplus"]:
        return jnp.log1p(jnp.exp(-jnp.abs(z))) + jnp.maximum(z, 0.0), 1.0 / (1.0 + jnp.exp(-z))
    if code == codes["elu"]:
        positive = z > 0.0
        negative_part = jnp.where(positive, 0.0, z)
        return jnp.where(positive, z, jnp.expm1(negative_part)), jnp.where(positive, 1.0, jnp.exp(negative_part))
    if code == codes["exp"]:
        a = jnp.exp(z)
        return a, a
    if code == codes["gelu"]:  # tanh approximation, jax.nn.gelu(approximate=True)
        c = 0.7978845608028654  # sqrt(2 / pi)
        t = jnp.tanh(c * (z + 0.044715 * (z * z * z)))
        cdf = 0.5 * (1.0 + t)
        return z * cdf, cdf + z * 0.5 * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * z * z)
    raise ValueError(f"unknown activation code {code}")


def _finite(value: jax.Array) -> jax.Array:
    """True where ``value`` is finite (``|x| <= FLT_MAX`` is false for inf and NaN)."""
    return jnp.abs(value) <= _FLOAT_MAX


def _make_kernel(plan: FastPlan, n_points: int, n_points_padded: int) -> Callable[..., None]:
    """The Pallas kernel body for one block of ``LANES`` networks."""
    d_in, hidden, n_params = plan.in_dim, plan.hidden, plan.n_params
    n_tiles = n_points_padded // POINT_TILE
    ragged = n_points_padded != n_points
    inv_points = np.float32(1.0 / n_points)
    w1_at = lambda d, h: d * hidden + h  # noqa: E731
    b1_at = lambda h: d_in * hidden + h  # noqa: E731
    w2_at = lambda h: d_in * hidden + hidden + h  # noqa: E731
    b2_at = d_in * hidden + 2 * hidden
    trainable = [True] * (d_in * hidden) + [plan.hidden_bias] * hidden + [True] * hidden + [plan.out_bias]
    adam, momentum = plan.optimizer == OPTIMIZER_CODES["adam"], plan.optimizer == OPTIMIZER_CODES["momentum"]

    def loss_and_grad(
        params: tuple[jax.Array, ...], x_refs: Any, y_ref: Any
    ) -> tuple[jax.Array, list[jax.Array], jax.Array]:
        """Mean squared error ``(LANES,)``, its gradient (one ``(LANES,)`` per parameter) and global norm."""

        def tile(k: jax.Array, acc: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
            loss_sum, *grad = acc
            start = pl.multiple_of(k * POINT_TILE, POINT_TILE)
            xs = [x_refs[d][pl.ds(start, POINT_TILE)][:, None] for d in range(d_in)]  # (T, 1) each
            y = y_ref[pl.ds(start, POINT_TILE)][:, None]
            prediction, acts = None, []
            for h in range(hidden):
                z = xs[0] * params[w1_at(0, h)][None, :]
                for d in range(1, d_in):
                    z = z + xs[d] * params[w1_at(d, h)][None, :]
                if plan.hidden_bias:
                    z = z + params[b1_at(h)][None, :]
                a, da = _activation(plan.activation, plan.slope, z)  # (T, LANES)
                acts.append((a, da))
                term = a * params[w2_at(h)][None, :]
                prediction = term if prediction is None else prediction + term
            if plan.out_bias:
                prediction = prediction + params[b2_at][None, :]
            residual = prediction - y
            if ragged:  # points past the end (copies of the last point) count for nothing
                point = start + jax.lax.broadcasted_iota(jnp.int32, (POINT_TILE, 1), 0)
                residual = jnp.where(point < n_points, residual, 0.0)
            loss_sum = loss_sum + jnp.sum(residual * residual, axis=0)
            cotangent = (2.0 * residual) * inv_points  # d mean(r^2) / d prediction
            grad = list(grad)
            grad[b2_at] = grad[b2_at] + jnp.sum(cotangent, axis=0)
            for h in range(hidden):
                a, da = acts[h]
                dz = cotangent * params[w2_at(h)][None, :] * da
                grad[w2_at(h)] = grad[w2_at(h)] + jnp.sum(a * cotangent, axis=0)
                if plan.hidden_bias:
                    grad[b1_at(h)] = grad[b1_at(h)] + jnp.sum(dz, axis=0)
                for d in range(d_in):
                    grad[w1_at(d, h)] = grad[w1_at(d, h)] + jnp.sum(xs[d] * dz, axis=0)
            return (loss_sum, *grad)

        zeros = jnp.zeros((LANES,), jnp.float32)
        loss_sum, *grad = jax.lax.fori_loop(0, n_tiles, tile, (zeros,) * (n_params + 1))
        grad = [g if keep else zeros for g, keep in zip(grad, trainable, strict=True)]
        square_sum = None
        for g, keep in zip(grad, trainable, strict=True):
            if keep:
                square_sum = g * g if square_sum is None else square_sum + g * g
        return loss_sum * inv_points, grad, jnp.sqrt(square_sum)

    def kernel(*refs: Any) -> None:
        params_in = refs[:n_params]
        x_refs = refs[n_params : n_params + d_in]
        y_ref, slot_ref = refs[n_params + d_in], refs[n_params + d_in + 1]
        params_out = refs[n_params + d_in + 2 : 2 * n_params + d_in + 2]
        loss_ref, grad_norm_ref, status_ref, steps_ref, trajectory_ref = refs[2 * n_params + d_in + 2 :]
        params0 = tuple(ref[...] for ref in params_in)
        zeros = jnp.zeros((LANES,), jnp.float32)

        def step(t: jax.Array, carry: tuple) -> tuple:
            params, first_moment, second_moment, status, updates = carry
            loss, grad, grad_norm = loss_and_grad(params, x_refs, y_ref)
            slot = slot_ref[t]  # this step's row of the trajectory, or -1

            @pl.when(slot >= 0)
            def _record() -> None:
                trajectory_ref[slot, :] = loss

            running = status == int(Status.MAX_STEPS)
            finite = _finite(loss) & _finite(grad_norm)
            converged = finite & (grad_norm < plan.grad_tol)
            new_params, new_first, new_second = [], [], []
            if adam:
                count = (t + 1).astype(jnp.float32)  # running networks have moved at every earlier step
                correction1 = 1.0 - jnp.power(jnp.float32(plan.b1), count)
                correction2 = 1.0 - jnp.power(jnp.float32(plan.b2), count)
            new_finite = None
            for i in range(n_params):
                p, g = params[i], grad[i]
                if not trainable[i]:
                    new_params.append(p)
                    new_first.append(first_moment[i])
                    new_second.append(second_moment[i])
                    continue
                if adam:
                    m = (1.0 - plan.b1) * g + plan.b1 * first_moment[i]
                    v = (1.0 - plan.b2) * (g * g) + plan.b2 * second_moment[i]
                    update = (m / correction1) / (jnp.sqrt(v / correction2 + plan.eps_root) + plan.eps)
                    new_first.append(m)
                    new_second.append(v)
                elif momentum:
                    trace = g + plan.momentum * first_moment[i]
                    update = g + plan.momentum * trace if plan.nesterov else trace
                    new_first.append(trace)
                    new_second.append(second_moment[i])
                else:
                    update = g
                    new_first.append(first_moment[i])
                    new_second.append(second_moment[i])
                moved = p + (-plan.lr) * update
                new_params.append(moved)
                new_finite = _finite(moved) if new_finite is None else new_finite & _finite(moved)
            diverged = ~finite | ~new_finite
            move = running & ~converged & ~diverged
            keep = lambda new, old: tuple(jnp.where(move, a, b) for a, b in zip(new, old, strict=True))  # noqa: E731
            status = jnp.where(running & diverged, int(Status.DIVERGED), status)
            status = jnp.where(running & ~diverged & converged, int(Status.CONVERGED), status)
            return (
                keep(new_params, params),
                keep(new_first, first_moment),
                keep(new_second, second_moment),
                status,
                updates + move.astype(jnp.int32),
            )

        carry = (
            params0,
            (zeros,) * n_params,
            (zeros,) * n_params,
            jnp.full((LANES,), int(Status.MAX_STEPS), jnp.int32),
            jnp.zeros((LANES,), jnp.int32),
        )

        # Steps while any network of the block still runs (a block whose networks have all
        # converged or diverged stops early, as the C++ kernel does).
        def running(state: tuple) -> jax.Array:
            t, carry = state
            return (t < plan.steps) & (jnp.max((carry[3] == int(Status.MAX_STEPS)).astype(jnp.int32)) > 0)

        def advance(state: tuple) -> tuple:
            t, carry = state
            return t + 1, step(t, carry)

        stopped_at, (params, _, _, status, updates) = jax.lax.while_loop(running, advance, (jnp.int32(0), carry))
        final_loss, _, grad_norm = loss_and_grad(params, x_refs, y_ref)

        # Recorded steps after an early stop: every network sits at its final parameters, so
        # the loss before each of those steps is the final loss (what train_one records there).
        def fill(t: jax.Array, _: None) -> None:
            slot = slot_ref[t]

            @pl.when(slot >= 0)
            def _record() -> None:
                trajectory_ref[slot, :] = final_loss

        jax.lax.fori_loop(stopped_at, plan.steps, fill, None)
        status = jnp.where(_finite(final_loss) | (status == int(Status.DIVERGED)), status, int(Status.DIVERGED))
        for ref, value in zip(params_out, params, strict=True):
            ref[...] = value
        loss_ref[...] = final_loss
        grad_norm_ref[...] = grad_norm
        status_ref[...] = status
        steps_ref[...] = updates

    return kernel


def train_packed(
    packed: jax.Array, x: jax.Array, y: jax.Array, plan: FastPlan, interpret: bool | None = None
) -> tuple[jax.Array, ...]:
    """The kernel call: packed params ``(n, P)`` -> (params, final_loss, grad_norm, status, steps, trajectory).

    Same contract as :func:`landscape.fast_mlp.train_packed`. ``interpret`` (default:
    :data:`INTERPRET`, or True when the default backend is not a GPU) runs the kernel in Pallas
    interpret mode.
    """
    if interpret is None:
        interpret = INTERPRET or jax.default_backend() != "gpu"
    f32 = jnp.float32
    n, n_params = packed.shape
    n_points = x.shape[0]
    n_padded = -(-n // LANES) * LANES
    points_padded = -(-n_points // POINT_TILE) * POINT_TILE
    record = plan.record_steps or (plan.steps - 1,)
    record_padded = _next_power_of_two(len(record))

    columns = jnp.asarray(packed, f32)
    columns = jnp.concatenate([columns, jnp.broadcast_to(columns[-1:], (n_padded - n, n_params))]).T  # (P, n_padded)
    x = jnp.asarray(x, f32).reshape(n_points, plan.in_dim)
    y = jnp.asarray(y, f32).reshape(n_points)
    extra = points_padded - n_points  # ragged last tile: repeat the last point (masked out in the kernel)
    x = jnp.concatenate([x, jnp.broadcast_to(x[-1:], (extra, plan.in_dim))])
    y = jnp.concatenate([y, jnp.broadcast_to(y[-1:], (extra,))])
    slots = np.full(plan.steps, -1, np.int32)  # step -> row of the trajectory it is recorded in, or -1
    slots[np.asarray(record, np.int64)] = np.arange(len(record), dtype=np.int32)

    lanes = pl.BlockSpec((LANES,), lambda i: (i,))
    whole = lambda size: pl.BlockSpec((size,), lambda i: (0,))  # noqa: E731
    in_specs = [lanes] * n_params + [whole(points_padded)] * (plan.in_dim + 1) + [whole(plan.steps)]
    out_specs = [lanes] * (n_params + 4) + [pl.BlockSpec((record_padded, LANES), lambda i: (0, i))]
    vector = lambda dtype: jax.ShapeDtypeStruct((n_padded,), dtype)  # noqa: E731
    out_shape = (
        [vector(f32)] * (n_params + 2)
        + [vector(jnp.int32)] * 2
        + [jax.ShapeDtypeStruct((record_padded, n_padded), f32)]
    )
    compiler_params = None
    if not interpret:
        from jax.experimental.pallas import triton as pallas_triton

        compiler_params = pallas_triton.CompilerParams(num_warps=4, num_stages=1)
    outputs = pl.pallas_call(
        _make_kernel(plan, n_points, points_padded),
        out_shape=out_shape,
        grid=(n_padded // LANES,),
        in_specs=in_specs,
        out_specs=out_specs,
        interpret=interpret,
        compiler_params=compiler_params,
        name="landscape_mlp_train",
    )(*columns, *x.T, y, jnp.asarray(slots))
    params_out = jnp.stack(outputs[:n_params], axis=1)[:n]
    final_loss, grad_norm, status, steps, trajectory = outputs[n_params:]
    return (
        params_out,
        final_loss[:n],
        grad_norm[:n],
        status[:n].astype(jnp.int8),
        steps[:n],
        trajectory[: len(record), :n].T,
    )


def make_gpu_batch_trainer(
    plan: FastPlan, interpret: bool | None = None
) -> Callable[[Any, jax.Array, jax.Array, jax.Array], TrainResult]:
    """Drop-in for :func:`landscape.training.make_batch_trainer`: ``(params, keys, x, y) -> TrainResult``.

    ``keys`` are accepted for the same signature and unused (full batch, no dropout). One
    jitted trainer per (plan, interpret), so studies that share a plan share compilations.
    """
    if plan.hidden > MAX_HIDDEN or plan.n_params > MAX_PARAMS:
        raise ValueError(
            f"the GPU kernel takes H <= {MAX_HIDDEN} and <= {MAX_PARAMS} parameters per network"
            f" (got H={plan.hidden}, {plan.n_params} parameters)"
        )
    if interpret is None:
        interpret = INTERPRET or jax.default_backend() != "gpu"
    return _cached_trainer(plan, bool(interpret))


@functools.cache
def _cached_trainer(plan: FastPlan, interpret: bool) -> Callable[[Any, jax.Array, jax.Array, jax.Array], TrainResult]:
    @jax.jit
    def trainer(params: Any, keys: jax.Array, x: jax.Array, y: jax.Array) -> TrainResult:
        del keys
        packed, loss, grad_norm, status, steps, trajectory = train_packed(
            pack_params(params, plan), x, y, plan, interpret
        )
        return TrainResult(unpack_params(packed, plan), loss, grad_norm, status, steps, trajectory)

    return trainer


def gpu_batch_trainer_for(
    study: Any,
    in_dim: int,
    out_dim: int,
    record_steps: tuple[int, ...],
    custom_model: bool = False,
    custom_loss: bool = False,
    interpret: bool | None = None,
) -> Callable[..., TrainResult] | None:
    """The Pallas trainer for ``study`` when :func:`~landscape.fast_mlp.unsupported_reason` accepts it for a GPU, else None."""
    if unsupported_reason(study, out_dim, custom_model, custom_loss, backend="gpu", in_dim=in_dim) is not None:
        return None
    return make_gpu_batch_trainer(make_plan(study, in_dim, record_steps), interpret)


__all__ = [
    "INTERPRET",
    "LANES",
    "MAX_HIDDEN",
    "MAX_PARAMS",
    "POINT_TILE",
    "gpu_batch_trainer_for",
    "make_gpu_batch_trainer",
    "train_packed",
]
