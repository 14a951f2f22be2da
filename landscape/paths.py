"""Paths between minima: straight lines before and after alignment, trained Bezier curves, barriers.

* :func:`pair_profiles`: the loss along the straight line between two networks, raw and after
  aligning the second onto the first (:func:`landscape.alignment.align`), with barriers.
* :func:`barrier_matrix`: those barriers for every pair of a list of networks (representatives
  of solution types or clusters).
* :func:`train_bezier` / :func:`train_bezier_batch`: a quadratic Bezier curve between two
  minima whose control point is trained to minimise the expected loss along the curve
  (Garipov et al. 2018); written for one pair, vmapped over pairs.

A *barrier* is the highest loss on a path minus the higher of its two endpoint losses
(:func:`landscape.slices.barrier`), measured on a fixed grid of ``t`` values in [0, 1].
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .alignment import align, cast_like
from .slices import Objective, Params, as_jax, barrier, line_losses, tree_add, tree_scale

DEFAULT_PATH_POINTS = 101


def path_t(n_points: int = DEFAULT_PATH_POINTS) -> np.ndarray:
    """``(n_points,)`` evenly spaced ``t`` in [0, 1], endpoints included."""
    return np.linspace(0.0, 1.0, n_points)


# ---------------------------------------------------------------------------------------------
# Straight lines and the barrier matrix.


class PairProfiles(NamedTuple):
    """Straight-line profiles between networks ``a`` and ``b``.

    ``linear``/``aligned``: ``(n_t,)`` losses from ``a`` (t=0) to ``b`` (t=1), the latter with
    ``b`` moved onto ``a``'s symmetry copy. ``aligned_end`` is that copy (``b``'s function).
    """

    linear: np.ndarray
    aligned: np.ndarray
    barrier_linear: float
    barrier_aligned: float
    aligned_end: Params
    distance_before: float
    distance_after: float


def pair_profiles(
    objective: Objective, x: jax.Array, y: jax.Array, a: Params, b: Params, activation: str, t: np.ndarray | None = None
) -> PairProfiles:
    """Loss along the segment ``a -> b`` before and after aligning ``b`` onto ``a``."""
    t = path_t() if t is None else t
    a_jax = as_jax(a)
    aligned_b, info = align(a, b, activation)
    aligned_b = as_jax(cast_like(aligned_b, a))
    linear = np.asarray(line_losses(objective, x, y, a_jax, as_jax(b), t))
    aligned = np.asarray(line_losses(objective, x, y, a_jax, aligned_b, t))
    return PairProfiles(
        linear, aligned, barrier(linear), barrier(aligned), aligned_b, info.distance_before, info.distance_after
    )


def barrier_matrix(
    objective: Objective,
    x: jax.Array,
    y: jax.Array,
    networks: list[Params],
    activation: str,
    t: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Straight-line barriers between every pair of ``networks`` (each ONE network's params).

    The line between ``i < j`` aligns ``j`` onto ``i``; the matrices are filled symmetrically
    with zeros on the diagonal.

    Returns:
      ``barrier_linear``, ``barrier_aligned``: ``(k, k)``; ``profile_linear``,
      ``profile_aligned``: ``(k, k, n_t)`` (row ``i``, column ``j`` runs from ``i`` to ``j``);
      ``distance_linear``, ``distance_aligned``: ``(k, k)`` parameter distances;
      ``barrier_straight``: ``(k, k)`` the lower of the two straight-line barriers and
      ``straight_is_aligned``: ``(k, k)`` bool, which one it is (alignment can raise a barrier:
      report the lower one and say which); and ``aligned_ends``: dict ``(i, j) -> network j
      aligned onto i``.
    """
    t = path_t() if t is None else t
    k = len(networks)
    out = {
        name: np.zeros((k, k)) for name in ("barrier_linear", "barrier_aligned", "distance_linear", "distance_aligned")
    }
    out["profile_linear"] = np.zeros((k, k, len(t)))
    out["profile_aligned"] = np.zeros((k, k, len(t)))
    ends: dict[tuple[int, int], Params] = {}
    for i in range(k):
        own = np.asarray(line_losses(objective, x, y, as_jax(networks[i]), as_jax(networks[i]), t))
        out["profile_linear"][i, i] = out["profile_aligned"][i, i] = own
        for j in range(i + 1, k):
            pair = pair_profiles(objective, x, y, networks[i], networks[j], activation, t)
            for name, value in (
                ("barrier_linear", pair.barrier_linear),
                ("barrier_aligned", pair.barrier_aligned),
                ("distance_linear", pair.distance_before),
                ("distance_aligned", pair.distance_after),
            ):
                out[name][i, j] = out[name][j, i] = value
            out["profile_linear"][i, j], out["profile_linear"][j, i] = pair.linear, pair.linear[::-1]
            out["profile_aligned"][i, j], out["profile_aligned"][j, i] = pair.aligned, pair.aligned[::-1]
            ends[(i, j)] = pair.aligned_end
    out["barrier_straight"], out["straight_is_aligned"] = lower_straight_barrier(
        out["barrier_linear"], out["barrier_aligned"]
    )
    out["aligned_ends"] = ends
    return out


def lower_straight_barrier(barrier_linear: np.ndarray, barrier_aligned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(barrier, is_aligned)``: elementwise the lower of the unaligned and aligned straight-line
    barriers, and whether it is the aligned one (ties count as aligned)."""
    barrier_linear, barrier_aligned = np.asarray(barrier_linear), np.asarray(barrier_aligned)
    is_aligned = barrier_aligned <= barrier_linear
    return np.where(is_aligned, barrier_aligned, barrier_linear), is_aligned


# ---------------------------------------------------------------------------------------------
# Quadratic Bezier curves (Garipov et al. 2018).


def bezier_point(start: Params, control: Params, end: Params, t: jax.Array) -> Params:
    """``(1 - t)^2 start + 2 t (1 - t) control + t^2 end`` for a scalar ``t``."""
    return jax.tree_util.tree_map(
        lambda a, c, b: (1 - t) ** 2 * a + 2 * t * (1 - t) * c + t**2 * b, start, control, end
    )


def bezier_losses(
    objective: Objective, x: jax.Array, y: jax.Array, start: Params, control: Params, end: Params, t: jax.Array
) -> jax.Array:
    """``(n_t,)`` loss along the curve at the given ``t`` (vmapped)."""
    return jax.vmap(lambda s: objective(bezier_point(start, control, end, s), x, y))(t)


class BezierResult(NamedTuple):
    """A trained curve between two fixed endpoints.

    Attributes:
      control: the control point kept (pytree like one network's params). While no trained
        control point had a lower barrier than the straight line it is the midpoint
        ``(start + end) / 2``, for which the curve IS the straight line.
      profile: ``(n_t,)`` loss along the kept curve at the evaluation ``t``.
      linear_profile: ``(n_t,)`` loss along the straight line at the same ``t``.
      train_loss: ``(steps,)`` the sampled expected loss at each Adam step.
      best_step: step whose control point was kept (-1: the straight line was never beaten).
    """

    control: Params
    profile: jax.Array
    linear_profile: jax.Array
    train_loss: jax.Array
    best_step: jax.Array


def _train_bezier(
    objective: Objective,
    x: jax.Array,
    y: jax.Array,
    start: Params,
    end: Params,
    key: jax.Array,
    steps: int = 500,
    samples: int = 16,
    learning_rate: float = 1e-2,
    n_eval: int = DEFAULT_PATH_POINTS,
) -> BezierResult:
    """Train the control point of a quadratic Bezier curve from ``start`` to ``end``.

    The control point starts at the midpoint (the curve is then the straight line) and follows
    optax Adam on the Monte Carlo estimate of the expected loss along the curve,
    ``E_{t ~ U[0, 1]} L(curve(t))`` with ``samples`` fresh ``t`` per step. After every step the
    curve's barrier on the fixed grid of ``n_eval`` ``t`` values is measured and the best
    control point so far is kept, with the straight line itself as the first incumbent; so the
    returned curve's barrier is never above the straight line's on that grid (exactly: the
    reported profile is the one the choice was made on).

    Args:
      objective: ``(params, x, y) -> scalar`` (static; reuse the object to reuse the compile).
      start, end: pytrees of ONE network each (fixed endpoints, usually two minima, the second
        aligned onto the first).
      key: PRNG key for the ``t`` samples.

    References:
      Garipov, Izmailov, Podoprikhin, Vetrov & Wilson (2018), Loss surfaces, mode connectivity,
      and fast ensembling of DNNs. (They sample one t per minibatch; here ``samples`` per step
      on the full data.)
    """
    dtype = jax.tree_util.tree_leaves(start)[0].dtype
    t_eval = jnp.linspace(0.0, 1.0, n_eval, dtype=dtype)
    midpoint = tree_scale(tree_add(start, end), 0.5)
    linear_profile = line_losses(objective, x, y, start, end, t_eval)
    optimizer = optax.adam(learning_rate)

    def expected_loss(control: Params, t: jax.Array) -> jax.Array:
        return jnp.mean(bezier_losses(objective, x, y, start, control, end, t))

    def path_barrier(profile: jax.Array) -> jax.Array:
        return jnp.max(profile) - jnp.maximum(profile[0], profile[-1])

    def step(carry: tuple, inputs: tuple) -> tuple[tuple, jax.Array]:
        control, opt_state, best_control, best_profile, best_step = carry
        step_key, index = inputs
        t = jax.random.uniform(step_key, (samples,), dtype)
        loss, grads = jax.value_and_grad(expected_loss)(control, t)
        updates, opt_state = optimizer.update(grads, opt_state, control)
        control = optax.apply_updates(control, updates)
        profile = bezier_losses(objective, x, y, start, control, end, t_eval)
        # the kept curve is judged by exactly the numbers it is reported with
        better = jnp.all(jnp.isfinite(profile)) & (path_barrier(profile) < path_barrier(best_profile))
        keep = lambda new, old: jnp.where(better, new, old)  # noqa: E731
        best_control = jax.tree_util.tree_map(keep, control, best_control)
        return (control, opt_state, best_control, keep(profile, best_profile), keep(index, best_step)), loss

    carry = (midpoint, optimizer.init(midpoint), midpoint, linear_profile, jnp.int32(-1))
    (_, _, best_control, profile, best_step), train_loss = jax.lax.scan(
        step, carry, (jax.random.split(key, steps), jnp.arange(steps, dtype=jnp.int32))
    )
    return BezierResult(best_control, profile, linear_profile, train_loss, best_step)


train_bezier = functools.partial(jax.jit, static_argnames=("objective", "steps", "samples", "n_eval"))(_train_bezier)
train_bezier.__doc__ = _train_bezier.__doc__


@functools.partial(jax.jit, static_argnames=("objective", "steps", "samples", "n_eval"))
def train_bezier_batch(
    objective: Objective,
    x: jax.Array,
    y: jax.Array,
    starts: Params,
    ends: Params,
    keys: jax.Array,
    steps: int = 500,
    samples: int = 16,
    learning_rate: float = 1e-2,
    n_eval: int = DEFAULT_PATH_POINTS,
) -> BezierResult:
    """:func:`train_bezier` for a batch of pairs (leading axis on every leaf of ``starts``,
    ``ends`` and ``keys``), as one jitted, vmapped program."""

    def one(start: Params, end: Params, key: jax.Array) -> BezierResult:
        return _train_bezier(objective, x, y, start, end, key, steps, samples, learning_rate, n_eval)

    return jax.vmap(one)(starts, ends, keys)


def bezier_barrier(result: BezierResult) -> float:
    """Barrier of a trained curve on its evaluation grid."""
    return barrier(np.asarray(result.profile))
